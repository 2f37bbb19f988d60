// The drop-in element <memread-suggest> (src/js/suggest.js, `memread/suggest`) on its example page
// (web/examples/embed.html), in Debian's Chromium through playwright-core, under the dev server's
// CSP: a wrapped textarea and a wrapped input get live completions (the bank's own, as the native
// CLI reads them), Tab inserts the first, a click inserts any, Esc hides them and lets Tab move on,
// mode="tokens" shows the raw next tokens, both elements share one bank fetch, and nothing logs an
// error. Screenshot: test-results/embed.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServerAndBrowser } from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BANK = path.join(ROOT, 'banks/en-brown.safetensors');  // the bank web/examples/embed.html names
const CLI = path.join(ROOT, 'build/native/memread');

let server;
let browser;
let hits;  // URL path → requests the server received
let environment;

before(async () => {
  environment = await startServerAndBrowser();
  ({ server, browser, hits } = environment);
});

after(async () => {
  await environment?.close();
});

async function openExample() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (event) => window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`));
  });
  await page.goto(new URL('web/examples/embed.html', server.url).href);
  await page.waitForSelector('#letter-suggest[state="ready"]', { timeout: 10_000 });
  await page.waitForSelector('#subject-suggest[state="ready"]', { timeout: 10_000 });
  return { page, context, problems };
}

/** The suggestions shown under a field, once they are those of its current text. */
async function suggestions(page, element, field) {
  await page.waitForFunction(([el, f]) => {
    const list = document.querySelector(`#${el} .memread-suggest-list`);
    const input = document.getElementById(f);
    return list && !list.hidden && list.dataset.text === input.value && document.activeElement === input
      && list.querySelectorAll('.memread-suggest-item').length > 0;
  }, [element, field], { timeout: 10_000 });
  return page.$$eval(`#${element} .memread-suggest-item`,
    (items) => items.map((li) => ({ text: li.dataset.text, prob: Number(li.dataset.prob) })));
}

function cli(...args) {
  return JSON.parse(execFileSync(CLI, [...args.slice(0, -1), '--json', args.at(-1)], { encoding: 'utf8' }));
}

test('<memread-suggest> gives a textarea and an input live completions; Tab or a click inserts, Esc hides', async () => {
  const { page, context, problems } = await openExample();
  try {
    // The textarea: the caret at the end, type half a word, the bank's own top 5 completions appear.
    await page.focus('#letter');
    await page.keyboard.press('Control+End');
    await page.keyboard.type(' it would not ha');
    const text = 'The jury said it would not ha';
    assert.equal(await page.inputValue('#letter'), text);
    const expected = cli('complete', '--bank', BANK, '--top', '5', text).completions;
    const shown = await suggestions(page, 'letter-suggest', 'letter');
    assert.deepEqual(shown.map((s) => s.text), expected.map((c) => c.text), 'the bank\'s top 5, most probable first');
    assert.deepEqual(await page.$$eval('#letter-suggest .memread-suggest-typed', (spans) => spans.map((s) => s.textContent)),
      expected.map(() => 'ha'), 'the letters typed, apart from the completion');
    assert.equal(await page.getAttribute('#letter', 'aria-controls'), await page.getAttribute('#letter-suggest ul', 'id'));

    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results/embed.png'), fullPage: true });

    // Tab inserts the first; the field keeps the focus and gets an input event.
    await page.evaluate(() => {
      window.__inputs = 0;
      document.getElementById('letter').addEventListener('input', () => window.__inputs++);
    });
    await page.keyboard.press('Tab');
    assert.equal(await page.inputValue('#letter'), text + shown[0].text);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'letter');
    assert.equal(await page.evaluate(() => window.__inputs), 1, 'an input event, as typing');
    await page.waitForSelector('#letter-status:has-text("Inserted")');

    // After a space, the next words: a click on the second inserts it.
    await page.keyboard.type(' ');
    const next = await suggestions(page, 'letter-suggest', 'letter');
    await page.click('#letter-suggest .memread-suggest-item:nth-child(2)');
    assert.equal(await page.inputValue('#letter'), `${text}${shown[0].text} ${next[1].text}`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'letter');

    // Esc hides them, and Tab then moves on to the next field.
    await suggestions(page, 'letter-suggest', 'letter');
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('#letter-suggest .memread-suggest-list'), true);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'subject');

    // The input (top="3"): the caret at the end, type, Tab inserts.
    await page.keyboard.press('End');
    await page.keyboard.type('ju');
    assert.equal(await page.inputValue('#subject'), 'The ju');
    const three = await suggestions(page, 'subject-suggest', 'subject');
    assert.deepEqual(three.map((s) => s.text), cli('complete', '--bank', BANK, '--top', '3', 'The ju').completions.map((c) => c.text));
    await page.keyboard.press('Tab');
    assert.equal(await page.inputValue('#subject'), `The ju${three[0].text}`);

    // mode="tokens": the raw next tokens, as predict gives them; Tab appends the first.
    await page.evaluate(() => document.getElementById('subject-suggest').setAttribute('mode', 'tokens'));
    await page.keyboard.type(' sa');
    const subject = await page.inputValue('#subject');
    const tokens = await suggestions(page, 'subject-suggest', 'subject');
    assert.deepEqual(tokens.map((s) => s.text), cli('predict', '--bank', BANK, '--top', '3', subject).tokens.map((t) => t.token));
    await page.keyboard.press('Tab');
    assert.equal(await page.inputValue('#subject'), subject + tokens[0].text);

    // Leaving a field hides its list.
    await page.focus('#letter');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.isHidden('#letter-suggest .memread-suggest-list'), true);

    // Both elements read one bank: one worker, one fetch.
    assert.equal(hits.get('/banks/en-brown.safetensors'), 1);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], 'CSP violations');
    assert.deepEqual(problems, [], 'console errors or warnings, page errors, failed requests or HTTP errors');
  } finally {
    await context.close();
  }
});

test('<memread-suggest> with a bank that cannot load says so (state="error", memread-error) and leaves the field alone', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(new URL('web/examples/embed.html', server.url).href);
    await page.waitForSelector('#letter-suggest[state="ready"]', { timeout: 10_000 });
    const result = await page.evaluate(async () => {
      const element = document.createElement('memread-suggest');
      element.setAttribute('bank', '/banks/no-such-bank.safetensors');
      const field = document.createElement('input');
      field.value = 'The jury';
      element.append(field);
      const failed = new Promise((resolve) => element.addEventListener('memread-error', (e) => resolve(e.detail.error.message)));
      document.body.append(element);
      const message = await failed;
      field.focus();
      return { message, state: element.getAttribute('state'), rejected: await element.ready.then(() => false, () => true) };
    });
    assert.equal(result.state, 'error');
    assert.equal(result.rejected, true);
    assert.match(result.message, /no-such-bank\.safetensors/);
    await page.keyboard.press('Tab');  // no suggestions: Tab is Tab
  } finally {
    await context.close();
  }
});
