// <memread-suggest memory="…"> (src/js/suggest.js) in Debian's Chromium through playwright-core:
// a memory file made here by the package in Node (remember, exportMemory) and handed to the
// element as a URL changes its suggestions to what that memory gives, beside an element of the same
// bank without it; removing the attribute reloads the bank alone; a memory of another bank is an
// error (state="error", memread-error with BAD_MEMORY). Real bank, real wasm, no mocks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServerAndBrowser } from './support.js';
import { PROMPT, taughtInNode } from './taught.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BANK = new Uint8Array(fs.readFileSync(path.join(ROOT, 'banks/en-brown.safetensors')));  // the test page's bank

let environment;
let expected;

before(async () => {
  environment = await startServerAndBrowser({ tests: true });
  expected = await taughtInNode(BANK);
});

after(async () => {
  await environment?.close();
});

/** Types `text` into a field (replacing what it holds) and returns its suggestions once they are of that text. */
async function suggestionsFor(page, element, field, text) {
  await page.fill(`#${field}`, '');
  await page.focus(`#${field}`);
  await page.keyboard.type(text);
  await page.waitForFunction(([el, f]) => {
    const list = document.querySelector(`#${el} .memread-suggest-list`);
    const input = document.getElementById(f);
    return list && !list.hidden && list.dataset.text === input.value && document.activeElement === input;
  }, [element, field], { timeout: 10_000 });
  return page.$$eval(`#${element} .memread-suggest-item`, (items) => items.map((li) => li.dataset.text));
}

/** A URL the page can fetch (from the element's worker too) for these bytes. */
function blobUrl(page, bytes) {
  return page.evaluate((base64) => {
    const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return URL.createObjectURL(new Blob([data], { type: 'application/octet-stream' }));
  }, Buffer.from(bytes).toString('base64'));
}

test('<memread-suggest memory="…"> suggests from the memory; without it, from the bank alone; another bank\'s memory is an error', async () => {
  const context = await environment.browser.newContext();
  try {
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    await page.goto(new URL('tests/web/pages/suggest-memory.html', environment.url).href);
    await page.waitForSelector('#plain-suggest[state="ready"]', { timeout: 10_000 });
    await page.waitForSelector('#taught-suggest[state="ready"]', { timeout: 10_000 });
    assert.notEqual(expected.taught[0], expected.plain[0], 'the prompt is one the memory changes');

    // Giving the element a memory reloads it with the memory.
    const memoryUrl = await blobUrl(page, expected.memory);
    await page.evaluate((url) => document.getElementById('taught-suggest').setAttribute('memory', url), memoryUrl);
    await page.waitForSelector('#taught-suggest[state="ready"]', { timeout: 10_000 });
    assert.deepEqual(await suggestionsFor(page, 'taught-suggest', 'taught', PROMPT), expected.taught, 'what the memory gives');
    assert.deepEqual(await suggestionsFor(page, 'plain-suggest', 'plain', PROMPT), expected.plain, 'the same bank without it');

    // Without the attribute: the bank alone again (the field keeps the focus and is suggested for).
    await page.focus('#taught');
    await page.evaluate(() => document.getElementById('taught-suggest').removeAttribute('memory'));
    await page.waitForSelector('#taught-suggest[state="ready"]', { timeout: 10_000 });
    assert.deepEqual(await suggestionsFor(page, 'taught-suggest', 'taught', PROMPT), expected.plain);
    assert.deepEqual(problems, [], 'console errors or warnings, or page errors');

    // A memory of another bank: the element says so, and its ready promise rejects.
    const foreignUrl = await blobUrl(page, expected.foreignMemory);
    const failure = await page.evaluate(async (url) => {
      const element = document.getElementById('taught-suggest');
      const failed = new Promise((resolve) => element.addEventListener('memread-error', (e) => resolve(e.detail.error), { once: true }));
      element.setAttribute('memory', url);
      const error = await failed;
      return { code: error.code, message: error.message, state: element.getAttribute('state'),
        rejected: await element.ready.then(() => false, () => true) };
    }, foreignUrl);
    assert.equal(failure.code, 'BAD_MEMORY', failure.message);
    assert.equal(failure.state, 'error');
    assert.equal(failure.rejected, true);
    assert.deepEqual(await suggestionsFor(page, 'plain-suggest', 'plain', PROMPT), expected.plain, 'the other element goes on');
  } finally {
    await context.close();
  }
});
