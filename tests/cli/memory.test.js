// memread remember and --memory (DESIGN §10, docs/memory.md): a memory file written from a text,
// read by predict, complete, generate and eval; bad memories refused with one line, exit 1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MEMREAD = process.env.MEMREAD_CLI ? path.resolve(process.env.MEMREAD_CLI) : path.join(ROOT, 'build/native/memread');
const FIXTURES = path.join(ROOT, 'tests/fixtures');
const HIDDEN = path.join(FIXTURES, 'tiny-hidden.safetensors');
const INPUT = path.join(FIXTURES, 'tiny-input.safetensors');
const SAMPLE = path.join(FIXTURES, 'sample.txt');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-cli-memory-'));
const tmp = (name) => path.join(TMP, name);

const run = (...args) => spawnSync(MEMREAD, args, { encoding: 'utf8' });
function json(...args) {
  const result = run(...args, '--json');
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}
function assertFails(result, code, pattern) {
  assert.equal(result.status, code, `exit ${result.status}: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
}

const sample = fs.readFileSync(SAMPLE, 'utf8');
const memoryOfSample = tmp('sample.memory.safetensors');
const written = json('remember', '--bank', HIDDEN, '--out', memoryOfSample, SAMPLE);

test('remember writes one slot per token but the last, and the file it reports', () => {
  const tokens = json('eval', '--bank', HIDDEN, SAMPLE).tokens;
  assert.equal(written.slots, tokens);  // eval scores every token but the first: n − 1 of them
  assert.equal(written.source_bytes, Buffer.byteLength(sample));
  assert.equal(fs.statSync(memoryOfSample).size, written.file_bytes);
});

test('remember is deterministic: the same text writes the same file, byte for byte', () => {
  json('remember', '--bank', HIDDEN, '--out', tmp('again.memory.safetensors'), SAMPLE);
  assert.ok(fs.readFileSync(memoryOfSample).equals(fs.readFileSync(tmp('again.memory.safetensors'))));
});

test('eval --memory scores the remembered text in far fewer bits per byte than the bank alone', () => {
  const alone = json('eval', '--bank', HIDDEN, SAMPLE).bits_per_byte;
  const withMemory = json('eval', '--bank', HIDDEN, '--memory', memoryOfSample, SAMPLE).bits_per_byte;
  assert.ok(withMemory < alone / 2, `${withMemory} with the memory against ${alone}`);
});

test('complete --memory completes the word being typed as the remembered text does', () => {
  // Words half typed are where the memory shows: complete() heals the last token (DESIGN §9), so
  // the typed text's tokens meet the remembered text's.
  const cases = [['The Fulton County Grand Jury said Fri', 'day'], ['said Friday an inv', 'esti'],
    ['an investigation of Atl', 'anta']];
  for (const [typed, expected] of cases) {
    const prefix = sample.slice(0, sample.indexOf(typed) + typed.length);
    const best = (...memory) => json('complete', '--bank', HIDDEN, ...memory, '--top', '1', prefix).completions[0].text;
    assert.notEqual(best(), expected, `the bank alone completes ${JSON.stringify(prefix)} with ${expected}`);
    assert.equal(best('--memory', memoryOfSample), expected);
  }
});

test('predict and generate --memory read with the memory in place', () => {
  const prefix = sample.slice(0, sample.indexOf(' an investigation'));
  const predict = (...memory) => run('predict', '--bank', HIDDEN, ...memory, '--top', '5', prefix + ' an');
  assert.notEqual(predict('--memory', memoryOfSample).stdout, predict().stdout);
  const generate = (...memory) => run('generate', '--bank', HIDDEN, ...memory, '--max', '12', prefix);
  assert.equal(generate('--memory', memoryOfSample).status, 0);
  assert.notEqual(generate('--memory', memoryOfSample).stdout, generate().stdout);
});

test('remember --memory adds a text after what the memory holds, with its constants', () => {
  const both = json('remember', '--bank', HIDDEN, '--memory', memoryOfSample, '--out', tmp('both.memory.safetensors'), SAMPLE);
  assert.equal(both.slots, 2 * written.slots);
  assert.equal(both.source_bytes, 2 * written.source_bytes + 2);  // texts kept apart by "\n\n"
  assertFails(run('remember', '--bank', HIDDEN, '--memory', memoryOfSample, '--gate', '0.5', '--out', tmp('x'), SAMPLE),
    1, /written with other parameters/);
});

test('a memory of another bank, a truncated or tampered file is refused with one line naming the problem', () => {
  assertFails(run('predict', '--bank', INPUT, '--memory', memoryOfSample, 'The'), 1, /belongs to another bank/);
  const bytes = fs.readFileSync(memoryOfSample);
  fs.writeFileSync(tmp('truncated'), bytes.subarray(0, bytes.length - 100));
  assertFails(run('eval', '--bank', HIDDEN, '--memory', tmp('truncated'), SAMPLE), 1, /truncated: .*past the end|reach past the end|truncated/);
  const tampered = Buffer.from(bytes);
  tampered.write('[97, 48]', tampered.indexOf('[98, 48]'), 'latin1');  // the keys' shape no longer agrees
  fs.writeFileSync(tmp('tampered'), tampered);
  assertFails(run('complete', '--bank', HIDDEN, '--memory', tmp('tampered'), 'The'), 1, /tampered: /);
  assertFails(run('generate', '--bank', HIDDEN, '--memory', SAMPLE, 'The'), 1, /sample\.txt: /);
  assertFails(run('predict', '--bank', HIDDEN, '--memory', tmp('missing'), 'The'), 1, /missing/);
});

test('remember refuses an empty text, a missing --out and bad constants', () => {
  fs.writeFileSync(tmp('empty.txt'), '');
  assertFails(run('remember', '--bank', HIDDEN, '--out', tmp('e'), tmp('empty.txt')), 1, /empty\.txt: the text to remember is empty/);
  assert.equal(fs.existsSync(tmp('e')), false, 'nothing written');
  assertFails(run('remember', '--bank', HIDDEN, SAMPLE), 2, /--out FILE is required/);
  assertFails(run('remember', '--bank', HIDDEN, '--out', tmp('e')), 2, /TEXTFILE/);
  assertFails(run('remember', '--bank', HIDDEN, '--out', tmp('e'), '--gate', 'x', SAMPLE), 2, /--gate/);
  assertFails(run('remember', '--bank', HIDDEN, '--out', tmp('e'), '--gate', '2', SAMPLE), 1, /gate/);
});
