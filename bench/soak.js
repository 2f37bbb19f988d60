// The soak: does memread hold its memory over a long session? In Node, with the real wasm module:
//
//   1. predictions as a person types: mostly one more character, sometimes a backspace or three,
//      sometimes a pasted paragraph, now and then a cleared box; with an occasional generation
//      (run to its end, left early, or aborted) and a check that the incremental answer equals a
//      fresh read of the same text. On two banks: the fixture tests/fixtures/tiny-hidden.safetensors
//      (the "hidden" form, T = 32: the window slides and recomputes) and a bigger random bank made
//      with build/native/memread random-bank (d = 128, 4 layers, 2048 slots, the "input" form);
//   2. load/dispose cycles, alternating the two banks, each with a predict.
//
// Sampled over time: the wasm memory (backendInfo().memoryBytes: it only grows, so it is the
// high-water mark), the JS heap (process.memoryUsage().heapUsed right after a full gc), and the
// Embind objects alive (Machine and Generation handles, counted by wrapping their constructors and
// delete(); emval handles by the glue's count_emval_handles()).
//
// Verdict, per phase and measure: after a warm-up (the first 10 % of the samples), the rest is cut
// in quarters; no growth means  max(last quarter) ≤ max(first quarter) × 1.05 + slack  (slack: the
// wasm memory 0, since it grows in steps of ≥ 20 %; the JS heap 1 MiB), and no Embind object alive
// once a phase ends beyond the machines it still holds.
//
//   node bench/soak.js                 the full soak: 100,000 predictions per bank, 1,000 cycles
//   node bench/soak.js --predictions 5000 --cycles 100 [--json]
// (npm run soak). tests/js/soak.test.js runs a short one with runSoak().
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

import createMemreadCore from '../dist/memread-core.mjs';
import { makeApi } from '../src/js/api.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors');
const CLI = path.join(ROOT, 'build/native/memread');
const MIB = 1024 ** 2;

/** A full garbage collection, with or without --expose-gc. */
function gcFunction() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

/** mulberry32: a small seeded generator, so that a soak is the same every run. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const PARAGRAPHS = [
  'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced no evidence that any irregularities took place.',
  'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.',
  'Il était une fois une petite fille de village, la plus jolie qu\'on eût su voir ; sa mère en était folle, et sa mère-grand plus folle encore.',
  'Der schnelle braune Fuchs springt über den faulen Hund. Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.',
  'Съешь же ещё этих мягких французских булок, да выпей чаю. 春眠不觉晓，处处闻啼鸟。 👩‍👩‍👧 🇫🇷 ✓',
  'for (let i = 0; i < n; i++) { total += values[i] * weights[i]; }  // 3.14159, 2.71828, 1.41421',
];

/**
 * The Node API on a module of our own, with its Machine and Generation constructors wrapped to count the
 * handles alive (Embind only counts instances of classes with bases; ours have none).
 */
async function instrumentedApi() {
  const wasmBinary = fs.readFileSync(path.join(ROOT, 'dist/memread-core.wasm'));
  const core = await createMemreadCore({ wasmBinary });
  const live = { Machine: 0, Generation: 0 };
  const created = { Machine: 0, Generation: 0 };
  for (const name of Object.keys(live)) {
    const Base = core[name];
    core[name] = function Counted(...args) {
      const handle = new Base(...args);
      live[name]++;
      created[name]++;
      const remove = handle.delete;
      handle.delete = function () {
        live[name]--;
        return remove.call(this);
      };
      return handle;
    };
  }
  const api = makeApi(async () => core);
  await api.init();
  return { api, core, live, created };
}

/** The bigger bank: made once by the native CLI, in the system's temporary directory. */
export function biggerBank() {
  const file = path.join(os.tmpdir(), 'memread-soak-d128-l4-s2048-input.safetensors');
  if (!fs.existsSync(file)) {
    const partial = `${file}.${process.pid}.partial`;  // renamed once whole: never a half-written bank
    const result = spawnSync(CLI, ['random-bank', '--out', partial, '--dim', '128', '--layers', '4', '--slots', '2048',
      '--merges', '2000', '--context', 'input', '--max-context', '128', '--seed', '7'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${CLI} random-bank failed: ${result.stderr || result.error}`);
    fs.renameSync(partial, file);
  }
  return file;
}

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

/**
 * No growth after warm-up: the first 10 % of the samples are the warm-up; of the rest, the last
 * quarter's max must be ≤ the first quarter's max × 1.05 + slack.
 */
export function growthVerdict(values, slack) {
  const rest = values.slice(Math.ceil(values.length * 0.1));
  const quarter = Math.max(1, Math.floor(rest.length / 4));
  const first = Math.max(...rest.slice(0, quarter));
  const last = Math.max(...rest.slice(-quarter));
  const limit = first * 1.05 + slack;
  return { first, last, limit, ok: last <= limit };
}

/**
 * Runs the soak; returns its samples, figures and verdicts.
 * @param {{predictions?: number, cycles?: number, samples?: number, seed?: number,
 *          log?: (line: string) => void}} [options] predictions per bank
 */
export async function runSoak({ predictions = 100_000, cycles = 1_000, samples = 40, seed = 1, log = () => {} } = {}) {
  const gc = gcFunction();
  const { api, core, live, created } = await instrumentedApi();
  const rand = random(seed);
  const banks = [
    { name: 'fixture tiny-hidden (d16 L2 N32 hidden T32)', bytes: new Uint8Array(fs.readFileSync(FIXTURE)) },
    { name: 'random d128 L4 N2048 input T128', bytes: new Uint8Array(fs.readFileSync(biggerBank())) },
  ];

  const sample = (phase, step, extra = {}) => {
    gc();
    gc();  // twice: the first may only queue finalisers
    return {
      phase, step,
      wasmBytes: api.backendInfo().memoryBytes,
      jsHeapBytes: process.memoryUsage().heapUsed,
      machines: live.Machine, generationHandles: live.Generation, emvals: core.count_emval_handles(),
      ...extra,
    };
  };

  const report = { predictionsPerBank: predictions, cycles, banks: [], cyclesPhase: null };

  // ---- 1. typing ------------------------------------------------------------------------------
  for (const bank of banks) {
    const machine = await api.loadMachine(bank.bytes);
    const reference = await api.loadMachine(bank.bytes);  // fresh reads, for the checks
    // Warm-up: a machine keeps each token's text once decoded (a cache bounded by the vocabulary:
    // 2.4 MB of text for this random bank's long tokens); decode them all before the first sample,
    // so that filling it is not mistaken for growth.
    for (const m of [machine, reference]) m.predict('warm-up', { topK: m.info.config.vocabSize });
    const every = Math.max(1, Math.floor(predictions / samples));
    // Preallocated, before the first sample: a growing array of 100,000 times would itself be a
    // JS heap growth of ~1 MiB.
    const times = new Float64Array(predictions);
    let timed = 0;
    const series = [sample(bank.name, 0)];
    let text = '';
    let paragraph = 0, offset = 0;
    let checks = 0, generations = 0, maxLength = 0;
    const nextChar = () => {
      const source = PARAGRAPHS[paragraph];
      const char = String.fromCodePoint(source.codePointAt(offset));
      offset += char.length;
      if (offset >= source.length) {
        paragraph = (paragraph + 1) % PARAGRAPHS.length;
        offset = 0;
        return ' ';
      }
      return char;
    };
    const started = performance.now();
    for (let step = 1; step <= predictions; step++) {
      const r = rand();
      if (r < 0.85 || text.length === 0) {
        text += nextChar();                                        // a keystroke
      } else if (r < 0.96) {
        const chars = [...text];                                   // backspace ×1–3, by characters
        text = chars.slice(0, Math.max(0, chars.length - 1 - Math.floor(rand() * 3))).join('');
      } else if (r < 0.99) {
        text += ' ' + PARAGRAPHS[Math.floor(rand() * PARAGRAPHS.length)];  // a paste
      } else if (text.length > 3000) {
        text = '';                                                  // a new message
      } else {
        text = text.slice(0, Math.floor(text.length / 2));          // an edit far back
      }
      maxLength = Math.max(maxLength, text.length);
      if (text === '') continue;
      const t0 = performance.now();
      const top = machine.predict(text, { topK: 5 });
      times[timed++] = performance.now() - t0;
      if (step % 997 === 0) {
        // The incremental answer equals a fresh read (the reference reads another text first).
        reference.predict('\u00a7', { topK: 1 });
        const fresh = reference.predict(text, { topK: 5 });
        if (JSON.stringify(fresh) !== JSON.stringify(top)) {
          throw new Error(`${bank.name}, step ${step}: the incremental predict differs from a fresh one for ${JSON.stringify(text.slice(-80))}`);
        }
        checks++;
      }
      if (step % 499 === 0) machine.complete(text, { topK: 3 });  // branch rows come and go
      if (step % 1499 === 0) {
        // A generation: to its end, left early (break), or aborted: each must delete its Generation.
        const kind = generations % 3;
        const stop = new AbortController();
        let n = 0;
        try {
          for await (const piece of machine.generate(text, { maxTokens: 12, temperature: 0.9, seed: step, signal: stop.signal })) {
            void piece;
            if (++n === 3 && kind === 1) break;
            if (n === 3 && kind === 2) stop.abort();
          }
        } catch (error) {
          if (error.name !== 'AbortError') throw error;
        }
        generations++;
      }
      if (step % every === 0) series.push(sample(bank.name, step, { textLength: text.length }));
    }
    const seconds = (performance.now() - started) / 1000;
    machine.dispose();
    reference.dispose();
    const after = sample(bank.name, predictions, { disposed: true });
    const sorted = times.subarray(0, timed).sort();
    const result = {
      name: bank.name, bytes: bank.bytes.length, seconds, checks, generations, maxLength,
      predictMs: { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) },
      series, after,
      wasm: growthVerdict(series.map((s) => s.wasmBytes), 0),
      js: growthVerdict(series.map((s) => s.jsHeapBytes), MIB),
      objectsLeft: { machines: after.machines, generationHandles: after.generationHandles, emvals: after.emvals },
    };
    result.ok = result.wasm.ok && result.js.ok && after.machines === 0 && after.generationHandles === 0 && after.emvals === 0;
    report.banks.push(result);
    log(`${bank.name}: ${predictions} predictions in ${seconds.toFixed(1)} s (median ${result.predictMs.median.toFixed(3)} ms, p99 ${result.predictMs.p99.toFixed(3)} ms), ${checks} checks against fresh reads, ${generations} generations: ${result.ok ? 'no growth' : 'GROWTH'}`);
  }

  // ---- 2. load/dispose cycles -------------------------------------------------------------------
  {
    const every = Math.max(1, Math.floor(cycles / samples));
    const series = [sample('cycles', 0)];
    const started = performance.now();
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const bank = banks[cycle % 2];
      const machine = await api.loadMachine(bank.bytes);
      machine.predict('The jury said', { topK: 3 });
      machine.dispose();
      if (cycle % every === 0) series.push(sample('cycles', cycle));
    }
    const seconds = (performance.now() - started) / 1000;
    const after = series.at(-1);
    const result = {
      seconds, series,
      wasm: growthVerdict(series.map((s) => s.wasmBytes), 0),
      js: growthVerdict(series.map((s) => s.jsHeapBytes), MIB),
      objectsLeft: { machines: after.machines, generationHandles: after.generationHandles, emvals: after.emvals },
    };
    result.ok = result.wasm.ok && result.js.ok && after.machines === 0 && after.generationHandles === 0 && after.emvals === 0;
    report.cyclesPhase = result;
    log(`load/dispose: ${cycles} cycles in ${seconds.toFixed(1)} s: ${result.ok ? 'no growth' : 'GROWTH'}`);
  }

  report.created = { ...created };  // handles made in all: the counts above did count something
  report.ok = report.banks.every((b) => b.ok) && report.cyclesPhase.ok;
  return report;
}

/** The samples as a Markdown table (every `stride`-th row), and each phase's verdict. */
export function formatReport(report, { rows = 10 } = {}) {
  const lines = [];
  const mb = (bytes) => (bytes / MIB).toFixed(2);
  const table = (series) => {
    const stride = Math.max(1, Math.ceil((series.length - 1) / rows));
    const picked = series.filter((_, i) => i % stride === 0 || i === series.length - 1);
    lines.push('| step | wasm memory (MiB) | JS heap after gc (MiB) | Machine alive | Generation alive | emval handles |');
    lines.push('| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of picked) lines.push(`| ${s.step} | ${mb(s.wasmBytes)} | ${mb(s.jsHeapBytes)} | ${s.machines} | ${s.generationHandles} | ${s.emvals} |`);
  };
  const verdict = (name, v) => `${name}: first quarter max ${mb(v.first)} MiB, last quarter max ${mb(v.last)} MiB, limit ${mb(v.limit)} MiB → ${v.ok ? 'no growth' : 'GROWTH'}`;
  for (const bank of report.banks) {
    lines.push(`### ${bank.name}: ${report.predictionsPerBank} predictions, ${bank.seconds.toFixed(1)} s`);
    lines.push('');
    lines.push(`predict: median ${bank.predictMs.median.toFixed(3)} ms, p99 ${bank.predictMs.p99.toFixed(3)} ms, max ${bank.predictMs.max.toFixed(1)} ms; ${bank.checks} checks against a fresh read; ${bank.generations} generations; longest text ${bank.maxLength} characters`);
    lines.push('');
    table(bank.series);
    lines.push('');
    lines.push(`- ${verdict('wasm memory', bank.wasm)}`);
    lines.push(`- ${verdict('JS heap', bank.js)}`);
    lines.push(`- after dispose: ${bank.after.machines} Machine, ${bank.after.generationHandles} Generation, ${bank.after.emvals} emval handles alive`);
    lines.push('');
  }
  const c = report.cyclesPhase;
  lines.push(`### load/dispose: ${report.cycles} cycles, ${c.seconds.toFixed(1)} s`);
  lines.push('');
  table(c.series);
  lines.push('');
  lines.push(`- ${verdict('wasm memory', c.wasm)}`);
  lines.push(`- ${verdict('JS heap', c.js)}`);
  lines.push(`- after the last cycle: ${c.objectsLeft.machines} Machine, ${c.objectsLeft.generationHandles} Generation, ${c.objectsLeft.emvals} emval handles alive`);
  lines.push('');
  lines.push(`Embind handles created in all: ${report.created.Machine} Machine, ${report.created.Generation} Generation; alive at the end: as above.`);
  lines.push('');
  lines.push(`**Verdict: ${report.ok ? 'no growth after warm-up, no Embind object left' : 'GROWTH or objects left: see above'}**`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const report = await runSoak({
    predictions: option('predictions', 100_000),
    cycles: option('cycles', 1_000),
    samples: option('samples', 40),
    log: (line) => console.error(line),
  });
  if (args.includes('--json')) console.log(JSON.stringify(report, null, 1));
  else console.log(formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}
