// memread kernel benchmark — the isomorphic part (no Node imports; runs in Node and in the browser).
//
// The read being measured, for B query rows against one bank of N slots:
//     out[b] = softmax(q[b]·Kᵀ / τ) · V          q: B×d   K, V: N×d   τ = √d
// flops: 4·N·d per query row (q·Kᵀ and w·V, a multiply and an add each).
//
// Implementations (all compute exactly the read above, single-threaded):
//   membank  memread MemBank (wasm SIMD), as a user calls it: bank.read(q, τ, out) copies q in, result out
//   membank-i8  the same MemBank with { dtype: 'i8' }: K and V held as int8 rows with one scale each,
//            read by the int8 kernels (DESIGN §11); verified against the float64 read of its own
//            int8-rounded K and V, so the check measures the kernel and not the rounding of the data
//   memread  memread bare memRead(q, K, V, τ, {dim}): also copies K and V into wasm memory on each call
//   scalar   the scalar C++ reference kernel compiled to wasm (MemBank with kernel: 'scalar')
//   plainjs  straightforward JS loops, max-subtracted softmax, double arithmetic
//   tfjs     TensorFlow.js wasm backend (XNNPACK), K stored pre-transposed (d×N), its fast path
// Samples are interleaved: within a configuration every round times each implementation once
// (rotating the starting implementation), many rounds; the reported figure is the median.

export const GRID = Object.freeze({ d: [64, 128, 192], n: [256, 1024, 4096], b: [1, 64] });

export const IMPLS = Object.freeze([
  { id: 'membank', label: 'memread MemBank (wasm SIMD)', short: 'MemBank' },
  { id: 'membank-i8', label: 'memread MemBank, int8 bank (wasm SIMD)', short: 'MemBank i8' },
  { id: 'memread', label: 'memread memRead() bare (copies K, V each call)', short: 'memRead' },
  { id: 'scalar', label: 'memread scalar C++ → wasm (MemBank)', short: 'scalar wasm' },
  { id: 'plainjs', label: 'plain JS loops', short: 'plain JS' },
  { id: 'tfjs', label: 'TensorFlow.js wasm backend', short: 'TF.js wasm' },
  { id: 'native', label: 'memread kernels, native build (SIMDe)', short: 'native' },
  { id: 'native-i8', label: 'memread int8 kernels, native build (SIMDe)', short: 'native i8' },
]);

// Ratios reported: how many times faster MemBank is than each of these (their µs / MemBank µs).
export const RATIO_VS = Object.freeze(['scalar', 'plainjs', 'tfjs', 'native']);

// A target compares `subject` (default membank) with `vs`: vs µs / subject µs ≥ min.
export const TARGETS = Object.freeze([
  { d: 128, n: 1024, b: 1, subject: 'membank-i8', vs: 'membank', min: 2, label: 'd=128 N=1024 B=1:  MemBank i8 ≥ 2× MemBank f32' },
  { d: 192, n: 1024, b: 1, subject: 'membank-i8', vs: 'membank', min: 2, label: 'd=192 N=1024 B=1:  MemBank i8 ≥ 2× MemBank f32' },
  { d: 128, n: 1024, b: 1, vs: 'tfjs', min: 1.8, label: 'd=128 N=1024 B=1:  MemBank ≥ 1.8× TF.js wasm' },
  { d: 128, n: 1024, b: 1, vs: 'scalar', min: 6, label: 'd=128 N=1024 B=1:  MemBank ≥ 6× scalar wasm' },
  { d: 128, n: 1024, b: 64, vs: 'tfjs', min: 1.2, label: 'd=128 N=1024 B=64: MemBank ≥ 1.2× TF.js wasm' },
]);

export const FLOPS_PER_ROW = (n, d) => 4 * n * d;

export const DEFAULTS = Object.freeze({
  full: { seconds: 2, minRounds: 7, maxRounds: 2000, sampleMs: 2, warmMs: 100, warmCalls: 3 },
  quick: { seconds: 0.5, minRounds: 3, maxRounds: 500, sampleMs: 1.5, warmMs: 25, warmCalls: 2 },
});

// ---------------------------------------------------------------------------------------------
// Data

/** mulberry32: small, fast, seeded 32-bit PRNG → float in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fill a Float32Array with standard normal samples (Box–Muller) from a seeded PRNG. */
export function fillNormal(arr, rand) {
  for (let i = 0; i < arr.length; i += 2) {
    let u = rand();
    while (u <= 1e-12) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    arr[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < arr.length) arr[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return arr;
}

export function configSeed(d, n, b) {
  return (0x9e3779b1 ^ (d * 73856093) ^ (n * 19349663) ^ (b * 83492791)) >>> 0;
}

export function makeData(d, n, b, seed = configSeed(d, n, b)) {
  const rand = mulberry32(seed);
  const K = fillNormal(new Float32Array(n * d), rand);
  const V = fillNormal(new Float32Array(n * d), rand);
  const q = fillNormal(new Float32Array(b * d), rand);
  return { d, n, b, seed, K, V, q, temp: Math.sqrt(d) };
}

// ---------------------------------------------------------------------------------------------
// Reference and plain-JS implementation

// Each row of m (rows × dim) rounded as an int8 bank stores it (quantize_row_int8 in
// src/kernels/quantize.h): scale = max|row| / 127 in float, codes rounded half to even.
export function int8Rounded(m, dim) {
  const out = new Float32Array(m.length);
  for (let r = 0; r < m.length / dim; r++) {
    let largest = 0;
    for (let k = 0; k < dim; k++) largest = Math.max(largest, Math.abs(m[r * dim + k]));
    const scale = largest > 0 ? Math.fround(largest / 127) : 1;
    for (let k = 0; k < dim; k++) {
      const x = Math.fround(m[r * dim + k] / scale);
      let code = Math.round(x);
      if (Math.abs(x - Math.trunc(x)) === 0.5) code = 2 * Math.round(x / 2);  // half to even
      out[r * dim + k] = Math.fround(Math.max(-127, Math.min(127, code)) * scale);
    }
  }
  return out;
}


/** Float64 reference: softmax(q·Kᵀ/τ)·V for every row of q. Returns Float64Array(B·d). */
export function referenceRead(q, K, V, temp, dim) {
  const n = K.length / dim;
  const b = q.length / dim;
  const out = new Float64Array(b * dim);
  const s = new Float64Array(n);
  for (let r = 0; r < b; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += q[r * dim + k] * K[j * dim + k];
      s[j] = dot / temp;
      if (s[j] > max) max = s[j];
    }
    let sum = 0;
    for (let j = 0; j < n; j++) {
      s[j] = Math.exp(s[j] - max);
      sum += s[j];
    }
    for (let j = 0; j < n; j++) {
      const w = s[j] / sum;
      for (let k = 0; k < dim; k++) out[r * dim + k] += w * V[j * dim + k];
    }
  }
  return out;
}

/**
 * A straightforward, reasonably written JS read (what a user would write without a library):
 * Float32Array storage, double arithmetic, max-subtracted softmax, scratch buffers reused.
 */
export function makePlainJsRead(n, dim) {
  const s = new Float64Array(n);
  const acc = new Float64Array(dim);
  return function plainJsRead(q, K, V, temp, out) {
    const b = q.length / dim;
    const inv = 1 / temp;
    for (let r = 0; r < b; r++) {
      const qo = r * dim;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const ko = j * dim;
        let dot = 0;
        for (let k = 0; k < dim; k++) dot += q[qo + k] * K[ko + k];
        const x = dot * inv;
        s[j] = x;
        if (x > max) max = x;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(s[j] - max);
        s[j] = e;
        sum += e;
      }
      acc.fill(0);
      for (let j = 0; j < n; j++) {
        const w = s[j];
        const vo = j * dim;
        for (let k = 0; k < dim; k++) acc[k] += w * V[vo + k];
      }
      const invSum = 1 / sum;
      for (let k = 0; k < dim; k++) out[qo + k] = acc[k] * invSum;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// TF.js set-up (shared by Node and the page)

/**
 * Select TF.js's wasm backend, single-threaded for a fair comparison, and describe what is in use.
 * @param tf      the tfjs-core namespace
 * @param tfWasm  the tfjs-backend-wasm namespace (tf.wasm in the UMD build)
 * @param opts.wasmPaths  directory (ending in '/') holding the tfjs-backend-wasm*.wasm files
 * @param opts.allowThreads  keep TF.js's own choice of threads (default false: force 1 thread)
 */
export async function prepareTfjs(tf, tfWasm, { wasmPaths, allowThreads = false } = {}) {
  if (wasmPaths) tfWasm.setWasmPaths(wasmPaths);
  const env = tf.env();
  const simd = await env.getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await env.getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  let forcedSingleThread = false;
  if (multithread && !allowThreads) {
    // TF.js would load its threaded-simd binary with a pthread pool; turn that off so that both
    // sides run on one thread (memread's wasm is single-threaded).
    env.set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    forcedSingleThread = true;
  }
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('TF.js: could not initialise the wasm backend');
  await tf.ready();
  const threaded = multithread && !forcedSingleThread;
  const binary = threaded && simd
    ? 'tfjs-backend-wasm-threaded-simd.wasm'
    : simd
      ? 'tfjs-backend-wasm-simd.wasm'
      : 'tfjs-backend-wasm.wasm';
  let threads = null;
  try {
    threads = tfWasm.getThreadsCount();
  } catch {
    threads = null;
  }
  return {
    version: tf.version_core ?? tf.version?.['tfjs-core'] ?? null,
    backend: tf.getBackend(),
    binary,
    simd: !!simd,
    multithreadAvailable: !!multithread,
    forcedSingleThread,
    threads,
    note: forcedSingleThread
      ? `TF.js would use the threaded-simd binary; forced to 1 thread (WASM_HAS_MULTITHREAD_SUPPORT=false) for a single-threaded comparison`
      : multithread
        ? 'TF.js threads allowed'
        : 'TF.js has no multithread support here: single-threaded',
  };
}

// ---------------------------------------------------------------------------------------------
// Implementations for one configuration

function buildImpls({ mod, tf, want }, data) {
  const { d, n, b, K, V, q, temp } = data;
  const impls = [];
  const has = (id) => want.includes(id);

  if (mod && has('membank')) {
    const bank = new mod.MemBank(K, V, { dim: d });
    const out = new Float32Array(b * d);
    impls.push({ id: 'membank', call: () => bank.read(q, temp, out), dispose: () => bank.dispose() });
  }
  if (mod && has('membank-i8')) {
    const bank = new mod.MemBank(K, V, { dim: d, dtype: 'i8' });
    const out = new Float32Array(b * d);
    impls.push({ id: 'membank-i8', call: () => bank.read(q, temp, out), dispose: () => bank.dispose() });
  }
  if (mod && has('memread')) {
    impls.push({ id: 'memread', call: () => mod.memRead(q, K, V, temp, { dim: d }), dispose() {} });
  }
  if (mod && has('scalar')) {
    const bank = new mod.MemBank(K, V, { dim: d, kernel: 'scalar' });
    const out = new Float32Array(b * d);
    impls.push({ id: 'scalar', call: () => bank.read(q, temp, out), dispose: () => bank.dispose() });
  }
  if (has('plainjs')) {
    const read = makePlainJsRead(n, d);
    const out = new Float32Array(b * d);
    impls.push({ id: 'plainjs', call: () => read(q, K, V, temp, out), dispose() {} });
  }
  if (tf && has('tfjs')) {
    const Kt = new Float32Array(d * n); // K stored transposed, d×N: scores = q(B×d) · Kt(d×N)
    for (let j = 0; j < n; j++) for (let k = 0; k < d; k++) Kt[k * n + j] = K[j * d + k];
    const KtT = tf.tensor2d(Kt, [d, n]);
    const VT = tf.tensor2d(V, [n, d]);
    const invT = tf.scalar(1 / temp);
    const call = () => {
      const r = tf.tidy(() => {
        const qT = tf.tensor2d(q, [b, d]); // created from the Float32Array each call (≈ copying q in)
        const scores = tf.mul(tf.matMul(qT, KtT), invT);
        return tf.matMul(tf.softmax(scores), VT);
      });
      const y = r.dataSync();
      r.dispose();
      return y;
    };
    impls.push({ id: 'tfjs', call, dispose: () => { KtT.dispose(); VT.dispose(); invT.dispose(); } });
  }
  return impls;
}

// ---------------------------------------------------------------------------------------------
// Measurement

function quantile(sorted, p) {
  if (!sorted.length) return NaN;
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x);
  const hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

function verify(impl, y, ref, tol, cfg) {
  const label = `${impl.id} at d=${cfg.d} N=${cfg.n} B=${cfg.b}`;
  if (!y || typeof y.length !== 'number') throw new Error(`VERIFY FAILED: ${label} returned ${y}`);
  if (y.length !== ref.length) {
    throw new Error(`VERIFY FAILED: ${label} returned ${y.length} values, expected ${ref.length}`);
  }
  let maxDiff = 0;
  let where = -1;
  for (let i = 0; i < ref.length; i++) {
    const diff = Math.abs(y[i] - ref[i]);
    if (!(diff <= maxDiff)) { // also catches NaN
      maxDiff = Number.isNaN(diff) ? Infinity : diff;
      where = i;
      if (maxDiff === Infinity) break;
    }
  }
  if (!(maxDiff <= tol)) {
    throw new Error(
      `VERIFY FAILED: ${label}: max |out − float64 reference| = ${maxDiff} at index ${where} ` +
        `(got ${y[where]}, expected ${ref[where]}), tolerance ${tol}`,
    );
  }
  return maxDiff;
}

/**
 * Run the benchmark.
 * @param ctx.mod   the memread module exports (already init()ed), or null to skip memread impls
 * @param ctx.tf    the tfjs-core namespace with the wasm backend selected, or null to skip TF.js
 * @param ctx.now   () => milliseconds (performance.now)
 * @param opts      { quick, seconds, d, n, b (arrays), impls (ids), onProgress, yieldFn }
 * @returns {Promise<{configs: object[], targets: object[], settings: object}>}
 */
export async function runSuite(ctx, opts = {}) {
  const base = opts.quick ? DEFAULTS.quick : DEFAULTS.full;
  const settings = { ...base, quick: !!opts.quick };
  for (const k of ['seconds', 'minRounds', 'maxRounds', 'sampleMs', 'warmMs', 'warmCalls']) {
    if (opts[k] != null && Number.isFinite(Number(opts[k]))) settings[k] = Number(opts[k]);
  }
  const ds = opts.d ?? GRID.d;
  const ns = opts.n ?? GRID.n;
  const bs = opts.b ?? GRID.b;
  const want = (opts.impls ?? IMPLS.map((x) => x.id)).filter((id) => !id.startsWith('native'));
  const now = ctx.now;
  const progress = opts.onProgress ?? (() => {});
  const yieldFn = opts.yieldFn ?? (() => Promise.resolve());
  const cfgList = [];
  for (const d of ds) for (const n of ns) for (const b of bs) cfgList.push({ d, n, b });

  const configs = [];
  for (let ci = 0; ci < cfgList.length; ci++) {
    const cfg = cfgList[ci];
    progress({ type: 'config-start', index: ci, total: cfgList.length, ...cfg });
    const data = makeData(cfg.d, cfg.n, cfg.b);
    const ref = referenceRead(data.q, data.K, data.V, data.temp, cfg.d);
    // An int8 bank reads its own rounded rows: checked against their float64 read.
    const refInt8 = want.includes('membank-i8')
      ? referenceRead(data.q, int8Rounded(data.K, cfg.d), int8Rounded(data.V, cfg.d), data.temp, cfg.d)
      : null;
    let maxAbsV = 0;
    for (let i = 0; i < data.V.length; i++) maxAbsV = Math.max(maxAbsV, Math.abs(data.V[i]));
    const tol = 1e-3 * maxAbsV;
    const flops = FLOPS_PER_ROW(cfg.n, cfg.d) * cfg.b;
    const tfTensorsBefore = ctx.tf ? ctx.tf.memory().numTensors : 0;

    const impls = buildImpls({ mod: ctx.mod, tf: ctx.tf, want }, data);
    const state = new Map();
    try {
      // 1. Verify every implementation against the float64 reference (fail loudly).
      for (const impl of impls) {
        const maxErr = verify(impl, impl.call(), impl.id === 'membank-i8' ? refInt8 : ref, tol, cfg);
        state.set(impl.id, { maxErr, samples: [], reps: 1, warmCalls: 0 });
      }
      // 2. Warm up and calibrate repetitions so that one sample lasts ≥ sampleMs.
      for (const impl of impls) {
        const st = state.get(impl.id);
        const t0 = now();
        let calls = 0;
        let last = 0;
        while (calls < settings.warmCalls || now() - t0 < settings.warmMs) {
          const a = now();
          impl.call();
          last = now() - a;
          calls++;
          if (now() - t0 > 20 * settings.warmMs && calls >= 1) break;
        }
        // Calibrate: grow a batch until it lasts ≥ sampleMs (robust to timer resolution and to
        // a JIT tier-up during warm-up), then size samples from that batch's per-call time.
        let reps = Math.max(1, Math.floor(settings.sampleMs / Math.max(last, 1e-3) / 2));
        let probeReps = 0;
        let perCall = last;
        for (let attempt = 0; attempt < 30; attempt++) {
          const a = now();
          for (let i = 0; i < reps; i++) impl.call();
          const el = now() - a;
          probeReps += reps;
          perCall = Math.max(el / reps, 1e-4);
          if (el >= settings.sampleMs) break;
          reps = Math.min(reps * 4, Math.max(reps * 2, Math.ceil((1.2 * settings.sampleMs) / perCall)));
        }
        st.reps = Math.max(1, Math.ceil(settings.sampleMs / perCall));
        st.warmCalls = calls + probeReps;
      }
      // 3. Interleaved rounds.
      const start = now();
      const budgetMs = settings.seconds * 1000;
      let rounds = 0;
      while (rounds < settings.maxRounds && (rounds < settings.minRounds || now() - start < budgetMs)) {
        for (let k = 0; k < impls.length; k++) {
          const impl = impls[(k + rounds) % impls.length];
          const st = state.get(impl.id);
          const reps = st.reps;
          const fn = impl.call;
          const a = now();
          for (let i = 0; i < reps; i++) fn();
          const us = ((now() - a) * 1000) / reps;
          st.samples.push(us);
        }
        rounds++;
        if ((rounds & 3) === 0) await yieldFn();
      }
      const wallMs = now() - start;
      // 4. Summarise.
      const results = {};
      for (const impl of impls) {
        const st = state.get(impl.id);
        const sorted = [...st.samples].sort((x, y) => x - y);
        const med = quantile(sorted, 0.5);
        results[impl.id] = {
          us_per_call: med,
          gflops: flops / (med * 1e3),
          p25_us: quantile(sorted, 0.25),
          p75_us: quantile(sorted, 0.75),
          min_us: sorted[0],
          samples: sorted.length,
          reps_per_sample: st.reps,
          max_abs_err: st.maxErr,
        };
      }
      const record = {
        ...cfg,
        flops_per_call: flops,
        temp: data.temp,
        seed: data.seed,
        tolerance: tol,
        rounds,
        wall_ms: wallMs,
        results,
        ratios: computeRatios(results),
      };
      configs.push(record);
      progress({ type: 'config-done', index: ci, total: cfgList.length, record });
    } finally {
      for (const impl of impls) impl.dispose();
    }
    if (ctx.tf) {
      const leaked = ctx.tf.memory().numTensors - tfTensorsBefore;
      if (leaked !== 0) throw new Error(`TF.js leaked ${leaked} tensors at d=${cfg.d} N=${cfg.n} B=${cfg.b}`);
    }
    await yieldFn();
  }
  return { settings, configs, targets: evaluateTargets(configs) };
}

/** MemBank's speed-up over each other implementation: their µs / MemBank µs (> 1: MemBank faster). */
export function computeRatios(results) {
  const ratios = {};
  const mine = results.membank?.us_per_call;
  for (const id of RATIO_VS) {
    const other = results[id]?.us_per_call;
    ratios[id] = mine > 0 && other > 0 ? other / mine : null;
  }
  return ratios;
}

export function evaluateTargets(configs) {
  return TARGETS.map((t) => {
    const rec = configs.find((c) => c.d === t.d && c.n === t.n && c.b === t.b);
    const subject = rec?.results?.[t.subject ?? 'membank']?.us_per_call;
    const other = rec?.results?.[t.vs]?.us_per_call;
    const ratio = subject > 0 && other > 0 ? other / subject : null;
    return { ...t, ratio, status: ratio == null ? 'N/A' : ratio >= t.min ? 'PASS' : 'MISS' };
  });
}

export function fmtUs(us) {
  if (us == null || !Number.isFinite(us)) return '—';
  if (us >= 100) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  return us.toFixed(2);
}

export function fmtNum(x, digits = 2) {
  if (x == null || !Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(digits);
}
