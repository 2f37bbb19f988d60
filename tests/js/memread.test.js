// The npm package with the real wasm module: results against the double-precision reference,
// MemBank's lifetime, and every bad argument with its error code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { init, backendInfo, MemBank, memRead, MemreadError, hasWasmSimd } from '../../src/js/node.js';
import { int8Rounded, referenceRead, randomFloats } from './reference.js';

await init();
const infoAtInit = backendInfo();  // before any test allocates

function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Number.isFinite(actual[i]), `${what}[${i}] is ${actual[i]}`);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance,
      `${what}[${i}] = ${actual[i]}, reference ${expected[i]} (tolerance ${tolerance})`);
  }
}

function assertMemreadError(fn, code, messagePart) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof MemreadError, `expected a MemreadError, got ${error}`);
    assert.ok(error instanceof Error);
    assert.equal(error.code, code, `code of: ${error.message}`);
    if (messagePart) assert.match(error.message, messagePart);
    return true;
  });
}

test('init is idempotent and the module was built with WebAssembly SIMD', async () => {
  assert.equal(init(), init());
  await init();
  assert.equal(hasWasmSimd(), true);
  const info = backendInfo();
  assert.equal(info.simd, 'wasm_simd128');
  assert.deepEqual(info.kernels, ['scalar', 'wasmsimd']);
  // The example in the types is what backendInfo() gives right after init.
  const types = fs.readFileSync(new URL('../../src/js/index.d.ts', import.meta.url), 'utf8');
  const example = types.match(/backendInfo\(\);\s+\/\/ → (\{.*\})/)[1];
  assert.deepEqual(infoAtInit, new Function(`return (${example});`)());
});

test('memRead matches the double-precision reference around the SIMD width', () => {
  for (const dim of [1, 3, 4, 5, 8, 17, 64]) {
    for (const n of [1, 2, 4, 5, 23, 24, 25, 100]) {
      for (const rows of [1, 2, 4, 5, 9]) {
        const seed = dim * 10007 + n * 101 + rows;
        const q = randomFloats(rows * dim, seed);
        const keys = randomFloats(n * dim, seed + 1);
        const values = randomFloats(n * dim, seed + 2);
        const temp = Math.sqrt(dim);
        const out = memRead(q, keys, values, temp, { dim });
        assert.ok(out instanceof Float32Array);
        assertClose(out, referenceRead(q, keys, values, temp, dim), 2e-5, `dim=${dim} n=${n} rows=${rows}`);
      }
    }
  }
});

test('memRead with one row takes dim from q', () => {
  const q = randomFloats(7, 1), keys = randomFloats(21, 2), values = randomFloats(21, 3);
  assertClose(memRead(q, keys, values, 0.5), referenceRead(q, keys, values, 0.5, 7), 2e-5, 'out');
});

test('the scalar and SIMD kernels agree through MemBank', () => {
  const dim = 33, n = 70;
  const keys = randomFloats(n * dim, 11), values = randomFloats(n * dim, 12), q = randomFloats(6 * dim, 13);
  const simd = new MemBank(keys, values, { dim });
  const scalar = new MemBank(keys, values, { dim, kernel: 'scalar' });
  const expected = referenceRead(q, keys, values, 3, dim);
  assertClose(simd.read(q, 3), expected, 2e-5, 'wasmsimd');
  assertClose(scalar.read(q, 3), expected, 2e-5, 'scalar');
  simd.dispose();
  scalar.dispose();
});

test("a MemBank with dtype 'i8' reads its rows rounded to int8, in both kernels", () => {
  // The read of the rounded rows, the query and weights then rounded to 16 bits: within 1e-3.
  for (const [dim, n] of [[33, 70], [128, 1024], [5, 300]]) {
    const keys = randomFloats(n * dim, 31), values = randomFloats(n * dim, 32), q = randomFloats(3 * dim, 33);
    const temp = Math.sqrt(dim);
    const expected = referenceRead(q, int8Rounded(keys, dim), int8Rounded(values, dim), temp, dim);
    for (const kernel of ['wasmsimd', 'scalar']) {
      const bank = new MemBank(keys, values, { dim, kernel, dtype: 'i8' });
      assertClose(bank.read(q, temp), expected, 1e-3, `${kernel} dim=${dim} n=${n}`);
      bank.dispose();
    }
    // and not the read of the floats themselves (the rounding is real)
    const floats = referenceRead(q, keys, values, temp, dim);
    const bank = new MemBank(keys, values, { dim, dtype: 'i8' });
    const out = bank.read(q, temp);
    assert.ok(out.some((x, i) => Math.abs(x - floats[i]) > 1e-4), `dim=${dim}: int8 rows differ from floats`);
    bank.dispose();
  }
});

test('a MemBank reads many times, into a given out array, and reports its shape', () => {
  const dim = 16, n = 50;
  const keys = randomFloats(n * dim, 21), values = randomFloats(n * dim, 22);
  const bank = new MemBank(keys, values, { dim });
  assert.equal(bank.dim, dim);
  assert.equal(bank.slots, n);
  const out = new Float32Array(3 * dim);
  for (let i = 0; i < 5; i++) {
    const q = randomFloats(3 * dim, 100 + i);
    const result = bank.read(q, 2, out);
    assert.equal(result, out, 'read returns the out array it was given');
    assertClose(out, referenceRead(q, keys, values, 2, dim), 2e-5, `read ${i}`);
  }
  bank.dispose();
  bank.dispose();  // a second dispose is harmless
  assertMemreadError(() => bank.read(randomFloats(dim, 1), 1), 'DISPOSED', /disposed/);
});

test('a bank stays correct after wasm memory grows under it', () => {
  const dim = 8, n = 10;
  const keys = randomFloats(n * dim, 31), values = randomFloats(n * dim, 32), q = randomFloats(dim, 33);
  const small = new MemBank(keys, values, { dim });
  const before = small.read(q, 1);
  // 2 × 8 MB of keys and values: more than the initial 16 MB heap, so memory grows.
  const big = new MemBank(randomFloats(1 << 21, 34), randomFloats(1 << 21, 35), { dim: 64 });
  const after = small.read(q, 1);
  assert.deepEqual(after, before);
  assertClose(after, referenceRead(q, keys, values, 1, dim), 2e-5, 'after growth');
  big.dispose();
  small.dispose();
});

test('an empty memory reads as zeros', () => {
  const out = memRead(new Float32Array([1, 2, 3, 4]), new Float32Array(0), new Float32Array(0), 1, { dim: 2 });
  assert.deepEqual(Array.from(out), [0, 0, 0, 0]);
});

test('one-hot keys retrieve their value exactly', () => {
  const dim = 5;
  const keys = new Float32Array(dim * dim);
  for (let j = 0; j < dim; j++) keys[j * dim + j] = 1;
  const values = randomFloats(dim * dim, 41);
  for (let target = 0; target < dim; target++) {
    const q = new Float32Array(dim);
    q[target] = 1000;
    assert.deepEqual(memRead(q, keys, values, 1), values.subarray(target * dim, (target + 1) * dim));
  }
});

test('huge scores and extreme temperatures give finite results', () => {
  const dim = 16, n = 40;
  const keys = randomFloats(n * dim, 51, 1e3), values = randomFloats(n * dim, 52), q = randomFloats(dim, 53, 1e3);
  for (const temp of [1e-3, 1, 1e3]) {
    assertClose(memRead(q, keys, values, temp), referenceRead(q, keys, values, temp, dim), 1e-3, `temp ${temp}`);
  }
});

test('bad arguments throw MemreadError with a code that names the problem', () => {
  const dim = 4;
  const k = randomFloats(8, 1), v = randomFloats(8, 2), q = randomFloats(4, 3);
  // types
  assertMemreadError(() => memRead([1, 2, 3, 4], k, v, 1), 'BAD_TYPE', /q must be a Float32Array, got an Array/);
  assertMemreadError(() => memRead(new Float64Array(4), k, v, 1), 'BAD_TYPE', /Float64Array/);
  assertMemreadError(() => memRead(q, null, v, 1), 'BAD_TYPE', /keys/);
  assertMemreadError(() => memRead(q, k, 'values', 1), 'BAD_TYPE', /values/);
  assertMemreadError(() => new MemBank(k, v, { dim }).read(new Int32Array(4), 1), 'BAD_TYPE', /q/);
  // shapes
  assertMemreadError(() => memRead(q, randomFloats(9, 4), randomFloats(9, 5), 1), 'BAD_SHAPE', /keys has 9 floats.*dim 4/);
  assertMemreadError(() => memRead(randomFloats(6, 6), k, v, 1, { dim }), 'BAD_SHAPE', /q has 6 floats/);
  assertMemreadError(() => memRead(q, k, randomFloats(12, 7), 1), 'SHAPE_MISMATCH', /values has 12 floats but keys has 8/);
  assertMemreadError(() => memRead(new Float32Array(0), k, v, 1, { dim }), 'BAD_SHAPE', /empty/);
  assertMemreadError(() => memRead(q, k, v, 1, { out: new Float32Array(3) }), 'SHAPE_MISMATCH', /out has 3 floats/);
  // temperatures
  for (const temp of [NaN, Infinity, -Infinity, 0, -1, '1', undefined, 1e-50, 1e300]) {
    assertMemreadError(() => memRead(q, k, v, temp), 'BAD_TEMPERATURE', /temp/);
  }
  // options
  for (const bad of [0, -4, 1.5, NaN, '4', undefined]) {
    assertMemreadError(() => new MemBank(k, v, { dim: bad }), 'BAD_OPTION', /dim must be a positive integer/);
  }
  assertMemreadError(() => new MemBank(k, v), 'BAD_OPTION', /options object with dim/);
  assertMemreadError(() => new MemBank(k, v, { dim, kernel: 'avx512' }), 'BAD_OPTION', /kernel must be one of scalar, wasmsimd/);
  assertMemreadError(() => new MemBank(k, v, { dim, dtype: 'int4' }), 'BAD_OPTION', /dtype must be 'f32' or 'i8', got int4/);
  assertMemreadError(() => memRead(q, k, v, 1, null), 'BAD_OPTION');
  // values
  const withNaN = randomFloats(8, 8);
  withNaN[5] = NaN;
  assertMemreadError(() => memRead(q, withNaN, v, 1), 'NON_FINITE', /keys\[5\] is NaN/);
  const withInf = randomFloats(4, 9);
  withInf[2] = -Infinity;
  assertMemreadError(() => memRead(withInf, k, v, 1), 'NON_FINITE', /q\[2\] is -Infinity/);
});

test('a bank larger than wasm memory can hold is refused before anything is allocated', () => {
  // 2^28 floats of keys (1 GiB; the values are the same array) need about 4 GiB of wasm memory
  // while the bank is re-laid: more than wasm32 can address.
  const keys = new Float32Array(1 << 28);
  assertMemreadError(() => new MemBank(keys, keys, { dim: 1024 }), 'OUT_OF_MEMORY', /needs \d+ bytes.*4 GiB/);
  // The module is still usable afterwards.
  const q = randomFloats(4, 61), k = randomFloats(8, 62), v = randomFloats(8, 63);
  assertClose(memRead(q, k, v, 1), referenceRead(q, k, v, 1, 4), 2e-5, 'after the refusal');
});

test('calls before init() say so', async () => {
  const fresh = await import(`../../src/js/node.js?fresh=${Date.now()}`);
  assert.throws(() => fresh.memRead(new Float32Array(1), new Float32Array(1), new Float32Array(1), 1),
    (error) => error.code === 'NOT_INITIALIZED' && /await init\(\)/.test(error.message));
  await fresh.init();
  assert.equal(fresh.memRead(new Float32Array([1]), new Float32Array([2]), new Float32Array([3]), 1)[0], 3);
});
