// Memories through the npm package (DESIGN §10, docs/memory.md), with the real wasm module and the
// shipped en-brown bank: remember, what a read recalls, forget, export and import, cancelling, and
// every bad input with its code. (The delta rule and the gate against a double-precision reference
// are tests/cpp/memory_test.cpp; the page's "Teach it" panel is tests/web/memory.test.js.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadMachine, MemreadError } from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BANK = new Uint8Array(fs.readFileSync(path.join(ROOT, 'banks/en-brown.safetensors')));
const OTHER_BANK = new Uint8Array(fs.readFileSync(path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors')));

// A fact the bank cannot know, and a prompt that asks for it.
const FACT = 'The night porter of the Hotel Quenby is called Ozzimander. ';
const TEXT = `${FACT}He keeps the keys of every room.\n${FACT}Guests ask for him by name.\n`;
const PROMPT = 'The night porter of the Hotel Quenby is called ';

function isMemreadError(code, pattern) {
  return (error) => {
    assert.ok(error instanceof MemreadError, `expected a MemreadError ${code}, got ${error?.stack ?? error}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

const probabilities = (machine, text) => machine.predict(text, { topK: 2048 }).map(({ id, prob }) => [id, prob]);
const probabilityOf = (machine, text, token) => machine.predict(text, { topK: 2048 }).find((t) => t.token === token)?.prob ?? 0;

test('remember makes the remembered continuation likely, and reports the memory', async () => {
  const machine = await loadMachine(BANK);
  assert.equal(machine.memory, null);
  const before = probabilityOf(machine, PROMPT, 'O');
  const progress = [];
  const info = await machine.remember(TEXT, { onProgress: (p) => progress.push(p) });
  const slots = machine.tokenize(TEXT).length - 1;
  assert.equal(info.slots, slots);
  assert.equal(info.sourceBytes, new TextEncoder().encode(TEXT).length);
  // d 192: F16 keys (2·3d bytes) and values (2d), the key's 64 int8 projections, an offset (4)
  assert.equal(info.bytes, slots * (2 * 576 + 2 * 192 + 64 + 4) + info.sourceBytes);
  assert.deepEqual(machine.memory, info);
  assert.deepEqual(progress.at(-1), { done: 3 * slots, total: 3 * slots });  // 3 passes
  assert.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done));
  const after = probabilityOf(machine, PROMPT, 'O');
  assert.ok(after > 10 * before, `p("O") ${before} → ${after}`);
  machine.dispose();
});

test('trace shows the slot a read recalled and the passage around it', async () => {
  const machine = await loadMachine(BANK);
  await machine.remember(TEXT);
  const { memory } = machine.trace(PROMPT);
  assert.ok(memory.length >= 1);
  const top = memory[0];
  assert.ok(top.weight > 0 && top.weight <= 1);
  assert.ok(memory.every((m, i) => i === 0 || m.weight <= memory[i - 1].weight));
  assert.ok(top.before.endsWith(PROMPT), top.before);
  assert.ok(top.after.startsWith('Ozzimander'), top.after);
  assert.ok(TEXT.slice(top.offset).startsWith(top.after));  // offsets are bytes: TEXT is ASCII
  // A text nothing in the memory is near recalls nothing: the read is exactly zero.
  assert.deepEqual(machine.trace('Cows eat grass in the').memory, []);
  machine.dispose();
});

test('forget restores every probability of the bank alone, bit for bit', async () => {
  const machine = await loadMachine(BANK);
  const texts = [PROMPT, 'Cows eat grass in the', TEXT + PROMPT];
  const alone = texts.map((text) => probabilities(machine, text));
  const completions = machine.complete('The night porter is called Oz');
  await machine.remember(TEXT);
  assert.notDeepEqual(probabilities(machine, PROMPT), alone[0]);
  machine.forget();
  assert.equal(machine.memory, null);
  assert.deepEqual(texts.map((text) => probabilities(machine, text)), alone);
  assert.deepEqual(machine.complete('The night porter is called Oz'), completions);
  machine.dispose();
});

test('exportMemory → loadMemory and loadMachine({memory}) round-trip bit for bit', async () => {
  const machine = await loadMachine(BANK);
  await machine.remember(TEXT);
  const file = machine.exportMemory();
  const remembered = probabilities(machine, PROMPT);
  const trace = machine.trace(PROMPT).memory;

  const fresh = await loadMachine(BANK);
  const info = await fresh.loadMemory(file);
  assert.deepEqual(info, machine.memory);
  assert.deepEqual(probabilities(fresh, PROMPT), remembered);
  assert.deepEqual(fresh.trace(PROMPT).memory, trace);
  assert.deepEqual(fresh.exportMemory(), file);

  const loaded = await loadMachine(BANK, { memory: new Blob([file]) });
  assert.deepEqual(probabilities(loaded, PROMPT), remembered);
  for (const m of [machine, fresh, loaded]) m.dispose();
});

test('remember is deterministic, and a second text is added after the first', async () => {
  const [a, b] = [await loadMachine(BANK), await loadMachine(BANK)];
  await a.remember(TEXT);
  await b.remember(TEXT);
  assert.deepEqual(a.exportMemory(), b.exportMemory());
  const first = a.memory;
  const second = await a.remember('Ozzimander was born in Harlow.');
  assert.equal(second.slots, first.slots + a.tokenize('Ozzimander was born in Harlow.').length - 1);
  assert.equal(second.sourceBytes, first.sourceBytes + 2 + 'Ozzimander was born in Harlow.'.length);  // "\n\n" between texts
  a.dispose();
  b.dispose();
});

test('a cancelled remember changes nothing, and the machine keeps working', async () => {
  const machine = await loadMachine(BANK);
  await machine.remember(TEXT);
  const file = machine.exportMemory();
  const remembered = probabilities(machine, PROMPT);
  const controller = new AbortController();
  const long = 'A long letter about the weather and the harvest in the valley. '.repeat(40);
  await assert.rejects(
    machine.remember(long, { signal: controller.signal, onProgress: ({ done }) => { if (done > 0) controller.abort(); } }),
    (error) => error.name === 'AbortError',
  );
  assert.deepEqual(machine.exportMemory(), file);
  assert.deepEqual(probabilities(machine, PROMPT), remembered);
  // forget() during a remember stops it too, and the memory is gone.
  const pending = machine.remember(long);
  machine.forget();
  await assert.rejects(pending, (error) => error.name === 'AbortError');
  assert.equal(machine.memory, null);
  machine.dispose();
});

test('bad input to remember: each a MemreadError with its code, and the machine keeps working', async () => {
  const machine = await loadMachine(BANK);
  await assert.rejects(machine.remember(''), isMemreadError('EMPTY_TEXT', /empty/));
  await assert.rejects(machine.remember('a'), isMemreadError('EMPTY_TEXT', /one token/));
  await assert.rejects(machine.remember(42), isMemreadError('BAD_TYPE'));
  await assert.rejects(machine.remember(TEXT, { gate: 1.5 }), isMemreadError('BAD_OPTION', /gate/));
  await assert.rejects(machine.remember(TEXT, { passes: 0 }), isMemreadError('BAD_OPTION', /passes/));
  await machine.remember(TEXT);
  await assert.rejects(machine.remember(TEXT, { gate: 0.9 }), isMemreadError('BAD_OPTION', /other parameters/));
  const busy = machine.remember('Another text to remember, a little longer than one token.');
  await assert.rejects(machine.remember(TEXT), isMemreadError('BUSY'));
  await busy;
  // Many MB: refused before anything is allocated for it, naming the limit.
  const huge = 'Twelve barrels of apples went to the market at dawn. '.repeat(60000);  // 3.2 MB
  await assert.rejects(machine.remember(huge), isMemreadError('OUT_OF_MEMORY', /limit/));
  assert.ok(probabilityOf(machine, PROMPT, 'O') > 0.02);
  machine.dispose();
});

test('a memory of another bank, or a damaged memory file, is refused with BAD_MEMORY', async () => {
  const other = await loadMachine(OTHER_BANK);
  await other.remember('the cat sat on the mat and the dog sat on the log');
  const foreign = other.exportMemory();
  const machine = await loadMachine(BANK);
  await machine.remember(TEXT);
  const file = machine.exportMemory();
  const remembered = probabilities(machine, PROMPT);
  await assert.rejects(machine.loadMemory(foreign), isMemreadError('BAD_MEMORY', /another bank/));
  await assert.rejects(machine.loadMemory(file.slice(0, file.length - 10)), isMemreadError('BAD_MEMORY', /truncated|bytes/));
  const header = file.slice();
  header[20] = 0x7b;  // '{' inside the JSON header
  await assert.rejects(machine.loadMemory(header), isMemreadError('BAD_MEMORY'));
  await assert.rejects(machine.loadMemory(42), isMemreadError('BAD_TYPE'));
  await assert.rejects(loadMachine(BANK, { memory: foreign }), isMemreadError('BAD_MEMORY', /another bank/));
  // The memory the machine had is still there.
  assert.deepEqual(probabilities(machine, PROMPT), remembered);
  assert.throws(() => other.exportMemory() && (other.forget(), other.exportMemory()), isMemreadError('NO_MEMORY'));
  for (const m of [machine, other]) m.dispose();
  await assert.rejects(machine.remember(TEXT), isMemreadError('DISPOSED'));
});
