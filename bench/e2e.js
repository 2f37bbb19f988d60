#!/usr/bin/env node
// memread end-to-end benchmark (`npm run bench:e2e`; also part of `npm run bench`). DESIGN §7.
//
// Benchmarks the shipped trained banks, one per form: banks/en-brown.safetensors (context hidden +
// position learned) and banks/en-brown-seed.safetensors (the literal form, context input +
// position none), each checked with `memread inspect` first; the TF.js twin reads the same file.
// Runs bench/e2e-suite.js in Node and in Chromium (the page web/e2e.html, Debian's
// /usr/bin/chromium driven by playwright-core, the banks fetched from the dev server's /banks/):
// next-token latency after one more token (incremental) and of a full re-read, memread vs the same
// model written with TF.js ops (bench/peers/tfjs-twin.js, cross-checked token by token), at
// contexts 64, 256, 1024 (those within the banks' window; one token past the window too);
// tokens per second of generate; time to first prediction; and the sizes of the wasm and of the
// package JS (raw and gzip). Prints a table per environment and the targets, writes
// bench/results/e2e.json.
//
// Options:
//   --quick              short run (for development; figures are rough)
//   --seconds S          sampling budget per context and environment (default 1.5)
//   --contexts 64,256    restrict the contexts
//   --forms hidden-learned,input-none
//   --no-node  --no-chromium  --no-twin
//   --out FILE           JSON output (default bench/results/e2e.json)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import { CONTEXTS, FORMS, TARGETS, CROSS_CHECK_TOLERANCE, runE2E, formatTable, fmt } from './e2e-suite.js';
import { prepareTfjs } from './suite.js';
import { createTfjsTwin } from './peers/tfjs-twin.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build', 'native', 'memread');
const BANK_DIR = path.join(ROOT, 'banks');
const log = (s) => process.stdout.write(s + '\n');

function usage(msg) {
  if (msg) console.error(`bench:e2e: ${msg}`);
  console.error('usage: node bench/e2e.js [--quick] [--seconds S] [--contexts 64,256,1024] [--forms hidden-learned,input-none]\n' +
    '                         [--no-node] [--no-chromium] [--no-twin] [--out FILE]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { quick: false, node: true, chromium: true, twin: true, out: path.join(ROOT, 'bench', 'results', 'e2e.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const val = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]) ?? usage(`${key} needs a value`);
    switch (key) {
      case '--quick': o.quick = true; break;
      case '--seconds': {
        o.seconds = Number(val());
        if (!(o.seconds > 0 && o.seconds <= 600)) usage('--seconds must be in (0, 600]');
        break;
      }
      case '--contexts': {
        o.contexts = val().split(',').map(Number);
        if (!o.contexts.every((n) => Number.isInteger(n) && n >= 2)) usage('--contexts: whole numbers from 2');
        break;
      }
      case '--forms': {
        o.forms = val().split(',');
        for (const f of o.forms) if (!FORMS.some((x) => x.id === f)) usage(`--forms: unknown form ${f} (${FORMS.map((x) => x.id).join(', ')})`);
        break;
      }
      case '--no-node': o.node = false; break;
      case '--no-chromium': o.chromium = false; break;
      case '--no-twin': o.twin = false; break;
      case '--out': o.out = path.resolve(val()); break;
      case '-h': case '--help': usage();
      default: usage(`unknown option ${a}`);
    }
  }
  return o;
}

/**
 * The shipped bank of each form (banks/, made by `bash scripts/train-banks`), checked by the native
 * CLI (`memread inspect`): a valid bank of the form it stands for.
 * @returns {{form, file, bytes: Uint8Array, config, training: object|null}[]}
 */
function makeBanks(forms) {
  if (!fs.existsSync(CLI)) throw new Error(`${path.relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  return forms.map((form) => {
    const file = path.join(BANK_DIR, form.bank);
    const rel = path.relative(ROOT, file);
    if (!fs.existsSync(file)) throw new Error(`${rel} is missing: \`bash scripts/train-banks\` makes it`);
    const r = spawnSync(CLI, ['inspect', '--bank', file, '--json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`memread inspect --bank ${rel} failed: ${r.stderr || r.error?.message}`);
    const inspected = JSON.parse(r.stdout);
    const { config } = inspected;
    if (config.context !== form.context || config.position !== form.position) {
      throw new Error(`${rel} has context ${config.context}, position ${config.position}; the form ${form.id} needs ` +
        `context ${form.context}, position ${form.position}`);
    }
    let training = null;
    try {
      training = inspected.training ? JSON.parse(inspected.training) : null;
    } catch { /* not JSON: recorded as it is */
      training = inspected.training;
    }
    return { form, file, bytes: new Uint8Array(fs.readFileSync(file)), config, training };
  });
}

/**
 * The contexts to measure: those asked for (default CONTEXTS) within the largest window of the
 * banks; when none is, the window itself. A bank whose window is smaller skips the contexts past
 * it (bench/e2e-suite.js), and each bank adds the row one token past its window when the contexts
 * reach it.
 */
function chooseContexts(asked, banks) {
  const T = Math.max(...banks.map((b) => b.config.max_context));
  const fit = (asked ?? CONTEXTS).filter((n) => n <= T);
  const skipped = (asked ?? CONTEXTS).filter((n) => n > T);
  if (skipped.length) {
    log(`bench:e2e: context${skipped.length > 1 ? 's' : ''} ${skipped.join(', ')} past the banks' window of ${T} tokens: not measured` +
      (fit.includes(T) ? ` (the ${T + 1}* row reads past the window)` : ''));
  }
  return fit.length ? fit : [T];
}

/** What the JSON says of the banks: sizes (those of the first bank), files, bytes, training figures. */
function describeBanks(banks) {
  const c = banks[0].config;
  const byForm = (f) => Object.fromEntries(banks.map((b) => [b.form.id, f(b)]));
  const figures = (t) => (t && typeof t === 'object'
    ? { steps: t.steps, validation_bits_per_byte: t.validation_bits_per_byte, test_bits_per_byte: t.test_bits_per_byte }
    : t);
  return {
    dim: c.dim, layers: c.layers, slots: c.slots, merges: c.vocab_size - 256, maxContext: c.max_context,
    weights: 'trained (bash scripts/train-banks): the shipped banks',
    forms: banks.map((b) => b.form.id),
    bytes: byForm((b) => b.bytes.length),
    files: byForm((b) => path.relative(ROOT, b.file)),
    configs: byForm((b) => b.config),
    training: byForm((b) => figures(b.training)),
  };
}

// ---------------------------------------------------------------------------------------------
// Sizes: the wasm, the glue and the JS a page loads (the static import graph of the browser entry)

function gz(buf) {
  return zlib.gzipSync(buf, { level: 9 }).length;
}

function importGraph(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(path.resolve(path.dirname(file), m[1]));
    }
  };
  visit(entry);
  return [...seen];
}

function measureSizes() {
  const file = (rel) => {
    const buf = fs.readFileSync(path.join(ROOT, rel));
    return { file: rel, bytes: buf.length, gzip: gz(buf) };
  };
  const graph = importGraph(path.join(ROOT, 'src', 'js', 'index.js')).map((f) => path.relative(ROOT, f));
  const jsFiles = graph.map(file);
  const concat = Buffer.concat(graph.map((f) => fs.readFileSync(path.join(ROOT, f))));
  return {
    wasm: file('dist/memread-core.wasm'),
    glue: file('dist/memread-core.mjs'),
    browser_js: {
      entry: 'src/js/index.js',
      files: jsFiles,
      bytes: concat.length,
      gzip_each_sum: jsFiles.reduce((s, f) => s + f.gzip, 0),
      gzip_concatenated: gz(concat),
      note: 'the static import graph of the browser entry (src/js/index.js), the Embind glue included; unminified',
    },
  };
}

// ---------------------------------------------------------------------------------------------

async function loadTfjsNode() {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const tf = require('@tensorflow/tfjs-core');
  const tfWasm = require('@tensorflow/tfjs-backend-wasm');
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  const info = await prepareTfjs(tf, tfWasm, { wasmPaths: dir + path.sep });
  return { tf, info };
}

async function runNode(o, banks) {
  const mod = await import(pathToFileURL(path.join(ROOT, 'src', 'js', 'node.js')).href);
  let tf = null;
  let tfInfo = null;
  if (o.twin) ({ tf, info: tfInfo } = await loadTfjsNode());
  log(`\n== Node ${process.version}` + (tfInfo ? ` — TF.js ${tfInfo.version} ${tfInfo.binary}, ${tfInfo.threads ?? 1} thread(s)` : ''));
  const res = await runE2E(
    { loadMachine: mod.loadMachine, tf, createTwin: createTfjsTwin, banks, now: () => performance.now(),
      yieldFn: () => new Promise((r) => setImmediate(r)) },
    { quick: o.quick, seconds: o.seconds, contexts: o.contexts, onLog: (s) => log(`  [node] ${s}`) },
  );
  return { info: { environment: 'node', node: process.version, v8: process.versions.v8, tfjs: tfInfo }, ...res };
}

async function runChromium(o, banks) {
  const { launchChromium } = await import('./chromium.js');
  const { startServer } = await import('../scripts/serve.js');
  log('\n== Chromium (/usr/bin/chromium) via playwright-core, page web/e2e.html');
  const srv = await startServer({ port: 0 });
  let browser;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[e2e]')) log(`  [chromium] ${text.slice(5).trim()}`);
      else if (msg.type() === 'error') problems.push(`console error: ${text}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.goto(new URL('web/e2e.html', srv.url).href, { waitUntil: 'load' });
    await page.waitForFunction(() => window.__e2eReady || window.__e2eError, null, { timeout: 30_000 });
    const err = await page.evaluate(() => window.__e2eError || null);
    if (err) throw new Error(`the page could not start: ${err}\n${problems.join('\n')}`);
    // The dev server serves banks/ at /banks/ (the page fetches the bytes itself, no cache).
    const params = { quick: o.quick, seconds: o.seconds ?? null, contexts: o.contexts, twin: o.twin,
      banks: banks.map((b) => ({ form: b.form.id, label: b.form.label, url: `/banks/${path.basename(b.file)}` })) };
    let res;
    try {
      res = await page.evaluate((p) => window.__e2eRun(p), params);
    } catch (e) {
      throw new Error(`${e.message}${problems.length ? '\n' + problems.join('\n') : ''}`);
    }
    res.info.chromium = browser.version();
    if (problems.length) res.info.page_problems = problems;
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'e2e-page.png'), fullPage: true }).catch(() => {});
    await context.close();
    return res;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await srv.close();
  }
}

function evaluateTargets(out) {
  const chromium = out.environments.chromium;
  const status = (ok) => (ok == null ? 'N/A' : ok ? 'PASS' : 'MISS');
  const kb = out.sizes.wasm.gzip / 1024;
  const lines = [];
  for (const t of TARGETS) {
    if (t.id === 'wasm-150k') {
      lines.push({ ...t, measured: `${kb.toFixed(1)} KB gzip (${(out.sizes.wasm.bytes / 1024).toFixed(1)} KB raw)`, status: status(kb <= 150) });
      continue;
    }
    // One line per bank form measured in Chromium.
    for (const f of chromium?.forms ?? [{ form: null, contexts: [] }]) {
      const row = f.contexts.find((r) => r.n === t.n);
      if (t.id === 'keystroke-1ms') {
        const us = row?.keystroke.median;
        lines.push({ ...t, form: f.form, measured: us == null ? null : `${fmt(us)} µs`, status: status(us == null ? null : us <= 1000) });
      } else if (t.id === 'complete-8ms') {
        const us = row?.complete?.median;
        lines.push({ ...t, form: f.form, measured: us == null ? null : `${fmt(us)} µs`, status: status(us == null ? null : us <= 8000) });
      } else if (t.id === 'vs-twin-10x') {
        const x = row?.twin_over_keystroke;
        lines.push({ ...t, form: f.form, measured: x == null ? null : `${fmt(x)}×`, status: status(x == null ? null : x >= 10) });
      }
    }
  }
  return lines;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const forms = o.forms ? FORMS.filter((f) => o.forms.includes(f.id)) : FORMS;
  const load0 = os.loadavg()[0];
  if (load0 > 0.7 * os.cpus().length) log(`bench:e2e: warning: the machine is busy (load ${load0.toFixed(2)}): results will be noisy`);
  const banks = makeBanks(forms);
  o.contexts = chooseContexts(o.contexts, banks);
  const out = {
    benchmark: 'memread end to end: next-token latency, generate, first prediction, sizes',
    date: new Date().toISOString(),
    command: ['node', 'bench/e2e.js', ...process.argv.slice(2)].join(' '),
    bank: describeBanks(banks),
    contexts: o.contexts,
    method: {
      keystroke: 'predict(text) after the machine read the text minus its last token (incremental: one row per layer)',
      reread: 'predict(text) of a text not read before: two texts of n tokens whose first token differs, alternately (every row recomputed)',
      complete: 'complete(text + " mor", {topK: 3}) after complete(text + " mo"): a keystroke inside a word (context read, the search\'s branch rows)',
      twin: 'the same model with TF.js 4.22 ops, wasm backend, 1 thread (bench/peers/tfjs-twin.js): whole window every call, ids from machine.tokenize (timed too); TF.js has no incremental cache',
      generate: 'greedy, after a prompt of n − tokens tokens, so the context ends at n (no window slide); memread: machine.generate (async iterator); twin: a loop of full-window reads + argmax',
      first_prediction: 'loadMachine(bytes) → first predict of a 64-token text; the first in each environment includes init() (compiling the wasm)',
      samples: 'interleaved rounds (each of keystroke, re-read, twin once per round, rotating), median of samples',
      cross_check: `every token's probability, memread predict(text, {topK: vocab}) vs the twin, |Δp| ≤ ${CROSS_CHECK_TOLERANCE}, else the run fails`,
    },
    host: { cpu: os.cpus()[0]?.model?.trim(), logical_cpus: os.cpus().length, node: process.version, platform: `${process.platform} ${process.arch}`, loadavg_start: load0 },
    sizes: measureSizes(),
    environments: {},
  };
  if (o.node) out.environments.node = await runNode(o, banks);
  if (o.chromium) out.environments.chromium = await runChromium(o, banks);

  for (const [name, env] of Object.entries(out.environments)) {
    const title = name === 'node'
      ? `==== Node ${env.info.node}` + (env.info.tfjs ? ` — TF.js twin: ${env.info.tfjs.binary}, 1 thread` : '')
      : `==== Chromium ${env.info.chromium} — crossOriginIsolated=${env.info.crossOriginIsolated}` + (env.info.tfjs ? ` — TF.js twin: ${env.info.tfjs.binary}, 1 thread` : '');
    log('');
    for (const line of formatTable(title, env)) log(line);
  }
  const s = out.sizes;
  log('\n==== Sizes (gzip -9, node:zlib)');
  log(`  ${s.wasm.file.padEnd(40)} ${(s.wasm.bytes / 1024).toFixed(1).padStart(7)} KB raw ${(s.wasm.gzip / 1024).toFixed(1).padStart(7)} KB gzip`);
  log(`  ${s.glue.file.padEnd(40)} ${(s.glue.bytes / 1024).toFixed(1).padStart(7)} KB raw ${(s.glue.gzip / 1024).toFixed(1).padStart(7)} KB gzip`);
  log(`  ${('page JS (' + s.browser_js.files.length + ' files from src/js/index.js)').padEnd(40)} ${(s.browser_js.bytes / 1024).toFixed(1).padStart(7)} KB raw ${(s.browser_js.gzip_concatenated / 1024).toFixed(1).padStart(7)} KB gzip (concatenated; ${(s.browser_js.gzip_each_sum / 1024).toFixed(1)} KB file by file)`);

  out.targets = evaluateTargets(out);
  log('\nTargets:');
  for (const t of out.targets) log(`  ${t.status.padEnd(4)}  ${t.label.padEnd(70)} measured ${t.measured ?? 'n/a'}${t.form ? ` (${t.form})` : ''}`);
  out.total_seconds = (performance.now() - t0) / 1000;
  out.host.loadavg_end = os.loadavg()[0];
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(out, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), o.out) || o.out} (${out.total_seconds.toFixed(0)} s in total)`);
}

main().catch((e) => {
  console.error(`\nbench:e2e: FAILED: ${e.stack || e.message}`);
  process.exit(1);
});
