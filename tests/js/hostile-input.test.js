// Hostile input, with the real wasm module in Node: every bad input of docs/hostile-input.md, what
// happens and with which error code. (The worker's cases, which need a browser, are in
// tests/web/pressure.test.js; an HTML page served in place of a bank, in a browser, in
// tests/web/cache.test.js.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import createMemreadCore from '../../dist/memread-core.mjs';
import { makeApi } from '../../src/js/api.js';
import { loadBytesNeeded } from '../../src/js/machine.js';
import {
  backendInfo, init, loadMachine, MemBank, memRead, MemreadError,
} from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HIDDEN = path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors');
const bankBytes = new Uint8Array(fs.readFileSync(HIDDEN));
const wasmBinary = fs.readFileSync(path.join(ROOT, 'dist/memread-core.wasm'));
const MIB = 1024 ** 2;

await init();

function isMemreadError(code, pattern, what = '') {
  return (error) => {
    assert.ok(error instanceof MemreadError, `${what}: expected a MemreadError ${code}, got ${error?.stack ?? error}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    if (pattern) assert.match(error.message, pattern, what);
    return true;
  };
}
const throwsCode = (fn, code, pattern, what) => assert.throws(fn, isMemreadError(code, pattern, what));
const rejectsCode = (promise, code, pattern, what) => assert.rejects(promise, isMemreadError(code, pattern, what));

async function collect(pieces) {
  const out = [];
  for await (const piece of pieces) out.push(piece);
  return out;
}

/** The fixture bank with its JSON header replaced by `header` (bytes), the data section kept. */
function withHeader(header) {
  const length = Number(new DataView(bankBytes.buffer, bankBytes.byteOffset).getBigUint64(0, true));
  const data = bankBytes.subarray(8 + length);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function fixtureHeader() {
  const length = Number(new DataView(bankBytes.buffer, bankBytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bankBytes.subarray(8, 8 + length)));
}

/** The fixture with `raw` bytes as the content of its memread.name string, byte for byte. */
function withRawName(raw) {
  const header = fixtureHeader();
  header.__metadata__['memread.name'] = '@@NAME@@';
  const encoded = new TextEncoder().encode(JSON.stringify(header));
  const at = Buffer.from(encoded).indexOf('@@NAME@@');
  return withHeader(new Uint8Array([...encoded.subarray(0, at), ...raw, ...encoded.subarray(at + 8)]));
}

/** The fixture with one float of a tensor's data set to `value`. */
function withFloat(tensor, index, value) {
  const header = fixtureHeader();
  const length = Number(new DataView(bankBytes.buffer, bankBytes.byteOffset).getBigUint64(0, true));
  const copy = bankBytes.slice();
  new DataView(copy.buffer).setFloat32(8 + length + header[tensor].data_offsets[0] + 4 * index, value, true);
  return copy;
}

/** The Node API on a wasm module of its own (so that a test may fill that module's memory). */
async function privateApi() {
  const core = await createMemreadCore({ wasmBinary });
  const api = makeApi(async () => core);
  await api.init();
  return { api, core };
}

// ---- Typed arrays -----------------------------------------------------------------------------

test('typed arrays: mismatched lengths, wrong types, empty arrays and views', () => {
  const q = new Float32Array([1000, 0]);
  const keys = new Float32Array([1, 0, 0, 1]);
  const values = new Float32Array([10, 20, 30, 40]);
  assert.deepEqual(Array.from(memRead(q, keys, values, 1)), [10, 20]);

  throwsCode(() => memRead(q, keys, new Float32Array(6), 1), 'SHAPE_MISMATCH', /values has 6 floats but keys has 4/);
  throwsCode(() => memRead(q, new Float32Array(5), new Float32Array(5), 1), 'BAD_SHAPE', /keys has 5 floats, which is not a whole number of rows of dim 2/);
  throwsCode(() => memRead(new Float32Array(3), keys, values, 1, { dim: 2 }), 'BAD_SHAPE', /q has 3 floats/);
  throwsCode(() => memRead(new Float32Array(3), keys, values, 1, { dim: 4 }), 'BAD_SHAPE', /q has 3 floats/);
  throwsCode(() => memRead(q, keys, values, 1, { out: new Float32Array(3) }), 'SHAPE_MISMATCH', /out has 3 floats but the read of 1 rows writes 2/);
  throwsCode(() => memRead(q, keys, values, 1, { out: new Float64Array(2) }), 'BAD_TYPE', /out must be a Float32Array, got a Float64Array/);
  throwsCode(() => memRead(new Float64Array(2), keys, values, 1), 'BAD_TYPE', /q must be a Float32Array, got a Float64Array/);
  throwsCode(() => memRead(q, [1, 0, 0, 1], values, 1), 'BAD_TYPE', /keys must be a Float32Array, got an Array/);
  throwsCode(() => memRead(q, keys, new Uint8Array(4), 1), 'BAD_TYPE', /values must be a Float32Array, got a Uint8Array/);
  throwsCode(() => memRead(new Float32Array(0), keys, values, 1, { dim: 2 }), 'BAD_SHAPE', /q is empty/);
  throwsCode(() => memRead(new Float32Array(0), keys, values, 1), 'BAD_OPTION', /dim must be a positive integer/);
  throwsCode(() => memRead(q, keys, values, 1, { dim: 2.5 }), 'BAD_OPTION', /dim/);
  // An empty memory (no slots) reads as zeros: the kernels' contract (docs/kernels.md), not an error.
  assert.deepEqual(Array.from(memRead(q, new Float32Array(0), new Float32Array(0), 1)), [0, 0]);

  // Views into larger buffers, at an offset, read only their own elements; out may alias q.
  const qView = new Float32Array([7, 7, 7, 1000, 0, 7]).subarray(3, 5);
  const keysView = new Float32Array([9, 1, 0, 0, 1, 9]).subarray(1, 5);
  const valuesView = new Float32Array([5, 10, 20, 30, 40, 5]).subarray(1, 5);
  assert.deepEqual(Array.from(memRead(qView, keysView, valuesView, 1)), [10, 20]);
  const aliased = new Float32Array([0, 1000]);
  assert.equal(memRead(aliased, keys, values, 1, { out: aliased }), aliased);
  assert.deepEqual(Array.from(aliased), [30, 40]);

  const bank = new MemBank(keys, values, { dim: 2 });
  throwsCode(() => bank.read(new Float32Array(3), 1), 'BAD_SHAPE', /q has 3 floats/);
  throwsCode(() => bank.read(new Float32Array(4), 1, new Float32Array(3)), 'SHAPE_MISMATCH', /out has 3 floats but the read of 2 rows writes 4/);
  throwsCode(() => bank.read(new Float32Array([NaN, 0]), 1), 'NON_FINITE', /q\[0\] is NaN/);
  throwsCode(() => new MemBank(keys, new Float32Array(2), { dim: 2 }), 'SHAPE_MISMATCH');
  throwsCode(() => new MemBank(new Float32Array([1, Infinity]), new Float32Array(2), { dim: 2 }), 'NON_FINITE', /keys\[1\] is Infinity/);
  assert.deepEqual(Array.from(bank.read(q, 1)), [10, 20], 'the bank still reads after the refusals');
  bank.dispose();
});

// ---- Temperatures -----------------------------------------------------------------------------

test('temperatures: NaN, ±Infinity, zero, negative and outside float32 (memRead, MemBank, generate)', async () => {
  const q = new Float32Array([1, 0]);
  const keys = new Float32Array([1, 0, 0, 1]);
  const values = new Float32Array([10, 20, 30, 40]);
  const bank = new MemBank(keys, values, { dim: 2 });
  const refusals = [
    [NaN, /finite number > 0, got the number NaN/], [Infinity, /got the number Infinity/],
    [-Infinity, /got the number -Infinity/], [0, /got the number 0/], [-0, /got the number 0/],
    [-1, /got the number -1/], ['1', /got the string 1/], [1n, /got the bigint 1/], [null, /got null/],
    [undefined, /got the undefined undefined/],
    // Outside float32: 1e-46 rounds to 0, 3.5e38 to Infinity; 1e-40 is a float32 subnormal, and
    // 1/temp would overflow to Infinity in the kernel, where a score of 0 times Infinity is NaN.
    [1e-46, /outside the float32 range/], [3.5e38, /outside the float32 range/], [1e-40, /outside the float32 range/],
  ];
  for (const [temp, pattern] of refusals) {
    throwsCode(() => memRead(q, keys, values, temp), 'BAD_TEMPERATURE', pattern);
    throwsCode(() => bank.read(q, temp), 'BAD_TEMPERATURE', pattern);
  }
  // The extremes that are accepted give finite reads: the smallest normal float32 (a one-hot
  // read, the overflowing score clamped) and the largest (a uniform read).
  for (const [temp, expected] of [[2 ** -126, [10, 20]], [3.4e38, [20, 30]]]) {
    assert.deepEqual(Array.from(memRead(q, keys, values, temp)), expected, `temp ${temp}`);
    assert.deepEqual(Array.from(bank.read(q, temp)), expected, `temp ${temp}`);
  }
  bank.dispose();

  const machine = await loadMachine(bankBytes);
  for (const temperature of [NaN, Infinity, -Infinity, -1, -1e-300, 1e39, Number.MAX_VALUE, '1', null]) {
    throwsCode(() => machine.generate('The jury', { temperature }), 'BAD_TEMPERATURE', /temperature must be a number from 0/);
  }
  // 0 is greedy; so are -0 and what rounds to 0 as a float32; a huge one samples almost uniformly.
  const greedy = (await collect(machine.generate('The jury', { maxTokens: 12, temperature: 0 }))).join('');
  for (const temperature of [-0, 1e-50, 1e-45]) {
    assert.equal((await collect(machine.generate('The jury', { maxTokens: 12, temperature }))).join(''), greedy, `temperature ${temperature}`);
  }
  const hot = await collect(machine.generate('The jury', { maxTokens: 12, temperature: 3e38, seed: 3 }));
  assert.ok(hot.length > 0 && hot.every((piece) => piece.isWellFormed()));
  throwsCode(() => machine.generate('The jury', { topP: NaN }), 'BAD_OPTION', /topP/);
  assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280, 'the machine still answers');
  machine.dispose();
});

test("a bank's temperatures below the smallest normal float are BAD_BANK (they read NaN before)", async () => {
  for (const [tensor, index] of [['layers.0.temps', 0], ['layers.1.temps', 1], ['layers.0.temps', 2], ['readout.temp', 0]]) {
    await rejectsCode(loadMachine(withFloat(tensor, index, 1e-40)), 'BAD_BANK',
      new RegExp(`tensor "${tensor.replace('.', '\\.')}": temperature \\[${index}\\] is 9\\.99995e-41, below 1\\.17549e-38`));
    await rejectsCode(loadMachine(withFloat(tensor, index, 0)), 'BAD_BANK', /must be > 0/);
    await rejectsCode(loadMachine(withFloat(tensor, index, -2)), 'BAD_BANK', /must be > 0/);
    await rejectsCode(loadMachine(withFloat(tensor, index, NaN)), 'BAD_BANK', /non-finite value \(NaN\)/);
  }
  // The smallest accepted temperature, with an all-zero embedding row (so a score is exactly 0):
  // the reads are one-hot or clamped, and every probability is finite.
  let tiny = withFloat('layers.0.temps', 0, 2 ** -126);
  const embed = fixtureHeader().embed.data_offsets[0];
  const length = Number(new DataView(tiny.buffer).getBigUint64(0, true));
  for (let j = 0; j < 16; j++) new DataView(tiny.buffer).setFloat32(8 + length + embed + (65 * 16 + j) * 4, 0, true);
  const machine = await loadMachine(tiny);
  tiny = null;
  assert.ok(machine.predict('A', { topK: 296 }).every((t) => Number.isFinite(t.prob)), 'finite probabilities');
  assert.ok(Number.isFinite(machine.evaluate('AAAA').bitsPerByte));
  machine.dispose();
});

// ---- Empty and long texts ---------------------------------------------------------------------

test('empty text: predict, complete, trace, slotWeights and generate throw EMPTY_TEXT; evaluate gives zeros; tokenize gives no ids', async () => {
  const machine = await loadMachine(bankBytes);
  throwsCode(() => machine.predict(''), 'EMPTY_TEXT', /the text is empty: there is no token to predict from/);
  throwsCode(() => machine.complete(''), 'EMPTY_TEXT');
  throwsCode(() => machine.trace(''), 'EMPTY_TEXT');
  throwsCode(() => machine.slotWeights('', { layer: 0, slot: 0 }), 'EMPTY_TEXT');
  throwsCode(() => machine.generate(''), 'EMPTY_TEXT');
  assert.deepEqual(machine.evaluate(''), { bitsPerByte: 0, tokens: 0, bytes: 0 });
  assert.deepEqual(machine.evaluate('a'), { bitsPerByte: 0, tokens: 0, bytes: 0 }, 'one token: nothing to score');
  const ids = machine.tokenize('');
  assert.ok(ids instanceof Int32Array && ids.length === 0);
  assert.equal(machine.detokenize([]), '');
  assert.equal(machine.detokenize(new Int32Array(0)), '');
  // Not empty: a space, a NUL, a lone surrogate (it becomes U+FFFD).
  for (const text of [' ', '\0', '\uD800']) {
    assert.equal(machine.predict(text, { topK: 2 }).length, 2, JSON.stringify(text));
    assert.ok(Array.isArray(machine.complete(text, { topK: 2 })), JSON.stringify(text));
  }
  machine.dispose();
});

test('a text longer than the window is read whole (the rolling window), as typed or pasted', async () => {
  const machine = await loadMachine(bankBytes);
  const T = machine.info.config.maxContext;
  assert.equal(machine.info.config.window, 'rolling');
  const text = 'The Fulton County Grand Jury said Friday an investigation of the election. '.repeat(20);
  const ids = machine.tokenize(text);
  assert.ok(ids.length > 4 * T);
  // The trace shows what the last position's context read sees: its last T tokens.
  const trace = machine.trace(text);
  assert.equal(trace.windowStart, ids.length - 1 - T);
  assert.deepEqual(Array.from(trace.ids), Array.from(ids.subarray(ids.length - 1 - T)));
  assert.equal(trace.layers[0].context.length, T);
  assert.equal(machine.slotWeights(text, { layer: 0, slot: 0 }).length, T + 1);
  // Pasted at once or typed a character at a time, the prediction is the same, bit for bit.
  const pasted = machine.predict(text, { topK: 5 });
  const typed = await loadMachine(bankBytes);
  for (let i = 1; i <= text.length; i += 7) typed.predict(text.slice(0, i), { topK: 1 });
  assert.deepEqual(typed.predict(text, { topK: 5 }), pasted);
  typed.dispose();
  machine.dispose();
});

test('10 MB of text: tokenize, predict, trace and evaluate work, and the machine stays usable', { timeout: 600_000 }, async (t) => {
  const paragraph = 'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence". '
    + 'Привет, мир. 漢字かな交じり文。 café naïve 👩‍👩‍👧 🇫🇷 \t\n';
  const target = 10 * MIB;
  const unit = Buffer.byteLength(paragraph);
  let text = paragraph.repeat(Math.ceil(target / unit));
  text = Buffer.from(text).subarray(0, target).toString();  // cut to 10 MiB of UTF-8 (a cut character becomes U+FFFD)
  const bytes = Buffer.byteLength(text);
  assert.ok(bytes >= target - 3 && bytes <= target + 3);

  const machine = await loadMachine(bankBytes);
  const timings = {};
  const timed = (name, fn) => {
    const t0 = performance.now();
    const result = fn();
    timings[name] = Math.round(performance.now() - t0);
    return result;
  };
  const ids = timed('tokenize', () => machine.tokenize(text));
  assert.ok(ids.length > MIB, `${ids.length} tokens`);
  assert.equal(timed('detokenize', () => machine.detokenize(ids)), text, 'the round trip is exact');
  const top = timed('predict', () => machine.predict(text, { topK: 5 }));
  assert.equal(top.length, 5);
  assert.ok(top.every((x) => Number.isFinite(x.prob) && x.prob > 0));
  assert.equal(timed('predict again (same text)', () => machine.predict(text, { topK: 5 })).length, 5);
  assert.equal(timed('predict after one more character', () => machine.predict(text + 'x', { topK: 5 })).length, 5);
  const trace = timed('trace', () => machine.trace(text));
  assert.equal(trace.windowStart, ids.length - 1 - machine.info.config.maxContext);
  const evaluation = timed('evaluate', () => machine.evaluate(text));
  assert.equal(evaluation.tokens, ids.length - 1, 'every token but the first is scored');
  assert.equal(evaluation.bytes, bytes - machine.detokenize([ids[0]]).length, 'every byte but the first token\'s');
  assert.ok(Number.isFinite(evaluation.bitsPerByte) && evaluation.bitsPerByte > 0);
  t.diagnostic(`10 MiB of text, ${ids.length} tokens, ms: ${JSON.stringify(timings)}`);

  // Still usable, and reading as a fresh machine does.
  const fresh = await loadMachine(bankBytes);
  assert.deepEqual(machine.predict('The jury said', { topK: 5 }), fresh.predict('The jury said', { topK: 5 }));
  fresh.dispose();
  machine.dispose();
});

// ---- Unicode ------------------------------------------------------------------------------------

test('lone surrogates in JS strings become U+FFFD, in every method', async () => {
  const machine = await loadMachine(bankBytes);
  const cases = [
    ['\uD800', '\uFFFD'], ['\uDC00', '\uFFFD'], ['ab\uD83D', 'ab\uFFFD'], ['\uDE00cd', '\uFFFDcd'],
    ['\uDC00\uD800', '\uFFFD\uFFFD'], ['a\uD800\uD800b', 'a\uFFFD\uFFFDb'], ['x\uD83D\uDE00y', 'x\uD83D\uDE00y'],
  ];
  for (const [dirty, clean] of cases) {
    const what = JSON.stringify(dirty);
    assert.deepEqual(machine.tokenize(dirty), machine.tokenize(clean), what);
    assert.equal(machine.detokenize(machine.tokenize(dirty)), clean, what);
    assert.deepEqual(machine.predict(dirty, { topK: 3 }), machine.predict(clean, { topK: 3 }), what);
    assert.deepEqual(machine.trace(dirty), machine.trace(clean), what);
    assert.deepEqual(machine.slotWeights(dirty, { layer: 1, slot: 3 }), machine.slotWeights(clean, { layer: 1, slot: 3 }), what);
    assert.deepEqual(machine.evaluate(dirty + ' and more'), machine.evaluate(clean + ' and more'), what);
    assert.deepEqual(await collect(machine.generate(dirty, { maxTokens: 8, seed: 1 })),
      await collect(machine.generate(clean, { maxTokens: 8, seed: 1 })), what);
  }
  machine.dispose();
});

test('bytes that are not UTF-8 come out as U+FFFD: detokenize, token texts and generated pieces', async () => {
  const machine = await loadMachine(bankBytes);
  // Token ids 0–255 are the bytes themselves; decoding follows the WHATWG rule (one U+FFFD per
  // maximal invalid subpart), as TextDecoder does.
  const cases = [
    [[0xc3], '\uFFFD'], [[0xc3, 0x28], '\uFFFD('], [[0xff], '\uFFFD'], [[0xe2, 0x82], '\uFFFD'],
    [[0xc0, 0x80], '\uFFFD\uFFFD'], [[0xed, 0xa0, 0x80], '\uFFFD\uFFFD\uFFFD'],
    [[0xf4, 0x90, 0x80, 0x80], '\uFFFD\uFFFD\uFFFD\uFFFD'], [[0x61, 0x80, 0x62], 'a\uFFFDb'],
    [[0xe2, 0x82, 0xac], '€'],
  ];
  for (const [ids, expected] of cases) assert.equal(machine.detokenize(ids), expected, JSON.stringify(ids));
  // The text of a token that is a lone lead or continuation byte.
  const vocab = machine.info.config.vocabSize;
  const all = machine.predict('The jury said', { topK: vocab });
  assert.equal(all.length, vocab);
  for (const { id, token } of all) {
    assert.ok(token.isWellFormed(), `token ${id}`);
    if (id >= 0x80 && id < 0x100) assert.equal(token, '\uFFFD', `byte token ${id}`);
  }
  // Hot generations emit arbitrary bytes: each piece is well-formed, and the pieces join into the
  // decoding of the generated bytes.
  for (const seed of [1, 2, 3, 4, 5]) {
    const pieces = await collect(machine.generate('\u00e9\u00e9', { maxTokens: 200, temperature: 50, seed }));
    assert.ok(pieces.every((piece) => piece.length > 0 && piece.isWellFormed()), `seed ${seed}`);
  }
  machine.dispose();
});

test("invalid UTF-8 inside a bank's header or metadata is BAD_BANK; valid Unicode loads", async () => {
  const invalid = [
    [[0x61, 0xff, 0x62], 'a byte 0xFF'], [[0xc3, 0x28], 'a lead byte without its continuation'],
    [[0xc0, 0x80], 'an overlong NUL'], [[0xed, 0xa0, 0x80], 'an encoded surrogate'],
    [[0xf4, 0x90, 0x80, 0x80], 'above U+10FFFF'], [[0xe2, 0x82], 'a truncated sequence'],
  ];
  for (const [raw, what] of invalid) {
    await rejectsCode(loadMachine(withRawName(raw)), 'BAD_BANK', /^not a valid memread bank: header: invalid UTF-8 at byte \d+$/, what);
  }
  await rejectsCode(loadMachine(withRawName([0x61, 0x00, 0x62])), 'BAD_BANK', /header: NUL byte at byte \d+/);
  await rejectsCode(loadMachine(withRawName([0x61, 0x01])), 'BAD_BANK', /control character U\+0001/);
  // Escaped lone surrogates are invalid JSON strings (RFC 8259 text must be Unicode).
  const escaped = (s) => new TextEncoder().encode(s);
  await rejectsCode(loadMachine(withRawName(escaped('\\ud800'))), 'BAD_BANK', /invalid JSON at byte \d+: .*surrogate/);
  await rejectsCode(loadMachine(withRawName(escaped('\\udc00x'))), 'BAD_BANK', /invalid JSON at byte \d+: .*surrogate/);
  // Valid: UTF-8 text, an escaped pair, an escaped NUL (the name keeps it).
  for (const [raw, name] of [
    [escaped('Привет 漢字 😀'), 'Привет 漢字 😀'], [escaped('\\ud83d\\ude00'), '😀'], [escaped('a\\u0000b'), 'a\0b'],
  ]) {
    const machine = await loadMachine(withRawName(raw));
    assert.equal(machine.info.name, name);
    assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
    machine.dispose();
  }
});

// ---- Lifetimes ----------------------------------------------------------------------------------

test('a disposed machine: every method throws DISPOSED; a generation running across dispose stops with DISPOSED', async () => {
  const machine = await loadMachine(bankBytes);
  const notStarted = machine.generate('The jury', { maxTokens: 10 });
  const running = machine.generate('The jury', { maxTokens: 1000, temperature: 0 });
  assert.equal((await running.next()).done, false);
  machine.dispose();
  machine.dispose();  // twice: nothing happens
  const calls = {
    predict: () => machine.predict('x'),
    complete: () => machine.complete('x'),
    trace: () => machine.trace('x'),
    slotWeights: () => machine.slotWeights('x', { layer: 0, slot: 0 }),
    evaluate: () => machine.evaluate('x'),
    tokenize: () => machine.tokenize('x'),
    detokenize: () => machine.detokenize([1]),
    generate: () => machine.generate('x'),
    // Bad arguments too: the disposal is reported first.
    'predict of ""': () => machine.predict(''),
    'detokenize of junk': () => machine.detokenize('junk'),
  };
  for (const [name, call] of Object.entries(calls)) throwsCode(call, 'DISPOSED', /this machine was disposed; load the bank again/, name);
  await rejectsCode(running.next(), 'DISPOSED');
  assert.deepEqual(await running.next(), { value: undefined, done: true });
  await rejectsCode(notStarted.next(), 'DISPOSED');
  assert.equal(machine.info.name, 'random', 'info stays readable');

  const bank = new MemBank(new Float32Array([1, 0]), new Float32Array([1, 0]), { dim: 2 });
  bank.dispose();
  bank.dispose();
  throwsCode(() => bank.read(new Float32Array([1, 0]), 1), 'DISPOSED', /this MemBank was disposed/);

  const again = await loadMachine(bankBytes);
  assert.equal(again.predict('The jury said', { topK: 1 })[0].id, 280, 'the module is fine');
  again.dispose();
});

// ---- Memory -------------------------------------------------------------------------------------

test('a bank bigger than wasm memory can hold: OUT_OF_MEMORY before any allocation, and the module is still usable', async (t) => {
  let t0 = performance.now();
  let huge = new Uint8Array(1.2e9);  // not a bank: zeros (Node gives them lazily: no time, no RSS)
  t.diagnostic(`new Uint8Array(1.2e9) took ${(performance.now() - t0).toFixed(1)} ms`);
  const before = backendInfo().memoryBytes;
  t0 = performance.now();
  await rejectsCode(loadMachine(huge), 'OUT_OF_MEMORY',
    /^a bank file of 1200000000 bytes \(1145 MiB\) needs about \d+ bytes \(\d+ MiB\) of wasm memory to load, more than WebAssembly's 4 GiB can hold/);
  await rejectsCode(loadMachine(huge.buffer), 'OUT_OF_MEMORY');
  t.diagnostic(`refused in ${(performance.now() - t0).toFixed(1)} ms`);
  assert.equal(backendInfo().memoryBytes, before, 'wasm memory did not grow: nothing was allocated');
  huge = null;

  const machine = await loadMachine(bankBytes);
  assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
  machine.dispose();
  assert.deepEqual(Array.from(memRead(new Float32Array([1000, 0]), new Float32Array([1, 0, 0, 1]), new Float32Array([10, 20, 30, 40]), 1)), [10, 20]);

  // The estimate: 5.5× an F32 file (9.5× when its header names F16) + 128 MiB.
  assert.equal(loadBytesNeeded(bankBytes), Math.ceil(bankBytes.length * 5.5 + 128 * MIB));
  const half = withHeader(new TextEncoder().encode('{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}'));
  assert.equal(loadBytesNeeded(half), Math.ceil(half.length * 10 + 128 * MIB));
  // All of E, K, V int8: read as they are, so the file, the codes once and 4.5× the float tensors;
  // int8 mixed with floats is widened, so 4 × 4.5 × the file.
  const int8 = (valuesDtype) => withHeader(new TextEncoder().encode(JSON.stringify({
    embed: { dtype: 'I8', shape: [4, 4], data_offsets: [0, 16] },
    'embed.scale': { dtype: 'F32', shape: [4], data_offsets: [16, 32] },
    'layers.0.keys': { dtype: 'I8', shape: [2, 4], data_offsets: [32, 40] },
    'layers.0.values': { dtype: valuesDtype, shape: [2, 4], data_offsets: [40, 48] },
  })));
  const allInt8 = int8('I8');
  assert.equal(loadBytesNeeded(allInt8), Math.ceil(allInt8.length + 32 + 4.5 * 16 + 128 * MIB));
  const mixed = int8('F16');
  assert.equal(loadBytesNeeded(mixed), Math.ceil(mixed.length * 19 + 128 * MIB));
});

test('memory freed by disposed banks is reused: a load that fits only there is checked, not refused', async () => {
  const { api, core } = await privateApi();
  // Grow this module's memory to its 4 GiB limit, then free it all: never-used memory is now 0.
  const blocks = [];
  for (let block; (block = core._malloc(64 * MIB) >>> 0);) blocks.push(block);
  assert.ok(api.backendInfo().memoryBytes > 4 * 1024 ** 3 - 64 * MIB);
  await rejectsCode(api.loadMachine(bankBytes), 'OUT_OF_MEMORY', /needs about \d+ bytes \(\d+ MiB\) of wasm memory to load, but only \d+ [KM]iB of it could be reserved/);
  for (const block of blocks) core._free(block);
  const machine = await api.loadMachine(bankBytes);
  assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
  machine.dispose();
});

// Allocates all of wasm memory but less than 64 KiB, in blocks: what a page that used its 4 GiB leaves.
function exhaustWasmMemory(core) {
  const blocks = [];
  for (const size of [64 * MIB, MIB, 64 * 1024]) {
    for (let block; (block = core._malloc(size) >>> 0);) blocks.push(block);
  }
  return blocks;
}

test('an allocation that fails inside C++ is OUT_OF_MEMORY from C++ itself, and the machine reads on', async () => {
  const { api, core } = await privateApi();
  const enBrown = new Uint8Array(fs.readFileSync(path.join(ROOT, 'banks/en-brown.safetensors')));
  // About 1,300 characters (fit the text buffer the first read makes), about 300 tokens: their rows
  // take megabytes, so reading them must grow the machine's storage.
  const text = 'The jury said it did find that many of the laws were not in the best interest of the people. '.repeat(14);
  const reference = await api.loadMachine(enBrown);
  const predicted = reference.predict(text, { topK: 3 });
  const completed = reference.complete(`${text}The gov`, { topK: 3 });
  reference.dispose();

  const machine = await api.loadMachine(enBrown);
  machine.predict('The jury', { topK: 1 });
  const blocks = exhaustWasmMemory(core);
  try {
    // Past the JS package's checks (the text fits its buffer): the rows' growth fails in C++.
    throwsCode(() => machine.predict(text, { topK: 3 }), 'OUT_OF_MEMORY', /^an allocation failed in wasm memory \(4 GiB at most\)$/);
    throwsCode(() => machine.complete(`${text}The gov`, { topK: 3 }), 'OUT_OF_MEMORY', /allocation failed/);
  } finally {
    for (const block of blocks) core._free(block);
  }
  // Nothing was lost: the bank reads as a fresh machine does, and the module works.
  assert.deepEqual(machine.predict(text, { topK: 3 }), predicted);
  assert.deepEqual(machine.complete(`${text}The gov`, { topK: 3 }), completed);
  machine.dispose();
  assert.deepEqual(Array.from(api.memRead(new Float32Array([1000, 0]), new Float32Array([1, 0, 0, 1]), new Float32Array([10, 20, 30, 40]), 1)), [10, 20]);
});

test('past 2 GiB of wasm memory, banks load and reads work (addresses above 2^31)', async () => {
  const { api, core } = await privateApi();
  for (let i = 0; i < 36; i++) assert.ok(core._malloc(64 * MIB), 'ballast');  // 2.25 GiB kept
  assert.ok(api.backendInfo().memoryBytes > 2 ** 31);
  const machine = await api.loadMachine(bankBytes);  // its copy lands above 2 GiB (a RangeError before)
  assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
  const q = new Float32Array([1000, 0]), keys = new Float32Array([1, 0, 0, 1]), values = new Float32Array([10, 20, 30, 40]);
  assert.deepEqual(Array.from(api.memRead(q, keys, values, 1)), [10, 20]);
  const bank = new api.MemBank(keys, values, { dim: 2 });
  assert.deepEqual(Array.from(bank.read(new Float32Array([0, 1000, 1000, 0]), 1)), [30, 40, 10, 20]);
  bank.dispose();
  machine.dispose();
});

// ---- Not a bank -----------------------------------------------------------------------------------

test('an HTML page served with HTTP 200 in place of a bank is FETCH_FAILED (Node, a local server)', async () => {
  const page = '<!doctype html><html><head><title>Welcome</title></head><body><p>Not a bank.</p></body></html>';
  const server = http.createServer((req, res) => {
    const routes = {
      '/page.safetensors': [{ 'Content-Type': 'text/html; charset=utf-8' }, page],
      '/xhtml.safetensors': [{ 'Content-Type': 'application/xhtml+xml' }, page],
      '/octet.safetensors': [{ 'Content-Type': 'application/octet-stream' }, page],
      '/untyped.safetensors': [{}, page],
      '/empty.safetensors': [{ 'Content-Type': 'application/octet-stream' }, ''],
      '/bank.safetensors': [{ 'Content-Type': 'application/octet-stream' }, bankBytes],
    };
    const [headers, body] = routes[req.url] ?? [{ 'Content-Type': 'text/html' }, page];
    res.writeHead(routes[req.url] ? 200 : 404, headers);
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    await rejectsCode(loadMachine(`${base}/page.safetensors`), 'FETCH_FAILED', /page\.safetensors: served as text\/html, not a bank/);
    await rejectsCode(loadMachine(`${base}/xhtml.safetensors`), 'FETCH_FAILED', /served as application\/xhtml\+xml, not a bank/);
    // Served as bytes: refused by its first bytes, which are not a safetensors header.
    await rejectsCode(loadMachine(`${base}/octet.safetensors`), 'FETCH_FAILED', /octet\.safetensors: not a safetensors bank \(its first 8 bytes give a header length of \d+/);
    await rejectsCode(loadMachine(`${base}/untyped.safetensors`), 'FETCH_FAILED', /not a safetensors bank/);
    await rejectsCode(loadMachine(`${base}/empty.safetensors`), 'FETCH_FAILED', /not a safetensors bank \(0 bytes, too short/);
    await rejectsCode(loadMachine(`${base}/missing.safetensors`), 'FETCH_FAILED', /HTTP 404/);
    // The same page handed over as bytes, or as a Response, is BAD_BANK naming it.
    await rejectsCode(loadMachine(new TextEncoder().encode(page)), 'BAD_BANK', /HTML page/);
    await rejectsCode(loadMachine(new Response(page, { headers: { 'Content-Type': 'text/html' } })), 'BAD_BANK', /HTML page/);
    const machine = await loadMachine(`${base}/bank.safetensors`);
    assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280, 'a real bank still loads');
    machine.dispose();
  } finally {
    server.close();
  }
});
