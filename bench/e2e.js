#!/usr/bin/env node
// memread end-to-end benchmark (`npm run bench:e2e`; also part of `npm run bench`). DESIGN §7.
//
// Benchmarks the banks of both forms: banks/en-brown.safetensors (context hidden + position learned)
// and banks/en-brown-seed.safetensors (the literal form, context input + position none), each
// checked with `memread inspect` first (or a bank of the form given with --bank). Runs
// bench/e2e-suite.js in Node and in Chromium (the page web/e2e.html, Debian's /usr/bin/chromium
// driven by playwright-core, the banks fetched from the dev server's /banks/): at contexts of 64,
// 256, 1,024, 4,096 and 16,384 tokens (past a version-1 bank's window too, marked), the time of a
// keystroke (one more token), of a full re-read, of complete() mid-word, of an edit 100 tokens back,
// greedy generation in tokens/s, and the fair peer's decode step at the same context: a GPT-style
// decoder of the same size in onnxruntime-web (wasm, SIMD, 1 thread) with a key/value cache
// (bench/peers/gpt-onnx/, whose own `setup` this script runs first: python3-torch, onnxruntime-web
// in bench/peers/gpt-onnx/node_modules, the export to build/bench/gpt-onnx/decoder.onnx). Plus the
// first prediction after pasting 4,096 and 65,536 tokens, the time to first prediction, the sizes
// of the wasm and of the package JS (raw and gzip), and the cross-check of every token's
// probability against the TF.js twin (bench/peers/tfjs-twin.js; untimed; texts up to 1,101
// tokens). Prints a table per environment and the targets, writes bench/results/e2e.json.
//
// Options:
//   --quick              short run (for development; figures are rough)
//   --seconds S          sampling budget per context, bank and environment (default 1.5; pastes 2)
//   --contexts 64,256    the contexts (default 64,256,1024,4096,16384; any whole numbers ≥ 2)
//   --pastes 4096,65536  the paste lengths (default 4096,65536; "none" skips them)
//   --forms hidden-learned,input-none
//   --bank FORM=FILE     measure FILE (a bank of that form) instead of the shipped one
//   --no-onnx            skip the ONNX peer (and its set-up)
//   --no-twin            skip the TF.js cross-check
//   --no-node  --no-chromium
//   --out FILE           JSON output (default bench/results/e2e.json)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import {
  CONTEXTS, PASTES, FORMS, TARGETS, CROSS_CHECK_TOLERANCE, CROSS_CHECK_TOLERANCE_INT8, CROSS_CHECK_MAX_TOKENS, EDIT_BACK, runE2E, formatTable, fmt,
} from './e2e-suite.js';
import { prepareTfjs } from './suite.js';
import { createTfjsTwin } from './peers/tfjs-twin.js';
import { GPT, prepareOrt, createGptOnnxPeer } from './peers/gpt-onnx/peer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'build', 'native', 'memread');
const BANK_DIR = path.join(ROOT, 'banks');
const ONNX_DIR = path.join(ROOT, 'bench', 'peers', 'gpt-onnx');
const ORT_DIR = path.join(ONNX_DIR, 'node_modules', 'onnxruntime-web');
const ONNX_MODEL = path.join(ROOT, 'build', 'bench', 'gpt-onnx', 'decoder.onnx');
const log = (s) => process.stdout.write(s + '\n');

function usage(msg) {
  if (msg) console.error(`bench:e2e: ${msg}`);
  console.error('usage: node bench/e2e.js [--quick] [--seconds S] [--contexts 64,256,1024,4096,16384] [--pastes 4096,65536|none]\n' +
    '                         [--forms hidden-learned,input-none] [--bank FORM=FILE] [--no-onnx] [--no-twin]\n' +
    '                         [--no-node] [--no-chromium] [--out FILE]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { quick: false, node: true, chromium: true, twin: true, onnx: true, bankFiles: {},
    out: path.join(ROOT, 'bench', 'results', 'e2e.json') };
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
      case '--pastes': {
        const v = val();
        o.pastes = v === 'none' ? [] : v.split(',').map(Number);
        if (!o.pastes.every((n) => Number.isInteger(n) && n >= 2)) usage('--pastes: whole numbers from 2, or none');
        break;
      }
      case '--bank': {
        const v = val();
        const at = v.indexOf('=');
        const form = v.slice(0, at);
        if (at < 1 || !FORMS.some((x) => x.id === form)) usage(`--bank FORM=FILE, FORM one of ${FORMS.map((x) => x.id).join(', ')}`);
        o.bankFiles[form] = path.resolve(v.slice(at + 1));
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
      case '--no-onnx': o.onnx = false; break;
      case '--out': o.out = path.resolve(val()); break;
      case '-h': case '--help': usage();
      default: usage(`unknown option ${a}`);
    }
  }
  return o;
}

/**
 * The shipped bank of each form (banks/, made by `bash scripts/train-banks`) or the one given with
 * --bank, checked by the native CLI (`memread inspect`): a valid bank of the form it stands for.
 * @returns {{form, file, bytes: Uint8Array, config, training: object|null}[]}
 */
function makeBanks(forms, bankFiles = {}) {
  if (!fs.existsSync(CLI)) throw new Error(`${path.relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  return forms.map((form) => {
    const file = bankFiles[form.id] ?? path.join(BANK_DIR, form.bank);
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

/** What the JSON says of the banks: sizes (those of the first bank), files, bytes, training figures. */
function describeBanks(banks) {
  const c = banks[0].config;
  const byForm = (f) => Object.fromEntries(banks.map((b) => [b.form.id, f(b)]));
  const figures = (t) => (t && typeof t === 'object'
    ? { steps: t.steps, validation_bits_per_byte: t.validation_bits_per_byte, test_bits_per_byte: t.test_bits_per_byte }
    : t);
  return {
    dim: c.dim, layers: c.layers, slots: c.slots, merges: c.vocab_size - 256, maxContext: c.max_context,
    weights: banks.every((b) => path.dirname(b.file) === BANK_DIR)
      ? 'trained (bash scripts/train-banks): the shipped banks'
      : 'given with --bank (see files)',
    forms: banks.map((b) => b.form.id),
    windows: byForm((b) => b.config.window ?? 'version1'),
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

// ---------------------------------------------------------------------------------------------
// The ONNX peer: set-up (bench/peers/gpt-onnx/setup), and onnxruntime-web as its exports map gives it

function setupOnnx() {
  log('bench:e2e: ONNX peer set-up (bench/peers/gpt-onnx/setup)');
  const r = spawnSync('bash', [path.join(ONNX_DIR, 'setup')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`bench/peers/gpt-onnx/setup failed (${r.error?.message ?? `exit ${r.status}`}); --no-onnx skips the peer`);
}

/** The file onnxruntime-web's exports map gives for `subpath` under `conditions` (first match). */
function ortEntry(subpath, conditions) {
  const pkg = JSON.parse(fs.readFileSync(path.join(ORT_DIR, 'package.json'), 'utf8'));
  let target = pkg.exports[subpath];
  while (target && typeof target === 'object') {
    const key = Object.keys(target).find((k) => conditions.includes(k));
    if (!key) throw new Error(`onnxruntime-web's exports map has no ${subpath} for ${conditions.join('/')}`);
    target = target[key];
  }
  return { version: pkg.version, file: target.replace(/^\.\//, '') };
}

function onnxDescription() {
  const st = fs.statSync(ONNX_MODEL);
  return {
    model: path.relative(ROOT, ONNX_MODEL), bytes: st.size, ...GPT,
    made_by: 'bench/peers/gpt-onnx/export.py (torch.onnx.export, opset 14, random weights, seed 1)',
  };
}

async function loadOnnxNode() {
  // Node: the exports map's "node" + "import" entry (dist/ort.node.min.mjs: the wasm backend).
  const entry = ortEntry('.', ['node', 'import']);
  const ort = await import(pathToFileURL(path.join(ORT_DIR, entry.file)).href);
  const info = { ...prepareOrt(ort), entry: `onnxruntime-web/${entry.file}` };
  const peer = await createGptOnnxPeer(ort, new Uint8Array(fs.readFileSync(ONNX_MODEL)));
  info.threads_after_init = ort.env.wasm.numThreads;
  return { peer, info };
}

async function runNode(o, banks) {
  const mod = await import(pathToFileURL(path.join(ROOT, 'src', 'js', 'node.js')).href);
  let tf = null;
  let tfInfo = null;
  if (o.twin) ({ tf, info: tfInfo } = await loadTfjsNode());
  let peer = null;
  let onnxInfo = null;
  if (o.onnx) ({ peer, info: onnxInfo } = await loadOnnxNode());
  log(`\n== Node ${process.version}` + (onnxInfo ? ` — onnxruntime-web ${onnxInfo.version} (${onnxInfo.entry}), ${onnxInfo.threads} thread` : '') +
    (tfInfo ? ` — TF.js ${tfInfo.version} ${tfInfo.binary} (cross-check)` : ''));
  try {
    const res = await runE2E(
      { loadMachine: mod.loadMachine, backendInfo: mod.backendInfo, tf, createTwin: createTfjsTwin, peer, banks, now: () => performance.now(),
        yieldFn: () => new Promise((r) => setImmediate(r)) },
      { quick: o.quick, seconds: o.seconds, contexts: o.contexts, pastes: o.pastes, onLog: (s) => log(`  [node] ${s}`) },
    );
    return { info: { environment: 'node', node: process.version, v8: process.versions.v8, tfjs: tfInfo, onnx: onnxInfo }, ...res };
  } finally {
    if (peer) await peer.dispose();
  }
}

async function runChromium(o, banks) {
  const { launchChromium } = await import('./chromium.js');
  const { startServer } = await import('../scripts/serve.js');
  log('\n== Chromium (/usr/bin/chromium) via playwright-core, page web/e2e.html');
  // bench: true also serves onnxruntime-web's dist/*.mjs, *.wasm and build/bench/gpt-onnx/*.onnx.
  const srv = await startServer({ port: 0, bench: true });
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
      else if (msg.type() === 'warning') problems.push(`console warning: ${text}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    // A bank given with --bank (outside banks/) is handed to the page at /e2e-banks/FORM.safetensors.
    for (const b of banks) {
      if (path.dirname(b.file) === BANK_DIR) continue;
      await page.route(`**/e2e-banks/${b.form.id}.safetensors`, (route) =>
        route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.from(b.bytes) }));
    }
    await page.goto(new URL('web/e2e.html', srv.url).href, { waitUntil: 'load' });
    await page.waitForFunction(() => window.__e2eReady || window.__e2eError, null, { timeout: 30_000 });
    const err = await page.evaluate(() => window.__e2eError || null);
    if (err) throw new Error(`the page could not start: ${err}\n${problems.join('\n')}`);
    // The dev server serves banks/ at /banks/ (the page fetches the bytes itself, no cache).
    let onnx = null;
    if (o.onnx) {
      // A page: the exports map's "./wasm" + "import" entry (the wasm-only build; the default "."
      // build also carries WebGPU, whose glue uses new Function, which the page's CSP forbids).
      const entry = ortEntry('./wasm', ['import', 'default']);
      const dist = `/${path.relative(ROOT, path.join(ORT_DIR, path.dirname(entry.file)))}/`;
      onnx = { module: `/${path.relative(ROOT, path.join(ORT_DIR, entry.file))}`, wasmPaths: dist,
        model: `/${path.relative(ROOT, ONNX_MODEL)}` };
    }
    const params = { quick: o.quick, seconds: o.seconds ?? null, contexts: o.contexts, pastes: o.pastes, twin: o.twin, onnx,
      banks: banks.map((b) => ({ form: b.form.id, label: b.form.label,
        url: path.dirname(b.file) === BANK_DIR ? `/banks/${path.basename(b.file)}` : `/e2e-banks/${b.form.id}.safetensors` })) };
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
  // The worst row of a form over the contexts measured: [value, n] by `pick` (null: none measured).
  const worst = (rows, get, better) => {
    let best = null;
    for (const r of rows) {
      const v = get(r);
      if (v == null || !Number.isFinite(v)) continue;
      if (!best || better(best[0], v)) best = [v, r.n];
    }
    return best;
  };
  for (const t of TARGETS) {
    if (t.id === 'wasm-150k') {
      lines.push({ ...t, measured: `${kb.toFixed(1)} KB gzip (${(out.sizes.wasm.bytes / 1024).toFixed(1)} KB raw)`, status: status(kb <= 150) });
      continue;
    }
    // One line per bank form measured in Chromium.
    for (const f of chromium?.forms ?? [{ form: null, contexts: [] }]) {
      const rows = f.contexts;
      const at = (n) => rows.find((r) => r.n === n);
      const over = `(contexts ${rows.map((r) => r.n).join(', ') || 'none'})`;
      let measured = null;
      let ok = null;
      if (t.id === 'keystroke-1ms') {
        const w = worst(rows, (r) => r.keystroke.median, (a, b) => b > a);
        if (w) { measured = `worst ${fmt(w[0])} µs at ${w[1]} ${over}`; ok = w[0] <= 1000; }
      } else if (t.id === 'generate-1500') {
        const w = worst(rows, (r) => r.generate.ours_tokens_per_s.median, (a, b) => b < a);
        if (w) { measured = `worst ${fmt(w[0])} tokens/s at ${w[1]} ${over}`; ok = w[0] >= 1500; }
      } else if (t.id === 'keystroke-flat') {
        const hi = at(t.n)?.keystroke.median;
        const lo = at(t.base)?.keystroke.median;
        if (hi != null && lo != null) { measured = `${fmt(hi / lo)}× (${fmt(hi)} µs vs ${fmt(lo)} µs)`; ok = hi / lo <= 1.5; }
      } else if (t.id === 'vs-onnx-2x') {
        const w = worst(rows, (r) => r.onnx_over_keystroke, (a, b) => b < a);
        if (w) { measured = `worst ${fmt(w[0])}× at ${w[1]} ${over}`; ok = w[0] >= 2; }
      } else if (t.id === 'complete-8ms') {
        const us = at(t.n)?.complete?.median;
        if (us != null) { measured = `${fmt(us)} µs`; ok = us <= 8000; }
      }
      lines.push({ ...t, form: f.form, measured, status: status(ok) });
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
  const banks = makeBanks(forms, o.bankFiles);
  o.contexts ??= [...CONTEXTS];
  o.pastes ??= [...PASTES];
  for (const b of banks) {
    const T = b.config.max_context;
    const past = o.contexts.filter((n) => n > T);
    if ((b.config.window ?? 'version1') !== 'rolling' && past.length) {
      log(`bench:e2e: ${b.form.id} is a version-1 bank (window ${T}): context${past.length > 1 ? 's' : ''} ${past.join(', ')} ` +
        'measured past its window, marked * (every keystroke there recomputes the window)');
    }
  }
  if (o.onnx) setupOnnx();
  const out = {
    benchmark: 'memread end to end: keystroke, re-read, complete, edit, generate, paste, first prediction, sizes; vs a GPT-style decoder in onnxruntime-web',
    date: new Date().toISOString(),
    command: ['node', 'bench/e2e.js', ...process.argv.slice(2)].join(' '),
    bank: describeBanks(banks),
    contexts: o.contexts,
    pastes: o.pastes,
    onnx_model: o.onnx ? onnxDescription() : null,
    method: {
      keystroke: 'predict(text) after the machine read the text minus its last token (incremental: one row per layer; past a version-1 bank\'s window, the window again)',
      reread: 'predict(text) of a text the machine does not hold: two texts of n tokens that differ in the first token the machine reads (0; n − T past a version-1 bank\'s window) and in the last, alternately (the machine keeps rows of a shared prefix or suffix; this way every row the prediction needs is computed again)',
      complete: 'complete(text + " mor", {topK: 3}) after complete(text + " mo"): a keystroke inside a word (context read, the search\'s branch rows)',
      edit: `alternately predict(text) and predict(text with its token at n − ${EDIT_BACK} replaced; the first token when n ≤ ${EDIT_BACK}): each call recomputes the rows that depend on that token`,
      generate: 'greedy machine.generate (async iterator) of G tokens after a prompt of n − G tokens (the machine read the prompt), tokens per second',
      onnx: 'the peer: one decode step of a GPT-style decoder of the same size (vocab 2048, d 192, 4 layers, 4 heads, MLP 768, random weights) with a key/value cache, onnxruntime-web wasm backend (SIMD, 1 thread): session.run with input_ids [1,1], position_ids [[n]], past_key_values.{l}.key/value [1,4,n,48] (seeded random floats, built once per context, not timed; every run copies them into wasm memory and the present.* out)',
      tokenize: 'machine.tokenize(text) (part of every call that reads a text)',
      paste: 'the machine holds a short text; predict(paste) of n tokens it never read (two pastes whose first token differs, alternately)',
      first_prediction: 'loadMachine(bytes) → first predict of a 64-token text; the first in each environment includes init() (compiling the wasm)',
      samples: 'interleaved rounds (one sample of each per round, rotating which goes first; a sample lasts ≥ 3 ms, each call timed by itself), medians and quartiles; at least 7 rounds below 4,096 tokens and 3 from there and for the pastes (quick: 3)',
      cross_check: `every token's probability, memread predict(text, {topK: vocab}) vs the TF.js twin (untimed), texts up to ${CROSS_CHECK_MAX_TOKENS} tokens, |Δp| ≤ ${CROSS_CHECK_TOLERANCE} (${CROSS_CHECK_TOLERANCE_INT8} for an int8 bank, read by the int8 kernels), else the run fails; greedy generations compared at contexts ≤ 256`,
    },
    host: { cpu: os.cpus()[0]?.model?.trim(), logical_cpus: os.cpus().length, node: process.version, platform: `${process.platform} ${process.arch}`, loadavg_start: load0 },
    sizes: measureSizes(),
    environments: {},
  };
  if (o.node) out.environments.node = await runNode(o, banks);
  if (o.chromium) out.environments.chromium = await runChromium(o, banks);

  for (const [name, env] of Object.entries(out.environments)) {
    const peer = env.info.onnx ? ` — ONNX peer: onnxruntime-web ${env.info.onnx.version}, wasm SIMD, ${env.info.onnx.threads} thread` : '';
    const title = name === 'node'
      ? `==== Node ${env.info.node}${peer}`
      : `==== Chromium ${env.info.chromium} — crossOriginIsolated=${env.info.crossOriginIsolated}${peer}`;
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
  for (const t of out.targets) log(`  ${t.status.padEnd(4)}  ${t.label.padEnd(82)} ${t.form ? `${t.form}: ` : ''}${t.measured ?? 'not measured'}`);
  out.total_seconds = (performance.now() - t0) / 1000;
  out.host.loadavg_end = os.loadavg()[0];
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(out, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), o.out) || o.out} (${out.total_seconds.toFixed(0)} s in total)`);
}

main().catch((e) => {
  if (/unknown key "window"/.test(e.message)) {
    e.message += ' (dist/memread-core.wasm predates the rolling window: `npm run build` rebuilds it)';
  }
  console.error(`\nbench:e2e: FAILED: ${e.stack || e.message}`);
  process.exit(1);
});
