#!/usr/bin/env node
// memread kernel benchmark (`npm run bench`).
//
// Runs the suite of bench/suite.js in Node, then the native build of the kernels
// (build/native/memread-bench-kernels), then the same suite in Chromium (the page web/index.html
// driven by playwright-core), prints a table per environment and writes bench/results/kernels.json.
//
// Options:
//   --quick            shorter run (less time per configuration, fewer rounds)
//   --seconds S        sampling time budget per configuration and environment (default 2, quick 0.5)
//   --d 64,128  --n 256,1024,4096  --b 1,64    restrict the grid
//   --impls membank,scalar,...                restrict the implementations
//   --no-node  --no-chromium  --no-native      skip an environment
//   --out FILE         JSON output (default bench/results/kernels.json)
//   --screenshot FILE  save a screenshot of the page after the Chromium run
//   --allow-threads    let TF.js use its threaded binary if it can (default: forced to 1 thread)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  GRID, IMPLS, RATIO_VS, TARGETS, FLOPS_PER_ROW, runSuite, prepareTfjs, computeRatios, evaluateTargets,
  fmtUs, fmtNum,
} from './suite.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE_BIN = path.join(ROOT, 'build', 'native', 'memread-bench-kernels');
const CORE_WASM = path.join(ROOT, 'dist', 'memread-core.wasm');
const NODE_ENTRY = path.join(ROOT, 'src', 'js', 'node.js');

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    'usage: node bench/run.js [--quick] [--seconds S] [--d 64,128] [--n 256,1024,4096] [--b 1,64]\n' +
      '                         [--impls membank,memread,scalar,plainjs,tfjs,native]\n' +
      '                         [--no-node] [--no-chromium] [--no-native] [--out FILE] [--screenshot FILE]\n' +
      '                         [--allow-threads]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { quick: false, node: true, chromium: true, native: true, allowThreads: false,
    out: path.join(ROOT, 'bench', 'results', 'kernels.json') };
  const list = (v, name, allowed) => {
    if (v == null) usage(`${name} needs a value`);
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!xs.length) usage(`${name} needs a value`);
    if (allowed) {
      for (const x of xs) if (!allowed.includes(x)) usage(`${name}: unknown value ${x} (one of ${allowed.join(', ')})`);
      return xs;
    }
    return xs.map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n <= 0 || n > 1 << 16) usage(`${name}: ${x} is not a positive integer`);
      return n;
    });
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const val = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (key) {
      case '--quick': o.quick = true; break;
      case '--seconds': {
        const s = Number(val());
        if (!(s > 0 && s <= 600)) usage('--seconds must be a number in (0, 600]');
        o.seconds = s;
        break;
      }
      case '--d': o.d = list(val(), '--d'); break;
      case '--n': o.n = list(val(), '--n'); break;
      case '--b': o.b = list(val(), '--b'); break;
      case '--impls': o.impls = list(val(), '--impls', IMPLS.map((x) => x.id)); break;
      case '--no-node': o.node = false; break;
      case '--no-chromium': o.chromium = false; break;
      case '--no-native': o.native = false; break;
      case '--allow-threads': o.allowThreads = true; break;
      case '--out': o.out = path.resolve(val() ?? usage('--out needs a value')); break;
      case '--screenshot': o.screenshot = path.resolve(val() ?? usage('--screenshot needs a value')); break;
      case '-h': case '--help': usage();
      default: usage(`unknown option ${a}`);
    }
  }
  if (o.impls && !o.impls.includes('membank')) console.warn('bench: membank not selected: no ratios will be computed');
  return o;
}

// ---------------------------------------------------------------------------------------------

function log(msg) {
  process.stdout.write(msg + '\n');
}

function progressPrinter(envName) {
  return (ev) => {
    if (ev.type === 'config-done') {
      const r = ev.record;
      const parts = Object.entries(r.results).map(([id, x]) => `${id} ${fmtUs(x.us_per_call)}µs`);
      log(`  [${envName} ${ev.index + 1}/${ev.total}] d=${r.d} N=${r.n} B=${r.b}: ${parts.join(', ')}  (${r.rounds} rounds)`);
    }
  };
}

async function loadTfjsNode(allowThreads) {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const tf = require('@tensorflow/tfjs-core');
  const tfWasm = require('@tensorflow/tfjs-backend-wasm');
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  const info = await prepareTfjs(tf, tfWasm, { wasmPaths: dir + path.sep, allowThreads });
  info.wasmDir = path.relative(ROOT, dir);
  return { tf, info };
}

async function loadCoreNode() {
  if (!fs.existsSync(CORE_WASM) || !fs.existsSync(NODE_ENTRY)) {
    throw new Error(
      `the memread core is not built (${path.relative(ROOT, CORE_WASM)} or ${path.relative(ROOT, NODE_ENTRY)} missing): ` +
        'run `npm run build` (or use --impls to benchmark only plainjs,tfjs)',
    );
  }
  const mod = await import(pathToFileURL(NODE_ENTRY).href);
  await mod.init();
  let backend = null;
  if (typeof mod.backendInfo === 'function') {
    try { backend = mod.backendInfo(); } catch (e) { backend = { error: e.message }; }
  }
  return { mod, backend };
}

function needsCore(impls) {
  return impls.some((id) => ['membank', 'memread', 'scalar'].includes(id));
}

async function runNode(o) {
  const impls = (o.impls ?? IMPLS.map((x) => x.id)).filter((id) => !id.startsWith('native'));
  let mod = null;
  let backend = null;
  if (needsCore(impls)) ({ mod, backend } = await loadCoreNode());
  let tf = null;
  let tfInfo = null;
  if (impls.includes('tfjs')) ({ tf, info: tfInfo } = await loadTfjsNode(o.allowThreads));
  const cpus = os.cpus();
  const info = {
    environment: 'node',
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    logical_cpus: cpus.length,
    loadavg_at_start: os.loadavg(),
    memread_backend: backend,
    tfjs: tfInfo,
  };
  log(`\n== Node ${process.version} — ${info.cpu} (${info.logical_cpus} logical CPUs)`);
  if (backend) log(`   memread backendInfo(): ${JSON.stringify(backend)}`);
  else if (mod) log('   memread backendInfo(): not exported');
  if (tfInfo) log(`   TF.js ${tfInfo.version} wasm: ${tfInfo.binary}, threads=${tfInfo.threads} — ${tfInfo.note}`);
  const suite = await runSuite(
    { mod, tf, now: () => performance.now() },
    { quick: o.quick, seconds: o.seconds, d: o.d, n: o.n, b: o.b, impls, onProgress: progressPrinter('node'),
      yieldFn: () => new Promise((r) => setImmediate(r)) },
  );
  return { info, ...suite };
}

function runNative(o) {
  if (!fs.existsSync(NATIVE_BIN)) {
    const msg = `native benchmark skipped: ${path.relative(ROOT, NATIVE_BIN)} not found (build it with \`npm run build\`)`;
    log(`\n== native: ${msg}`);
    return { skipped: msg };
  }
  const seconds = o.seconds ?? (o.quick ? 0.5 : 2);
  const args = ['--json', '--seconds', String(seconds)];
  log(`\n== native: ${path.relative(ROOT, NATIVE_BIN)} ${args.join(' ')}`);
  const t0 = performance.now();
  const r = spawnSync(NATIVE_BIN, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 15 * 60 * 1000 });
  if (r.error) throw new Error(`native benchmark failed to run: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`native benchmark exited with ${r.status ?? r.signal}:\n${(r.stderr || '').trim()}`);
  }
  let parsed;
  try {
    parsed = JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`native benchmark printed no valid JSON (${e.message}):\n${r.stdout.slice(0, 500)}`);
  }
  if (!parsed || !Array.isArray(parsed.results)) throw new Error('native benchmark JSON has no "results" array');
  for (const row of parsed.results) {
    for (const k of ['d', 'n', 'b', 'us_per_call']) {
      if (typeof row[k] !== 'number') throw new Error(`native benchmark row lacks numeric "${k}": ${JSON.stringify(row)}`);
    }
  }
  log(`   ${parsed.results.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { ...parsed, seconds_arg: seconds, stderr: (r.stderr || '').trim() || undefined };
}

/** Put the native rows into the Node configs (as implementation "native") and recompute ratios. */
function mergeNative(nodeEnv, native) {
  if (!nodeEnv || !native?.results) return;
  // Rows may carry a "variant": the SIMD kernel ('wasmsimd', via SIMDe) is "native", on int8 rows
  // (dtype 'i8') "native-i8"; the scalar reference ('scalar') is kept in the JSON as
  // "native_scalar" (not a table column).
  const entry = (c, row) => ({
    us_per_call: row.us_per_call,
    gflops: row.gflops ?? FLOPS_PER_ROW(c.n, c.d) * c.b / (row.us_per_call * 1e3),
    samples: row.samples ?? null,
    variant: row.variant ?? null,
    source: 'build/native/memread-bench-kernels',
  });
  for (const c of nodeEnv.configs) {
    const same = native.results.filter((r) => r.d === c.d && r.n === c.n && r.b === c.b);
    const simd = (dtype) => same.find((r) => (r.variant == null || /simd/i.test(r.variant)) && (r.dtype ?? 'f32') === dtype);
    const scalar = same.find((r) => r.variant != null && /scalar/i.test(r.variant) && (r.dtype ?? 'f32') === 'f32');
    if (simd('f32')) c.results.native = entry(c, simd('f32'));
    if (simd('i8')) c.results['native-i8'] = entry(c, simd('i8'));
    if (scalar) c.results.native_scalar = entry(c, scalar);
    c.ratios = computeRatios(c.results);
  }
  nodeEnv.targets = evaluateTargets(nodeEnv.configs);
}

// ---------------------------------------------------------------------------------------------
// Printing

function pad(s, w, left = false) {
  s = String(s);
  return left ? s.padEnd(w) : s.padStart(w);
}

function printEnv(title, env) {
  const present = IMPLS.filter((im) => env.configs.some((c) => c.results[im.id]));
  const W = 17;
  log(`\n${title}`);
  log(`µs per call, median [GFLOP/s]   (flops = 4·N·d per query row)`);
  let head = `${pad('d', 4)} ${pad('N', 5)} ${pad('B', 3)} |`;
  for (const im of present) head += pad(im.short, W);
  log(head);
  log('-'.repeat(head.length));
  for (const c of env.configs) {
    let line = `${pad(c.d, 4)} ${pad(c.n, 5)} ${pad(c.b, 3)} |`;
    for (const im of present) {
      const r = c.results[im.id];
      line += pad(r ? `${fmtUs(r.us_per_call)} [${fmtNum(r.gflops)}]` : '—', W);
    }
    log(line);
  }
  const ratioIds = RATIO_VS.filter((id) => present.some((p) => p.id === id));
  if (present.some((p) => p.id === 'membank') && ratioIds.length) {
    log(`\nMemBank speed-up (other µs / MemBank µs; > 1 means MemBank is faster)`);
    let h2 = `${pad('d', 4)} ${pad('N', 5)} ${pad('B', 3)} |`;
    for (const id of ratioIds) h2 += pad('vs ' + IMPLS.find((x) => x.id === id).short, 16);
    h2 += pad('samples/impl', 14);
    log(h2);
    log('-'.repeat(h2.length));
    for (const c of env.configs) {
      let line = `${pad(c.d, 4)} ${pad(c.n, 5)} ${pad(c.b, 3)} |`;
      for (const id of ratioIds) line += pad(c.ratios[id] == null ? '—' : c.ratios[id].toFixed(2) + '×', 16);
      line += pad(c.results.membank?.samples ?? '—', 14);
      log(line);
    }
  }
  log('\nTargets:');
  for (const t of env.targets) {
    const r = t.ratio == null ? 'n/a' : t.ratio.toFixed(2) + '×';
    log(`  ${t.status.padEnd(4)}  ${t.label.padEnd(46)} measured ${r}`);
  }
}

// The trainer's matrix products natively, the ceiling the reads are compared with.
function printGemm(rows) {
  log('\nNative gemm (the trainer\'s products, build/native/memread-bench-kernels), GFLOP/s');
  log(`${pad('variant', 9, true)} ${pad('product', 12, true)} ${pad('m', 5)} ${pad('n', 5)} ${pad('k', 5)} ${pad('GFLOP/s', 9)}`);
  for (const r of rows) {
    log(`${pad(r.variant, 9, true)} ${pad(r.what, 12, true)} ${pad(r.m, 5)} ${pad(r.n, 5)} ${pad(r.k, 5)} ${pad(fmtNum(r.gflops), 9)}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const t0 = performance.now();
  const out = {
    benchmark: 'memread kernels: softmax(q·Kᵀ/τ)·V',
    date: started.toISOString(),
    command: ['node', 'bench/run.js', ...process.argv.slice(2)].join(' '),
    grid: { d: o.d ?? GRID.d, n: o.n ?? GRID.n, b: o.b ?? GRID.b },
    flops: '4·N·d per query row',
    temp: 'sqrt(d)',
    data: 'K, V, q ~ normal(0,1), mulberry32 seeded per configuration',
    verification: 'every implementation vs a float64 plain-JS reference (membank-i8: of its int8-rounded K and V), max abs diff ≤ 1e-3·max|V|',
    implementations: Object.fromEntries(IMPLS.map((x) => [x.id, x.label])),
    ratios: 'MemBank speed-up = other µs / MemBank µs',
    targets: TARGETS,
    host: { cpu: os.cpus()[0]?.model?.trim(), logical_cpus: os.cpus().length, node: process.version, platform: `${process.platform} ${process.arch}` },
    environments: {},
  };
  const impls = o.impls ?? IMPLS.map((x) => x.id);
  let failed = false;
  const load0 = os.loadavg()[0];
  if (load0 > 0.7 * os.cpus().length) {
    log(`bench: warning: the machine is busy (load average ${load0.toFixed(2)} on ${os.cpus().length} CPUs): results will be noisy`);
  }

  if (o.node) {
    out.environments.node = await runNode(o);
  }
  if (o.native && impls.some((id) => id.startsWith('native'))) {
    try {
      out.native = runNative(o);
    } catch (e) {
      console.error(`bench: ${e.message}`);
      out.native = { error: e.message };
      failed = true;
    }
    mergeNative(out.environments.node, out.native);
  }
  if (o.chromium) {
    log(`\n== Chromium (${'/usr/bin/chromium'}) via playwright-core, page web/bench.html?autorun=1`);
    const { runInChromium } = await import('./chromium.js');
    const params = {
      quick: o.quick ? 1 : null,
      seconds: o.seconds ?? null,
      d: o.d?.join(','),
      n: o.n?.join(','),
      b: o.b?.join(','),
      impls: o.impls?.filter((x) => !x.startsWith('native')).join(','),
      threads: o.allowThreads ? 1 : null,
    };
    const res = await runInChromium({
      params,
      screenshot: o.screenshot,
      onLog: (line) => log(`  [chromium] ${line}`),
    });
    const env = {
      info: { environment: 'chromium', chromium: res.browserVersion, ...res.info, url: res.url },
      settings: res.settings,
      configs: res.configs,
      targets: res.targets,
    };
    if (res.problems?.length) env.info.page_problems = res.problems;
    out.environments.chromium = env;
  }

  // Print.
  if (out.environments.node) {
    const n = out.environments.node;
    printEnv(`==== Node ${n.info.node} (V8 ${n.info.v8}) — ${n.info.cpu}` +
      (n.info.tfjs ? ` — TF.js ${n.info.tfjs.binary}, ${n.info.tfjs.threads} thread(s)` : ''), n);
    if (out.native?.skipped) log(`  (native column missing: ${out.native.skipped})`);
  }
  if (out.native?.gemm?.length) printGemm(out.native.gemm);
  if (out.environments.chromium) {
    const c = out.environments.chromium;
    printEnv(`==== Chromium ${c.info.chromium} — crossOriginIsolated=${c.info.crossOriginIsolated}` +
      (c.info.tfjs ? ` — TF.js ${c.info.tfjs.binary}, ${c.info.tfjs.threads} thread(s)` : ''), c);
    if (c.info.tfjs?.forcedSingleThread) log(`  note: ${c.info.tfjs.note}`);
  }

  out.total_seconds = (performance.now() - t0) / 1000;
  out.host.loadavg_start = load0;
  out.host.loadavg_end = os.loadavg()[0];
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(out, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), o.out) || o.out} (${out.total_seconds.toFixed(0)} s in total)`);
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`\nbench: FAILED: ${e.stack || e.message}`);
  process.exit(1);
});
