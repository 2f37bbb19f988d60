// The demo page's "Teach it" panel (web/teach.js) in Debian's Chromium through playwright-core,
// with the shipped bank the page loads first and the real wasm module in its worker: a taught text
// changes the completions (to what the package in Node computes with the same memory), the trace
// shows the passage recalled, the memory survives a reload (IndexedDB), the switch turns it off and
// on, Forget drops it for good, Download and Open round-trip the memory file, a malformed or
// foreign memory file says why while the model keeps working, .txt files (added or dropped) are
// taught, Cancel leaves the memory as it was, and nothing logs an error.
//
// No timed assertions: the page says in the DOM what it shows (#teach[data-state][data-slots];
// #completions, #trace [data-text][data-memory]), and the tests wait on that.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadMachine } from '../../src/js/node.js';
import { startServerAndBrowser } from './support.js';
import { PROMPT, TEXT, taughtInNode } from './taught.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHIPPED = JSON.parse(fs.readFileSync(path.join(ROOT, 'banks/index.json'), 'utf8'));
const BANK = new Uint8Array(fs.readFileSync(path.join(ROOT, 'banks', SHIPPED[0].file)));  // the page's default

let environment;
let expected;  // what the package computes in Node, with and without the memory

before(async () => {
  environment = await startServerAndBrowser();
  expected = await taughtInNode(BANK);
});

after(async () => {
  await environment?.close();
});

/** A fresh browser context (its own IndexedDB) with the demo page open and its bank loaded. */
async function openDemo() {
  const context = await environment.browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  await page.goto(environment.url);
  await ready(page);
  return { page, context, problems };
}

/** Waits until the bank is loaded and the panel has looked for a memory kept for it. */
async function ready(page) {
  await page.waitForSelector('#bank-status[data-state="ready"]', { timeout: 10_000 });
  await page.waitForSelector('#teach:is([data-state="none"], [data-state="on"], [data-state="off"])', { timeout: 10_000 });
}

/** Puts the prompt in the text box and returns its completions, once computed with `slots` of memory. */
async function completionsOf(page, text, slots) {
  if (await page.inputValue('#text') !== text) await page.fill('#text', text);
  await page.waitForFunction(([want, memory]) => {
    const list = document.getElementById('completions');
    return document.getElementById('text').value === want && list.dataset.text === want
      && list.dataset.memory === String(memory);
  }, [text, slots], { timeout: 10_000 });
  return page.$$eval('#completions .completion', (buttons) => buttons.map((b) => b.dataset.text));
}

async function teach(page, text) {
  await page.fill('#teach-text', text);
  await page.click('#teach-button');
  await page.waitForSelector('#teach[data-state="on"]', { timeout: 10_000 });
  return Number(await page.getAttribute('#teach', 'data-slots'));
}

async function teachState(page) {
  return { state: await page.getAttribute('#teach', 'data-state'), slots: Number(await page.getAttribute('#teach', 'data-slots')) };
}

function noProblems(problems) {
  assert.deepEqual(problems, [], 'console errors, page errors or HTTP errors');
}

test('a taught text changes the completions, the trace shows the passage recalled, and a reload keeps it', async () => {
  const { page, context, problems } = await openDemo();
  try {
    assert.deepEqual(await teachState(page), { state: 'none', slots: 0 });
    assert.deepEqual(await completionsOf(page, PROMPT, 0), expected.plain, 'the bank\'s own');
    assert.notEqual(expected.taught[0], expected.plain[0], 'the prompt is one the memory changes');

    assert.equal(await teach(page, TEXT), expected.slots);
    assert.match(await page.textContent('#teach-status'),
      new RegExp(`Memory on: ${expected.slots} slots, \\d+\\.\\d\\d MB \\(from ${Buffer.byteLength(TEXT)} bytes of your text\\)`));
    assert.equal(await page.isChecked('#memory-on'), true);
    const taught = await completionsOf(page, PROMPT, expected.slots);
    assert.deepEqual(taught, expected.taught, 'what the package computes with the same memory');
    assert.equal(taught[0], 'zimander');

    // The trace: the passage recalled, the token it predicts marked, its weight.
    await page.waitForFunction(([text, slots]) => {
      const trace = document.getElementById('trace');
      return trace.dataset.text === text && trace.dataset.memory === String(slots);
    }, [PROMPT, expected.slots], { timeout: 10_000 });
    const recall = await page.$eval('#trace .memory-read .recall', (li) => ({
      weight: Number(li.dataset.weight),
      offset: Number(li.dataset.offset),
      before: li.querySelector('.passage-before').textContent,
      marked: li.querySelector('mark.predicted').textContent,
      after: li.querySelector('.passage-after').textContent,
      shown: li.querySelector('.pct').textContent,
    }));
    assert.ok(Math.abs(recall.weight - expected.recall.weight) < 1e-5, `weight ${recall.weight}`);
    assert.equal(recall.offset, expected.recall.offset);
    assert.ok(recall.before.endsWith('is called Oz'), recall.before);
    assert.equal(recall.marked, 'z', 'the token the slot predicts, marked');
    assert.ok(recall.after.startsWith('imander.'), recall.after);
    assert.equal(recall.shown, `${Math.round(recall.weight * 100)}%`);

    // A reload: the memory comes back from IndexedDB.
    await page.reload();
    await ready(page);
    assert.deepEqual(await teachState(page), { state: 'on', slots: expected.slots });
    assert.deepEqual(await completionsOf(page, PROMPT, expected.slots), expected.taught);
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test('the switch turns the memory off (the bank\'s own completions, nothing recalled) and on; Forget drops it, after a reload too', async () => {
  const { page, context, problems } = await openDemo();
  try {
    await teach(page, TEXT);
    await completionsOf(page, PROMPT, expected.slots);

    await page.uncheck('#memory-on');
    await page.waitForSelector('#teach[data-state="off"]');
    assert.equal(Number(await page.getAttribute('#teach', 'data-slots')), expected.slots, 'kept while off');
    assert.deepEqual(await completionsOf(page, PROMPT, 0), expected.plain);
    await page.waitForFunction((text) => {
      const trace = document.getElementById('trace');
      return trace.dataset.text === text && trace.dataset.memory === '0';
    }, PROMPT);
    assert.match(await page.textContent('#trace .memory-read'), /Nothing recalled/);
    // Off survives a reload: the kept memory stays off.
    await page.reload();
    await ready(page);
    assert.deepEqual(await teachState(page), { state: 'off', slots: expected.slots });
    assert.deepEqual(await completionsOf(page, PROMPT, 0), expected.plain);

    await page.check('#memory-on');
    await page.waitForSelector('#teach[data-state="on"]');
    assert.deepEqual(await completionsOf(page, PROMPT, expected.slots), expected.taught);

    await page.click('#memory-forget');
    await page.waitForSelector('#teach[data-state="none"]');
    assert.deepEqual(await completionsOf(page, PROMPT, 0), expected.plain);
    await page.reload();
    await ready(page);
    assert.deepEqual(await teachState(page), { state: 'none', slots: 0 });
    assert.deepEqual(await completionsOf(page, PROMPT, 0), expected.plain);
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test('Download gives the memory file and Open loads it back; a malformed or foreign memory file says why, and the model keeps working', async () => {
  const { page, context, problems } = await openDemo();
  try {
    await teach(page, TEXT);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#memory-download')]);
    assert.equal(download.suggestedFilename(), `${SHIPPED[0].file.replace(/\.safetensors$/, '')}.memory.safetensors`);
    const file = new Uint8Array(fs.readFileSync(await download.path()));
    // The file is a memory of this bank: the package in Node loads it.
    const machine = await loadMachine(BANK, { memory: file });
    assert.equal(machine.memory.slots, expected.slots);
    machine.dispose();

    await page.click('#memory-forget');
    await page.waitForSelector('#teach[data-state="none"]');
    await page.setInputFiles('#memory-file', { name: 'porter.memory.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(file) });
    await page.waitForSelector('#teach[data-state="on"]');
    assert.equal(Number(await page.getAttribute('#teach', 'data-slots')), expected.slots);
    assert.deepEqual(await completionsOf(page, PROMPT, expected.slots), expected.taught);

    // A truncated file, then a memory of another bank: said in the panel; the memory stays.
    await page.setInputFiles('#memory-file', { name: 'cut.memory.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(file.subarray(0, 300)) });
    await page.waitForSelector('#teach-error:not([hidden]):has-text("cut.memory.safetensors")');
    assert.match(await page.textContent('#teach-error'), /not a memory of the bank in use .*The model goes on as before\./);
    await page.setInputFiles('#memory-file', { name: 'cat.memory.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(expected.foreignMemory) });
    await page.waitForSelector('#teach-error:not([hidden]):has-text("cat.memory.safetensors")');
    assert.match(await page.textContent('#teach-error'), /not a memory of the bank in use/);
    assert.deepEqual(await teachState(page), { state: 'on', slots: expected.slots });
    assert.equal(await page.isHidden('#bank-error'), true, 'the page itself has no error');
    assert.deepEqual(await completionsOf(page, PROMPT, expected.slots), expected.taught, 'still reading with the memory');
    const other = `${PROMPT}zimander said`;
    assert.ok((await completionsOf(page, other, expected.slots)).length > 0, 'still completing as the text changes');
    noProblems(problems);
  } finally {
    await context.close();
  }
});

test('.txt files (added or dropped) are taught with the text; Cancel leaves the memory as it was; nothing to teach says so', async () => {
  const { page, context, problems } = await openDemo();
  try {
    await page.click('#teach-button');
    await page.waitForSelector('#teach-error:not([hidden])');
    assert.match(await page.textContent('#teach-error'), /^Nothing to teach: paste a text/);
    assert.deepEqual(await teachState(page), { state: 'none', slots: 0 });

    // Two files added with the file input, one dropped on the panel: taught, each on its own,
    // with the pasted text.
    const files = ['The garden gate is painted blue.\n', 'Our dog is a spaniel named Pickle.\n', 'The boat is moored at Pellow Quay.\n'];
    await page.setInputFiles('#teach-files', files.slice(0, 2).map((text, i) => ({ name: `note${i + 1}.txt`, mimeType: 'text/plain', buffer: Buffer.from(text) })));
    await page.evaluate((text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], 'note3.txt', { type: 'text/plain' }));
      document.getElementById('teach').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, files[2]);
    await page.waitForSelector('#teach-file-list li[data-name="note3.txt"]');
    assert.deepEqual(await page.$$eval('#teach-file-list li', (items) => items.map((li) => li.dataset.name)), ['note1.txt', 'note2.txt', 'note3.txt']);
    assert.equal(await page.getAttribute('#bank-status', 'data-state'), 'ready', 'the dropped file was not taken for a bank');
    assert.equal(await page.isHidden('#bank-error'), true);
    const machine = await loadMachine(BANK);
    const slots = [TEXT, ...files].reduce((sum, text) => sum + machine.tokenize(text).length - 1, 0);
    machine.dispose();
    const taught = await teach(page, TEXT);
    assert.equal(taught, slots, 'every text, each remembered on its own');
    assert.equal(await page.inputValue('#teach-text'), '', 'taught: the box is emptied');
    assert.equal(await page.isHidden('#teach-file-list'), true, 'taught: the files are cleared');
    assert.deepEqual(await completionsOf(page, PROMPT, taught), expected.taught);

    // A long text, cancelled as it is written: the memory is as it was.
    await page.fill('#teach-text', 'A long letter about the weather and the harvest in the valley. '.repeat(40));
    await page.click('#teach-button');
    await page.waitForFunction(() => document.getElementById('teach-progress').value > 0, null, { timeout: 10_000 });
    await page.click('#teach-cancel');
    await page.waitForSelector('#teach[data-state="on"]', { timeout: 10_000 });
    assert.match(await page.textContent('#teach-status'), /^Cancelled: the memory is as it was\./);
    assert.equal(Number(await page.getAttribute('#teach', 'data-slots')), taught);
    assert.equal(await page.isHidden('#teach-error'), true);
    assert.deepEqual(await completionsOf(page, PROMPT, taught), expected.taught);
    noProblems(problems);
  } finally {
    await context.close();
  }
});
