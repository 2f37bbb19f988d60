// The Machine of the npm package with the real wasm module, against the native CLI on the same
// fixture banks (the C++ machine itself is tested against a double-precision reference in
// tests/cpp/machine_test.cpp), and every bad argument with its error code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { backendInfo, loadMachine, MemreadError } from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HIDDEN = path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors');
const INPUT = path.join(ROOT, 'tests/fixtures/tiny-input.safetensors');
const SAMPLE = path.join(ROOT, 'tests/fixtures/sample.txt');
const hiddenBytes = new Uint8Array(fs.readFileSync(HIDDEN));

function cli(...args) {
  const result = spawnSync(path.join(ROOT, 'build/native/memread'), args, { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function assertRejectsWith(promiseOrFn, code, pattern) {
  const check = (error) => {
    assert.ok(error instanceof MemreadError, `expected a MemreadError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
  if (typeof promiseOrFn === 'function') assert.throws(promiseOrFn, check);
  else await assert.rejects(promiseOrFn, check);
}

test('predict agrees with the native CLI on both fixture banks', async () => {
  for (const file of [HIDDEN, INPUT]) {
    const machine = await loadMachine(new Uint8Array(fs.readFileSync(file)));
    for (const text of ['The jury said', 'x', 'Atlanta\'s recent primary election produced']) {
      const ours = machine.predict(text, { topK: 5 });
      const native = cli('predict', '--bank', file, '--top', '5', '--json', text).tokens;
      assert.deepEqual(ours.map((t) => t.id), native.map((t) => t.id), text);
      ours.forEach((t, i) => {
        assert.equal(t.token, native[i].token);
        assert.ok(Math.abs(t.prob - native[i].prob) < 1e-5);
      });
    }
    machine.dispose();
  }
});

test('an int8 bank (memread quantize --dtype i8) predicts in wasm as the native CLI does, and as its F16 source', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-i8-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const int8 = path.join(dir, 'tiny-hidden-i8.safetensors');
  const quantized = spawnSync(path.join(ROOT, 'build/native/memread'), ['quantize', '--bank', HIDDEN, '--out', int8, '--dtype', 'i8']);
  assert.equal(quantized.status, 0, String(quantized.stderr));
  const machine = await loadMachine(new Uint8Array(fs.readFileSync(int8)));
  const floats = await loadMachine(hiddenBytes);
  for (const text of ['The jury said', 'x', 'Atlanta\'s recent primary election produced']) {
    const ours = machine.predict(text, { topK: 5 });
    const native = cli('predict', '--bank', int8, '--top', '5', '--json', text).tokens;
    assert.deepEqual(ours.map((p) => p.id), native.map((p) => p.id), text);
    ours.forEach((p, i) => assert.ok(Math.abs(p.prob - native[i].prob) < 1e-5, `${text}: ${p.prob} vs ${native[i].prob}`));
    // int8 weights with one scale per row: the same top token and probabilities within 0.01
    const reference = floats.predict(text, { topK: 1 })[0];
    assert.equal(ours[0].id, reference.id, text);
    assert.ok(Math.abs(ours[0].prob - reference.prob) < 0.01, `${text}: ${ours[0].prob} vs ${reference.prob}`);
  }
  machine.dispose();
  floats.dispose();
});

test('an int8 bank stays int8 in wasm memory: en-brown as I8 holds at most 2× its file once loaded', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-i8-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const int8 = path.join(dir, 'en-brown-i8.safetensors');
  const quantized = spawnSync(path.join(ROOT, 'build/native/memread'),
    ['quantize', '--bank', path.join(ROOT, 'banks/en-brown.safetensors'), '--out', int8, '--dtype', 'i8']);
  assert.equal(quantized.status, 0, String(quantized.stderr));
  const bytes = new Uint8Array(fs.readFileSync(int8));
  const before = backendInfo().heapBytesInUse;
  const machine = await loadMachine(bytes);
  machine.predict('The jury said');
  const held = backendInfo().heapBytesInUse - before;
  // Widened to floats (what an F16 or F32 bank becomes) it would be about 4× the file.
  assert.ok(held <= 2 * bytes.length, `${held} bytes held for a ${bytes.length}-byte file`);
  assert.ok(held >= bytes.length / 2, `${held} bytes: the bank is not all there`);
  machine.dispose();
  assert.equal(backendInfo().heapBytesInUse, before, 'dispose gives every byte back');
});

test('loadMachine takes bytes, an ArrayBuffer, a Blob, a Response and a URL, and reports progress', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/bank.safetensors') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': hiddenBytes.length });
      res.end(hiddenBytes);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/html' });
      res.end('<html>not here</html>');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/bank.safetensors`;
  try {
    const sources = [
      hiddenBytes, hiddenBytes.slice().buffer, new Blob([hiddenBytes]), new Response(hiddenBytes), url, new URL(url),
    ];
    for (const source of sources) {
      const progress = [];
      const machine = await loadMachine(source, { onProgress: (p) => progress.push(p) });
      assert.equal(machine.info.bytes, hiddenBytes.length);
      assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
      assert.ok(progress.length >= 1, 'progress reported');
      assert.equal(progress.at(-1).loaded, hiddenBytes.length);
      machine.dispose();
    }
    await assertRejectsWith(loadMachine(url.replace('bank', 'missing')), 'FETCH_FAILED', /404/);
  } finally {
    server.close();
  }
});

test('info describes the bank', async () => {
  const machine = await loadMachine(hiddenBytes);
  assert.deepEqual(machine.info.config, {
    formatVersion: 1, dim: 16, layers: 2, slots: 32, vocabSize: 296, context: 'hidden', position: 'learned', maxContext: 32,
    window: 'rolling',
  });
  assert.equal(machine.info.name, 'random');
  assert.equal(machine.info.bytes, hiddenBytes.length);
  machine.dispose();
});

test('generate streams the same text as the CLI, greedy and seeded', async () => {
  const machine = await loadMachine(hiddenBytes);
  let greedy = '';
  for await (const piece of machine.generate('The jury said', { maxTokens: 16, temperature: 0 })) greedy += piece;
  assert.equal(greedy, cli('generate', '--bank', HIDDEN, '--temperature', '0', '--max', '16', '--json', 'The jury said').text);
  const pieces = [];
  for await (const piece of machine.generate('Jury', { maxTokens: 30, temperature: 1.5, seed: 5 })) pieces.push(piece);
  assert.equal(pieces.join(''), cli('generate', '--bank', HIDDEN, '--seed', '5', '--temperature', '1.5', '--max', '30', '--json', 'Jury').text);
  machine.dispose();
});

test('generate heals the typed word and takes the penalties, as the CLI does', async () => {
  const machine = await loadMachine(hiddenBytes);
  for (const [text, options, flags] of [
    ['The jury sa', { temperature: 0 }, ['--temperature', '0']],
    ['The jury said ', { temperature: 0.9, seed: 3, repetitionPenalty: 1.3, noRepeatNgramSize: 2 },
      ['--temperature', '0.9', '--seed', '3', '--repetition-penalty', '1.3', '--no-repeat-ngram', '2']],
  ]) {
    let ours = '';
    for await (const piece of machine.generate(text, { maxTokens: 12, ...options })) ours += piece;
    assert.equal(ours, cli('generate', '--bank', HIDDEN, '--max', '12', ...flags, '--json', text).text, text);
  }
  // The typed letters "sa" are spelled by the first tokens, so the pieces start after them.
  for (const seed of [1, 2, 3]) {
    const { text, ids } = cli('generate', '--bank', HIDDEN, '--seed', String(seed), '--max', '8', '--json', 'The jury sa');
    const spelled = machine.detokenize(ids);
    assert.ok(spelled.startsWith('sa'), spelled);
    assert.equal(text, spelled.slice(2));
  }
  machine.dispose();
});

test('complete gives the completions of the word being typed, as the CLI does', async () => {
  for (const file of [HIDDEN, INPUT]) {
    const machine = await loadMachine(new Uint8Array(fs.readFileSync(file)));
    for (const text of ['The jury sa', 'The jury said ', 'Ju', 'Atlanta\'s recent prim']) {
      const ours = machine.complete(text, { topK: 4 });
      const native = cli('complete', '--bank', file, '--top', '4', '--json', text).completions;
      assert.deepEqual(ours.map((c) => c.text), native.map((c) => c.text), text);
      assert.deepEqual(ours.map((c) => c.tokens), native.map((c) => c.tokens), text);
      ours.forEach((c, i) => assert.ok(Math.abs(c.prob - native[i].prob) < 1e-5));
      assert.ok(ours.length >= 1 && ours.length <= 4, text);
      // Each completion's tokens spell the typed part of the word, then the completion.
      const typed = text.slice(text.lastIndexOf(' ') + 1);
      for (const c of ours) assert.ok(machine.detokenize(c.tokens).startsWith(typed + c.text), `${text}: ${c.text}`);
    }
    machine.dispose();
  }
});

test('complete refuses bad arguments with their codes, before anything reaches the kernels', async () => {
  const machine = await loadMachine(hiddenBytes);
  await assertRejectsWith(() => machine.complete(''), 'EMPTY_TEXT', /empty/);
  await assertRejectsWith(() => machine.complete(42), 'BAD_TYPE', /text must be a string/);
  await assertRejectsWith(() => machine.complete('x', null), 'BAD_OPTION', /options must be an object/);
  for (const topK of [0, 1.5, 1025, '3', NaN]) await assertRejectsWith(() => machine.complete('x', { topK }), 'BAD_OPTION', /topK/);
  for (const maxTokens of [0, 65, -1, 2.5]) {
    await assertRejectsWith(() => machine.complete('x', { maxTokens }), 'BAD_OPTION', /maxTokens/);
  }
  await assertRejectsWith(() => machine.complete('x', { signal: 'stop' }), 'BAD_OPTION', /AbortSignal/);
  assert.throws(() => machine.complete('x', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  for (const repetitionPenalty of [0.5, NaN, Infinity, '2']) {
    await assertRejectsWith(() => machine.generate('x', { repetitionPenalty }), 'BAD_OPTION', /repetitionPenalty/);
  }
  await assertRejectsWith(() => machine.generate('x', { noRepeatNgramSize: -1 }), 'BAD_OPTION', /noRepeatNgramSize/);
  machine.dispose();
  await assertRejectsWith(() => machine.complete('x'), 'DISPOSED', /disposed/);
});

test('an AbortSignal stops generate within one token', async () => {
  const machine = await loadMachine(hiddenBytes);
  const controller = new AbortController();
  let count = 0;
  await assert.rejects(async () => {
    for await (const piece of machine.generate('The', { maxTokens: 1000, temperature: 1, signal: controller.signal })) {
      void piece;
      if (++count === 5) controller.abort();
    }
  }, { name: 'AbortError' });
  assert.equal(count, 5, 'no piece after the abort');
  // The machine is still usable.
  assert.equal(machine.predict('The jury said', { topK: 1 })[0].id, 280);
  machine.dispose();
});

test('trace gives per layer the top slots and the context weights, each read summing to 1', async () => {
  const machine = await loadMachine(hiddenBytes);
  const trace = machine.trace('The jury said', { topSlots: 32 });
  assert.equal(trace.windowStart, 0);
  assert.equal(trace.tokens.join(''), 'The jury said');
  assert.equal(trace.layers.length, 2);
  for (const layer of trace.layers) {
    assert.equal(layer.assoc.length, 32);
    assert.ok(Math.abs(layer.assoc.reduce((s, x) => s + x.weight, 0) - 1) < 1e-5);
    assert.ok(Math.abs(layer.mlp.reduce((s, x) => s + x.weight, 0) - 1) < 1e-5);
    assert.equal(layer.context.length, trace.ids.length - 1);
    assert.ok(Math.abs(layer.context.reduce((s, x) => s + x, 0) - 1) < 1e-5);
  }
  const top3 = machine.trace('The jury said', { topSlots: 3 }).layers[0].assoc;
  assert.deepEqual(top3, trace.layers[0].assoc.slice(0, 3));
  for (const slot of top3) {
    assert.ok(Number.isInteger(slot.key.id) && slot.key.id >= 0 && slot.key.id < 296);
    assert.equal(slot.key.token, machine.detokenize([slot.key.id]));
    assert.equal(slot.value.token, machine.detokenize([slot.value.id]));
  }
  // Selecting a slot: its weight at every position, ending with the traced weight.
  const top = trace.layers[1].mlp[0];
  const across = machine.slotWeights('The jury said', { layer: 1, read: 'mlp', slot: top.slot });
  assert.equal(across.length, trace.ids.length);
  assert.ok(Math.abs(across.at(-1) - top.weight) < 1e-6);
  await assertRejectsWith(() => machine.slotWeights('x', { layer: 2, slot: 0 }), 'BAD_OPTION', /layer/);
  await assertRejectsWith(() => machine.slotWeights('x', { layer: 0, slot: 32 }), 'BAD_OPTION', /slot/);
  await assertRejectsWith(() => machine.slotWeights('x', { layer: 0, slot: 0, read: 'ctx' }), 'BAD_OPTION', /read/);
  machine.dispose();
});

test('evaluate, tokenize and detokenize agree with the CLI and round-trip any text', async () => {
  const machine = await loadMachine(hiddenBytes);
  const text = fs.readFileSync(SAMPLE, 'utf8');
  const native = cli('eval', '--bank', HIDDEN, '--json', SAMPLE);
  const ours = machine.evaluate(text);
  assert.equal(ours.tokens, native.tokens);
  assert.equal(ours.bytes, native.bytes);
  assert.ok(Math.abs(ours.bitsPerByte - native.bits_per_byte) < 1e-4);
  for (const s of ['The jury', 'Привет, мир', '漢字かな交じり', '👩‍👩‍👧 🇫🇷', 'é vs é', '']) {
    const ids = machine.tokenize(s);
    assert.ok(ids instanceof Int32Array);
    assert.equal(machine.detokenize(ids), s);
    assert.equal(machine.detokenize(Array.from(ids)), s);
  }
  machine.dispose();
});

test('lone surrogates are cleaned to U+FFFD before they reach C++', async () => {
  const machine = await loadMachine(hiddenBytes);
  assert.equal(machine.detokenize(machine.tokenize('a\uD800b\uDC00c')), 'a\uFFFDb\uFFFDc');
  assert.deepEqual(machine.predict('x\uD83D', { topK: 3 }), machine.predict('x\uFFFD', { topK: 3 }));
  machine.dispose();
});

test('bad arguments and bad banks throw MemreadError with a code', async () => {
  await assertRejectsWith(loadMachine(new Uint8Array([1, 2, 3])), 'BAD_BANK', /not a valid memread bank: file is 3 bytes/);
  await assertRejectsWith(loadMachine(new TextEncoder().encode('<!doctype html><p>404')), 'BAD_BANK', /HTML page/);
  const truncated = hiddenBytes.slice(0, hiddenBytes.length - 10);
  await assertRejectsWith(loadMachine(truncated), 'BAD_BANK');
  await assertRejectsWith(loadMachine(42), 'BAD_TYPE', /URL string, URL, ArrayBuffer, Uint8Array, Blob or Response/);
  await assertRejectsWith(loadMachine(hiddenBytes, { signal: 'stop' }), 'BAD_OPTION', /AbortSignal/);
  const aborted = AbortSignal.abort();
  await assert.rejects(loadMachine(hiddenBytes, { signal: aborted }), { name: 'AbortError' });

  const machine = await loadMachine(hiddenBytes);
  await assertRejectsWith(() => machine.predict(''), 'EMPTY_TEXT', /empty/);
  await assertRejectsWith(() => machine.trace(''), 'EMPTY_TEXT');
  await assertRejectsWith(() => machine.generate(''), 'EMPTY_TEXT');
  await assertRejectsWith(() => machine.predict(42), 'BAD_TYPE', /text must be a string/);
  await assertRejectsWith(() => machine.predict('x', { topK: 0 }), 'BAD_OPTION', /topK/);
  await assertRejectsWith(() => machine.predict('x', { topK: 1.5 }), 'BAD_OPTION', /topK/);
  await assertRejectsWith(() => machine.generate('x', { temperature: -1 }), 'BAD_TEMPERATURE');
  await assertRejectsWith(() => machine.generate('x', { temperature: NaN }), 'BAD_TEMPERATURE');
  await assertRejectsWith(() => machine.generate('x', { topP: 0 }), 'BAD_OPTION', /topP/);
  await assertRejectsWith(() => machine.generate('x', { maxTokens: -1 }), 'BAD_OPTION', /maxTokens/);
  await assertRejectsWith(() => machine.generate('x', { seed: 2 ** 60 }), 'BAD_OPTION', /seed/);
  await assertRejectsWith(() => machine.detokenize([1, 296]), 'BAD_TOKEN', /ids\[1\] is 296/);
  await assertRejectsWith(() => machine.detokenize([-1]), 'BAD_TOKEN');
  await assertRejectsWith(() => machine.detokenize('abc'), 'BAD_TYPE');

  machine.dispose();
  machine.dispose();
  for (const call of [() => machine.predict('x'), () => machine.trace('x'), () => machine.evaluate('x'),
    () => machine.tokenize('x'), () => machine.detokenize([1]), () => machine.generate('x')]) {
    await assertRejectsWith(call, 'DISPOSED', /disposed/);
  }
});

test('a machine keeps working after wasm memory grows under it', async () => {
  const machine = await loadMachine(hiddenBytes);
  const before = machine.predict('The jury said', { topK: 5 });
  // Another bank of 2 × 16 MB grows wasm memory.
  const { MemBank } = await import('../../src/js/node.js');
  const big = new MemBank(new Float32Array(1 << 22), new Float32Array(1 << 22), { dim: 64 });
  assert.deepEqual(machine.predict('The jury said', { topK: 5 }), before);
  const again = await loadMachine(hiddenBytes);
  assert.deepEqual(again.predict('The jury said', { topK: 5 }), before);
  big.dispose();
  again.dispose();
  machine.dispose();
});
