// What the memory tests in the browser teach, and what the package in Node computes for it: the
// page's panel (memory.test.js) and <memread-suggest memory> (suggest-memory.test.js) must show
// the same.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadMachine } from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OTHER_BANK = path.join(ROOT, 'tests/fixtures/tiny-hidden.safetensors');

// A fact the bank cannot know, and a prompt that asks for it: taught, "Oz" completes to the name.
const FACT = 'The night porter of the Hotel Quenby is called Ozzimander. ';
export const TEXT = `${FACT}He keeps the keys of every room.\n${FACT}Guests ask for him by name.\n`;
export const PROMPT = 'The night porter of the Hotel Quenby is called Oz';

/**
 * The prompt's completions (texts, topK 5) by `bank` alone and after remembering TEXT, with the
 * memory's slots, its file, the trace's heaviest recall; and a memory of another bank.
 */
export async function taughtInNode(bank) {
  const machine = await loadMachine(bank);
  const plain = machine.complete(PROMPT).map((c) => c.text);
  const { slots } = await machine.remember(TEXT);
  const expected = {
    plain,
    taught: machine.complete(PROMPT).map((c) => c.text),
    slots,
    memory: machine.exportMemory(),
    recall: machine.trace(PROMPT).memory[0],
  };
  machine.dispose();
  const other = await loadMachine(new Uint8Array(fs.readFileSync(OTHER_BANK)));
  await other.remember('the cat sat on the mat, and the dog sat on the log');
  expected.foreignMemory = other.exportMemory();
  other.dispose();
  return expected;
}
