// The read in double precision, plainly: what the wasm kernels are checked against from JS.
export function referenceRead(q, keys, values, temp, dim) {
  const n = keys.length / dim;
  const rows = q.length / dim;
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    if (n === 0) continue;
    const scores = new Float64Array(n);
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += q[r * dim + k] * keys[j * dim + k];
      scores[j] = dot / Math.fround(temp);
      if (scores[j] > max) max = scores[j];
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += scores[j] = Math.exp(scores[j] - max);
    for (let j = 0; j < n; j++) {
      const w = scores[j] / sum;
      for (let c = 0; c < dim; c++) out[r * dim + c] += w * values[j * dim + c];
    }
  }
  return out;
}

// A seeded normal(0, scale) Float32Array (mulberry32 + Box–Muller), so failures reproduce.
export function randomFloats(count, seed, scale = 1) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

// The int8 rounding of a bank's rows (DESIGN §11): one definition, shared with the benchmark.
export { int8Rounded } from '../../bench/suite.js';
