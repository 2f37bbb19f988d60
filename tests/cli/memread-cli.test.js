// The native CLI, build/native/memread, as scripts call it: golden outputs of the tiny fixture
// banks (tests/fixtures, made by `memread random-bank`), its JSON forms, and one-line errors with
// the documented exit codes for bad arguments and bad files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertFails, json, ROOT, run } from './cli.js';

const FIXTURES = path.join(ROOT, 'tests/fixtures');
const HIDDEN = path.join(FIXTURES, 'tiny-hidden.safetensors');  // hidden context, learned positions
const INPUT = path.join(FIXTURES, 'tiny-input.safetensors');    // the seed's literal form
const SAMPLE = path.join(FIXTURES, 'sample.txt');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-cli-'));




test('greedy generation of the fixture banks is pinned', () => {
  assert.deepEqual(json('generate', '--bank', HIDDEN, '--temperature', '0', '--max', '16', '--json', 'The jury said '),
    { text: 'Th'.repeat(16), ids: Array(16).fill(280) });
  assert.deepEqual(json('generate', '--bank', INPUT, '--temperature', '0', '--max', '16', '--json', 'The jury said '),
    { text: 'ai'.repeat(16), ids: Array(16).fill(281) });
  // A half-typed word is healed: the first tokens spell "sa" (115 "s", then "an"), the text is
  // what comes after it.
  assert.deepEqual(json('generate', '--bank', HIDDEN, '--temperature', '0', '--max', '6', '--json', 'The jury sa'),
    { text: 'nThThThTh', ids: [115, 264, 280, 280, 280, 280] });
  // Plain output: the prompt and its continuation.
  assert.equal(run('generate', '--bank', HIDDEN, '--temperature', '0', '--max', '3', 'The jury sa').stdout,
    'The jury sanTh\n');
});

test('complete --json gives the completions of the word being typed with pinned probabilities', () => {
  const { completions } = json('complete', '--bank', HIDDEN, '--top', '3', '--json', 'The jury sa');
  assert.deepEqual(completions.map((c) => [c.text, c.tokens]), [['t', [115, 275, 42]], ['*', [115, 97, 42]], ['j', [115, 97, 106, 42]]]);
  const expected = [0.640164, 0.0600667, 0.0551956];
  completions.forEach((c, i) => assert.ok(Math.abs(c.prob - expected[i]) < 2e-5, `prob ${i}: ${c.prob}`));
  // Plain output: the probability and the completion, one a line.
  assert.match(run('complete', '--bank', HIDDEN, '--top', '1', 'The jury sa').stdout, /^ 0\.640\d\d  "t"\n$/);
  // The penalties change a sampled continuation, and are repeatable.
  const penalised = ['generate', '--bank', HIDDEN, '--seed', '3', '--repetition-penalty', '1.5', '--no-repeat-ngram', '2', '--max', '12', '--json', 'The jury said '];
  assert.deepEqual(json(...penalised), json(...penalised));
  assert.notDeepEqual(json(...penalised).ids, json('generate', '--bank', HIDDEN, '--seed', '3', '--max', '12', '--json', 'The jury said ').ids);
});

test('predict --json gives the most probable tokens with pinned probabilities', () => {
  const { tokens } = json('predict', '--bank', HIDDEN, '--top', '3', '--json', 'The jury said');
  assert.deepEqual(tokens.map((t) => [t.id, t.token]), [[280, 'Th'], [100, 'd'], [292, 'whi']]);
  const expected = [0.946117, 0.0277573, 0.00767109];
  tokens.forEach((t, i) => assert.ok(Math.abs(t.prob - expected[i]) < 2e-5, `prob ${i}: ${t.prob}`));
  const input = json('predict', '--bank', INPUT, '--top', '2', '--json', 'The jury said').tokens;
  assert.deepEqual(input.map((t) => t.id), [100, 76]);
  assert.ok(Math.abs(input[0].prob - 0.690082) < 2e-5);
  // Every token's probability, most probable first, summing to 1.
  const all = json('predict', '--bank', HIDDEN, '--top', '1000', '--json', 'x').tokens;
  assert.equal(all.length, 296);
  assert.ok(Math.abs(all.reduce((s, t) => s + t.prob, 0) - 1) < 1e-4);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].prob >= all[i].prob);
});

test('eval --json reproduces pinned bits per byte (the sample read as one stream, 99 tokens past the window of 32)', () => {
  const hidden = json('eval', '--bank', HIDDEN, '--json', SAMPLE);
  assert.equal(hidden.tokens, 98);
  assert.equal(hidden.bytes, 150);
  assert.ok(Math.abs(hidden.bits_per_byte - 14.766182) < 1e-4, String(hidden.bits_per_byte));
  assert.ok(Math.abs(json('eval', '--bank', INPUT, '--json', SAMPLE).bits_per_byte - 10.709904) < 1e-4);
});

test('the same seed generates the same text', () => {
  const a = json('generate', '--bank', HIDDEN, '--seed', '5', '--temperature', '1.5', '--max', '30', '--json', 'Jury');
  const b = json('generate', '--bank', HIDDEN, '--seed', '5', '--temperature', '1.5', '--max', '30', '--json', 'Jury');
  assert.deepEqual(a, b);
  assert.equal(a.ids.length, 30);
});

test('inspect --json describes a valid bank', () => {
  const info = json('inspect', '--bank', HIDDEN, '--json');
  assert.equal(info.valid, true);
  assert.deepEqual(info.config, {
    format_version: 1, dim: 16, layers: 2, slots: 32, vocab_size: 296, context: 'hidden',
    position: 'learned', max_context: 32, window: 'rolling',
  });
  assert.deepEqual(info.tensors.map((t) => t.name), ['embed', 'layers.0.keys', 'layers.0.values',
    'layers.0.temps', 'layers.0.position', 'layers.1.keys', 'layers.1.values', 'layers.1.temps',
    'layers.1.position', 'readout.temp', 'tokenizer.merges']);
  assert.deepEqual(info.tensors[0], { name: 'embed', dtype: 'F32', shape: [296, 16] });
});

test('random-bank writes a valid bank of every form', () => {
  for (const context of ['input', 'hidden']) {
    for (const position of ['none', 'learned']) {
      const out = path.join(TMP, `${context}-${position}.safetensors`);
      const made = run('random-bank', '--out', out, '--dim', '8', '--layers', '1', '--slots', '5',
        '--merges', '3', '--context', context, '--position', position, '--max-context', '8');
      assert.equal(made.code, 0, made.stderr);
      const info = json('inspect', '--bank', out, '--json');
      assert.equal(info.config.context, context);
      assert.equal(info.config.position, position);
      assert.equal(info.config.vocab_size, 259);
      assert.equal(run('predict', '--bank', out, 'abc').code, 0);
    }
  }
});

test('bad files fail with one line and exit code 1, never a crash', () => {
  const bank = fs.readFileSync(HIDDEN);
  const cases = [
    ['empty', Buffer.alloc(0), /too short/],
    ['7 bytes', bank.subarray(0, 7), /too short/],
    ['truncated header', bank.subarray(0, 100), /truncated|header/],
    ['truncated data', bank.subarray(0, bank.length - 1), /data|offset|cover|bytes/],
    ['html page', Buffer.from('<!doctype html><html><body>404 Not Found</body></html>'), /HTML page/],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)), /header/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const file = path.join(TMP, `${name.replace(/ /g, '-')}.safetensors`);
    fs.writeFileSync(file, bytes);
    for (const command of [['inspect', '--bank', file], ['predict', '--bank', file, 'x'], ['complete', '--bank', file, 'x'],
      ['eval', '--bank', file, SAMPLE]]) {
      assertFails(run(...command), 1, pattern);
    }
  }
  assertFails(run('inspect', '--bank', path.join(TMP, 'missing.safetensors')), 1, /cannot open/);
  assertFails(run('eval', '--bank', HIDDEN, path.join(TMP, 'missing.txt')), 1, /cannot open/);
  assertFails(run('predict', '--bank', HIDDEN, ''), 1, /the text is empty/);
  assertFails(run('complete', '--bank', HIDDEN, ''), 1, /the text is empty/);
  assertFails(run('generate', '--bank', HIDDEN, ''), 1, /the text is empty/);
});

test('bad arguments fail with one line and exit code 2', () => {
  const cases = [
    [[], /usage/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['predict', 'text'], /--bank FILE is required/],
    [['predict', '--bank', HIDDEN], /expected one TEXT argument, got 0/],
    [['predict', '--bank', HIDDEN, 'a', 'b'], /expected one TEXT argument, got 2/],
    [['predict', '--bank', HIDDEN, '--top', 'many', 'x'], /--top wants a whole number/],
    [['predict', '--bank', HIDDEN, '--top', '-1', 'x'], /--top wants a whole number/],
    [['predict', '--bank', HIDDEN, '--bogus', '1', 'x'], /unknown option --bogus/],
    [['predict', '--bank'], /--bank needs a value/],
    [['generate', '--bank', HIDDEN, '--temperature', '-1', 'x'], /temperature must be/],
    [['generate', '--bank', HIDDEN, '--temperature', 'nan', 'x'], /--temperature wants a number/],
    [['generate', '--bank', HIDDEN, '--top-p', '1.5', 'x'], /top-p must be in \(0, 1\]/],
    [['generate', '--bank', HIDDEN, '--repetition-penalty', '0.5', 'x'], /repetition penalty must be/],
    [['generate', '--bank', HIDDEN, '--no-repeat-ngram', 'two', 'x'], /--no-repeat-ngram wants a whole number/],
    [['complete', '--bank', HIDDEN], /expected one TEXT argument, got 0/],
    [['complete', '--bank', HIDDEN, '--top', '0', 'x'], /--top and --max-tokens must be at least 1/],
    [['complete', '--bank', HIDDEN, '--max-tokens', '65', 'x'], /--max-tokens/],
    [['random-bank', '--out', path.join(TMP, 'x'), '--context', 'sideways'], /--context is input or hidden/],
    [['random-bank', '--dim', '8'], /--out FILE is required/],
  ];
  for (const [args, pattern] of cases) {
    const result = run(...args);
    if (args.length === 0) {
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
    } else {
      assertFails(result, 2, pattern);
    }
  }
});
