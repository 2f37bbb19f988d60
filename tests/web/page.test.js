// The demo page (web/index.html, what `npm start` serves at /) in Debian's Chromium through
// playwright-core, under the dev server's CSP (script-src 'self' 'wasm-unsafe-eval'): completions
// and raw predictions follow the typing and match the native CLI, Tab inserts the first completion,
// a click appends a raw token, the trace's weights sum to
// 1, a slot's weights show across the text, Generate streams the model's own continuation and Stop
// stops it, a malformed bank file shows its error while the loaded bank keeps working, a shipped
// bank is fetched once, the info panel says how a shipped bank was trained and the picker switches
// banks, every control is labelled and reachable by keyboard, and nothing logs an error.
// Screenshot: test-results/page.png.
//
// Bank-agnostic: the banks are those banks/index.json lists (the first is the page's default), and
// every expectation about them comes from the native CLI reading the same file.
//
// No timed assertions: the page says in the DOM what it shows (#next[data-text], #trace[data-text],
// #gen-status[data-state][data-pieces], data-weight on every weight), and the tests wait on that.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServerAndBrowser } from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'build/native/memread');
const SHIPPED = JSON.parse(fs.readFileSync(path.join(ROOT, 'banks/index.json'), 'utf8'));
const BANK = path.join(ROOT, 'banks', SHIPPED[0].file);  // the default bank
const BANK_URL_PATH = `/banks/${SHIPPED[0].file}`;

/** What the native CLI says of a bank file: {config, name, description, training, bytes, …}. */
function inspect(file) {
  return JSON.parse(execFileSync(CLI, ['inspect', '--bank', file, '--json'], { encoding: 'utf8' }));
}
const CONFIG = inspect(BANK).config;
const TOP_SLOTS = Math.min(8, CONFIG.slots);
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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

/** A fresh browser context with the demo page open and its bank loaded; problems collects errors. */
async function openDemo({ context } = {}) {
  const ctx = context ?? await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
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
  await page.goto(server.url);
  await page.waitForSelector('#bank-status[data-state="ready"]', { timeout: 10_000 });
  await fresh(page);
  return { page, context: ctx, problems };
}

/** Waits until the predictions on screen are those of the text in the box. */
async function fresh(page) {
  await page.waitForFunction(() => {
    const text = document.getElementById('text').value;
    return text !== '' && document.getElementById('next').dataset.text === text;
  }, null, { timeout: 10_000 });
}

/** Waits until the completions on screen are those of the text in the box. */
async function freshCompletions(page) {
  await page.waitForFunction(() => {
    const text = document.getElementById('text').value;
    return text !== '' && document.getElementById('completions').dataset.text === text;
  }, null, { timeout: 10_000 });
}

function completions(page) {
  return page.$$eval('#completions .completion', (buttons) => buttons.map((b) => ({
    text: b.dataset.text, prob: Number(b.dataset.prob),
    typed: b.querySelector('.typed').textContent, rest: b.querySelector('.rest').textContent,
  })));
}

function cliCompletions(text, top = 5) {
  return JSON.parse(execFileSync(CLI, ['complete', '--bank', BANK, '--top', String(top), '--json', text], { encoding: 'utf8' })).completions;
}

/** Waits until the trace on screen is that of the text in the box. */
async function freshTrace(page) {
  await page.waitForFunction(() => {
    const text = document.getElementById('text').value;
    return text !== '' && document.getElementById('trace').dataset.text === text;
  }, null, { timeout: 10_000 });
}

function predictions(page) {
  return page.$$eval('#next .suggestion', (buttons) => buttons.map((b) => ({
    id: Number(b.dataset.id), token: b.dataset.token, prob: Number(b.dataset.prob),
  })));
}

/** The info panel as {term: text}. */
async function infoRows(page) {
  return Object.fromEntries(await page.$$eval('#bank-info dt', (terms) => terms.map((dt) => [
    dt.textContent, dt.nextElementSibling?.textContent ?? '',
  ])));
}

async function noProblems(page, problems) {
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], 'CSP violations');
  assert.deepEqual(problems, [], 'console errors, page errors, failed requests or HTTP errors');
}

/** Puts the caret at the end of the text box and types, key by key. */
async function typeAtEnd(page, text) {
  await page.focus('#text');
  await page.keyboard.press('Control+End');
  await page.keyboard.type(text);
}

test('typing shows the raw next-token distribution (the CLI\'s), it follows the text, and a click appends a token', async () => {
  const { page, context, problems } = await openDemo();
  try {
    assert.equal(await page.inputValue('#text'), 'The jury said');
    const first = await predictions(page);
    assert.equal(first.length, 10);
    // The same bank read natively gives the same distribution.
    const cli = JSON.parse(execFileSync(CLI, ['predict', '--bank', BANK, '--top', '10', '--json', 'The jury said'], { encoding: 'utf8' }));
    assert.deepEqual(first.map((p) => p.id), cli.tokens.map((t) => t.id));
    first.forEach((p, i) => assert.ok(Math.abs(p.prob - cli.tokens[i].prob) < 1e-4, `prob of ${p.id}`));
    for (let i = 1; i < first.length; i++) assert.ok(first[i].prob <= first[i - 1].prob, 'most probable first');

    await typeAtEnd(page, ' that');
    await fresh(page);
    const second = await predictions(page);
    assert.equal(await page.inputValue('#text'), 'The jury said that');
    assert.equal(second.length, 10);
    assert.notDeepEqual(second, first, 'the distribution changed with the text');

    // A click on a raw token appends it (the focus stays in the text box).
    await page.click('#next li:nth-child(2) .suggestion');
    await fresh(page);
    assert.equal(await page.inputValue('#text'), `The jury said that${second[1].token}`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'text');

    // Esc, then Tab, leaves the text box.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    assert.notEqual(await page.evaluate(() => document.activeElement.id), 'text');
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('completions of a half-typed word are the CLI\'s, typed part and completion apart; Tab inserts the first, a click any', async () => {
  const { page, context, problems } = await openDemo();
  try {
    await page.fill('#text', '');
    await typeAtEnd(page, 'He walked into the ro');
    await freshCompletions(page);
    const shown = await completions(page);
    const cli = cliCompletions('He walked into the ro');
    assert.deepEqual(shown.map((c) => c.text), cli.map((c) => c.text));
    shown.forEach((c, i) => assert.ok(Math.abs(c.prob - cli[i].prob) < 1e-4, `prob of ${c.text}`));
    for (const c of shown) {
      assert.equal(c.typed, 'ro', 'the letters typed, shown apart');
      assert.ok(c.rest.length > 0, 'the completion, shown apart');
    }
    // The raw next tokens stay, below, read right after the half-typed word.
    await fresh(page);
    assert.equal((await predictions(page)).length, 10);

    // Tab inserts the first completion and keeps the focus in the text box.
    await page.keyboard.press('Tab');
    await freshCompletions(page);
    assert.equal(await page.inputValue('#text'), `He walked into the ro${cli[0].text}`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'text');

    // After a space: the next words. A click on the second inserts it.
    await typeAtEnd(page, ' ');
    await freshCompletions(page);
    const next = cliCompletions(await page.inputValue('#text'));
    assert.deepEqual((await completions(page)).map((c) => c.text), next.map((c) => c.text));
    assert.deepEqual((await completions(page)).map((c) => c.typed), next.map(() => ''), 'nothing typed yet');
    const before = await page.inputValue('#text');
    await page.click('#completions li:nth-child(2) .suggestion');
    await freshCompletions(page);
    assert.equal(await page.inputValue('#text'), `${before}${next[1].text}`);
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('the trace: each layer\'s context weights sum to 1, slots are labelled, a selected slot shows its weight across the text', async () => {
  const { page, context, problems } = await openDemo();
  try {
    await typeAtEnd(page, ' that the city');
    await fresh(page);
    await freshTrace(page);
    const layers = await page.$$eval('#trace .layer', (cards) => cards.map((card) => ({
      context: [...card.querySelectorAll('.chips.context .chip[data-weight]')].map((c) => Number(c.dataset.weight)),
      current: card.querySelectorAll('.chips.context .chip.current').length,
      reads: [...card.querySelectorAll('ol.slots')].map((list) => ({
        read: list.dataset.read,
        slots: [...list.querySelectorAll('button.slot')].map((b) => ({
          weight: Number(b.dataset.weight), label: b.querySelector('.slot-label').textContent,
        })),
        rest: Number(list.querySelector('.slot-rest')?.dataset.weight ?? 0),
      })),
    })));
    const tokens = await page.evaluate(() => document.querySelectorAll('#trace .layer[data-layer="0"] .chips.context .chip').length);
    assert.equal(layers.length, CONFIG.layers, 'one card per layer');
    for (const [l, layer] of layers.entries()) {
      assert.equal(layer.current, 1, 'the position being read is marked');
      assert.equal(layer.context.length, tokens - 1, 'a weight for every earlier token');
      const sum = layer.context.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `layer ${l}: the context weights sum to ${sum}`);
      assert.deepEqual(layer.reads.map((r) => r.read), ['assoc', 'mlp']);
      for (const read of layer.reads) {
        assert.equal(read.slots.length, TOP_SLOTS, `the top ${TOP_SLOTS} slots`);
        for (let i = 1; i < TOP_SLOTS; i++) assert.ok(read.slots[i].weight <= read.slots[i - 1].weight, 'heaviest first');
        for (const slot of read.slots) assert.match(slot.label, /^.+→.+$/, 'labelled key → value');
        const shown = read.slots.reduce((a, s) => a + s.weight, 0);
        assert.ok(shown > 0 && shown <= 1 + 1e-5, `${read.read}: the top slots weigh ${shown}`);
        assert.ok(Math.abs(shown + read.rest - 1) < 1e-5, 'the top slots and the others make 1');
      }
    }

    // Select a slot of the last layer with the keyboard: focus the list (one Tab stop), ↓ to the
    // second slot, Enter.
    const last = CONFIG.layers - 1;
    const mlpSlots = `#trace .layer[data-layer="${last}"] ol.slots[data-read="mlp"] button.slot`;
    const others = (value) => Array(TOP_SLOTS - 1).fill(value);
    assert.deepEqual(await page.$$eval(mlpSlots, (bs) => bs.map((b) => b.tabIndex)), [0, ...others(-1)]);
    await page.focus(mlpSlots);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#slot-strip .chip[data-weight]');
    assert.deepEqual(await page.$$eval(mlpSlots, (bs) => bs.map((b) => b.getAttribute('aria-pressed'))),
      ['false', 'true', ...others('false').slice(1)]);
    const strip = await page.$$eval('#slot-strip .chip', (chips) => chips.map((c) => Number(c.dataset.weight)));
    assert.equal(strip.length, tokens, 'a weight at every position of the text');
    for (const w of strip) assert.ok(w >= 0 && w <= 1, `slot weight ${w} in [0, 1]`);
    assert.ok(await page.isVisible(`#trace .layer[data-layer="${last}"] #slot-detail`), 'shown under its layer');

    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results/page.png'), fullPage: true });
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('Generate streams the model\'s continuation into the text, and Stop stops it at once', async () => {
  const { page, context, problems } = await openDemo();
  try {
    // Count the pieces as they arrive: streaming means several updates before the end.
    await page.evaluate(() => {
      window.__seen = [];
      const status = document.getElementById('gen-status');
      new MutationObserver(() => window.__seen.push(`${status.dataset.state}:${status.dataset.pieces}`))
        .observe(status, { attributes: true, attributeFilter: ['data-pieces'] });
    });
    await page.fill('#text', 'The jury');
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '20');
    await page.click('#generate');
    await page.waitForSelector('#gen-status[data-state="done"]', { timeout: 10_000 });
    // The page's penalties are on by default (repetition 1.3, no repeated 3-gram).
    assert.equal(await page.inputValue('#repetition-penalty'), '1.3');
    assert.equal(await page.inputValue('#no-repeat-ngram'), '3');
    const cli = JSON.parse(execFileSync(CLI, ['generate', '--bank', BANK, '--max', '20', '--temperature', '0',
      '--repetition-penalty', '1.3', '--no-repeat-ngram', '3', '--json', 'The jury'], { encoding: 'utf8' }));
    assert.equal(await page.inputValue('#text'), `The jury${cli.text}`, 'greedy: the native CLI\'s continuation');
    const streamed = new Set((await page.evaluate(() => window.__seen)).filter((s) => s.startsWith('generating:')));
    assert.ok(streamed.size >= 5, `pieces arrived one by one (${[...streamed].join(' ')})`);
    await fresh(page);

    // A long generation, stopped: Stop ends it, and nothing is added afterwards. Stop is clicked
    // from the page itself as the third piece arrives: a small bank can stream 2000 tokens in about
    // a second, while the pieces keep the page too busy to paint (and so to answer a poll).
    await page.fill('#temperature', '1');
    await page.fill('#max-tokens', '2000');
    await page.evaluate(() => {
      const status = document.getElementById('gen-status');
      window.__stop = null;
      const observer = new MutationObserver(() => {
        if (status.dataset.state !== 'generating' || Number(status.dataset.pieces) < 3) return;
        observer.disconnect();
        window.__stop = { pieces: Number(status.dataset.pieces), readOnly: document.getElementById('text').readOnly };
        document.getElementById('stop').click();
      });
      observer.observe(status, { attributes: true, attributeFilter: ['data-pieces'] });
    });
    await page.click('#generate');
    await page.waitForSelector('#gen-status[data-state="stopped"]', { timeout: 10_000 });
    const stop = await page.evaluate(() => window.__stop);
    assert.equal(stop?.pieces, 3, 'Stop was clicked while it streamed');
    assert.equal(stop.readOnly, true, 'the text is read-only while it streams');
    const stopped = await page.inputValue('#text');
    const pieces = Number(await page.getAttribute('#gen-status', 'data-pieces'));
    assert.ok(pieces < 2000, `stopped before the end (${pieces} pieces)`);
    // The prediction after the generation is answered after it in the worker: once it is on
    // screen, the generation has no more pieces to deliver.
    await fresh(page);
    assert.equal(await page.inputValue('#text'), stopped, 'nothing added after Stop');
    assert.equal(await page.getAttribute('#text', 'readonly'), null, 'editable again');
    assert.equal(await page.isEnabled('#generate'), true);
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('a malformed bank file (opened or dropped) shows its error and the loaded bank keeps predicting; a valid file replaces it', async () => {
  const { page, context, problems } = await openDemo();
  try {
    // Dropped on the page: an HTML page saved as a bank.
    await page.evaluate(() => {
      const data = new DataTransfer();
      data.items.add(new File(['<!doctype html><title>Not found</title>'], 'page.safetensors'));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    await page.waitForSelector('#bank-error:not([hidden]):has-text("page.safetensors")', { timeout: 10_000 });
    assert.match(await page.textContent('#bank-error'), /not a valid memread bank/);

    const truncated = fs.readFileSync(BANK).subarray(0, 4000);  // a whole header, most tensors missing
    await page.setInputFiles('#bank-file', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: truncated });
    await page.waitForSelector('#bank-error:not([hidden])', { timeout: 10_000 });
    await page.waitForSelector('#bank-error:not([hidden]):has-text("broken.safetensors")', { timeout: 10_000 });
    const message = await page.textContent('#bank-error');
    assert.match(message, /broken\.safetensors/);
    assert.match(message, /not a valid memread bank/, 'the MemreadError message');
    assert.match(message, new RegExp(`Still reading with ${escapeRegExp(SHIPPED[0].name)}`));
    assert.equal(await page.getAttribute('#bank-status', 'data-state'), 'ready');
    assert.equal(await page.inputValue('#bank-select'), '0', 'the picker still shows the bank in use');

    const before = await predictions(page);
    await typeAtEnd(page, ' so');
    await fresh(page);
    const afterTyping = await predictions(page);
    assert.equal(afterTyping.length, 10, 'still predicting');
    assert.notDeepEqual(afterTyping, before);

    // A good file: it replaces the bank, the error goes, the info panel describes it.
    await page.setInputFiles('#bank-file', path.join(ROOT, 'tests/fixtures/tiny-input.safetensors'));
    await page.waitForSelector('#bank-status[data-state="ready"]:has-text("tiny-input.safetensors")', { timeout: 10_000 });
    assert.equal(await page.isHidden('#bank-error'), true);
    assert.match(await page.textContent('#bank-info'), /input \(every layer reads/);
    assert.match(await page.textContent('#bank-select option:checked'), /Your file: “tiny-input\.safetensors”/);
    await fresh(page);
    assert.ok((await predictions(page)).length > 0);
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('a shipped bank is fetched once: a reload reads it from the browser\'s cache', async () => {
  const context = await browser.newContext();
  try {
    const start = hits.get(BANK_URL_PATH) ?? 0;
    const first = await openDemo({ context });
    assert.equal((hits.get(BANK_URL_PATH) ?? 0) - start, 1);
    const bytes = fs.statSync(BANK).size.toLocaleString('en');
    assert.match(await first.page.textContent('#bank-info'), new RegExp(`\\(${bytes} bytes\\)`));
    await first.page.reload();
    await first.page.waitForSelector('#bank-status[data-state="ready"]', { timeout: 10_000 });
    await fresh(first.page);
    assert.equal((hits.get(BANK_URL_PATH) ?? 0) - start, 1, 'not fetched again');
    await noProblems(first.page, first.problems);
  } finally {
    await context.close();
  }
});

test('the info panel says how the bank was trained; the picker lists the shipped banks and switches to another', async () => {
  const { page, context, problems } = await openDemo();
  try {
    assert.deepEqual(await page.$$eval('#bank-select option', (options) => options.map((o) => o.textContent)),
      SHIPPED.map((entry) => entry.name || entry.file), 'the banks of banks/index.json, in its order');
    const info = await infoRows(page);
    assert.equal(info.About, SHIPPED[0].description, 'index.json\'s description');
    assert.doesNotMatch(Object.values(info).join(' '), /random weights|placeholder/i);
    // The training metadata the file records, in words (every shipped bank records it).
    const training = JSON.parse(inspect(BANK).training);
    assert.equal(info['Trained on'], training.corpus);
    assert.match(info.Training, new RegExp(`^${training.steps.toLocaleString('en')} steps`));
    assert.ok(info['Bits per byte'].includes(`${training.test_bits_per_byte.toFixed(3)} on the test text`), info['Bits per byte']);
    assert.ok(info['Bits per byte'].includes(`${training.validation_bits_per_byte.toFixed(3)} on the validation text`), info['Bits per byte']);
    assert.match(await page.textContent('#bank-note'),
      new RegExp(`${escapeRegExp(training.test_bits_per_byte.toFixed(3))} bits per byte`), 'the header says the measured figure');

    // Every other shipped bank, from the picker: its own predictions (the CLI's) and its own info.
    for (const [index, entry] of SHIPPED.entries()) {
      if (index === 0) continue;
      const file = path.join(ROOT, 'banks', entry.file);
      const config = inspect(file).config;
      await page.selectOption('#bank-select', String(index));
      await page.waitForSelector(`#bank-status[data-state="ready"]:has-text(${JSON.stringify(entry.name || entry.file)})`, { timeout: 10_000 });
      await typeAtEnd(page, ' that');  // predicted by the new bank (a predict of the old one is dropped)
      await fresh(page);
      const text = await page.inputValue('#text');
      const cli = JSON.parse(execFileSync(CLI, ['predict', '--bank', file, '--top', '10', '--json', text], { encoding: 'utf8' }));
      const shown = await predictions(page);
      assert.deepEqual(shown.map((p) => p.id), cli.tokens.map((t) => t.id), `${entry.file}: the CLI's top 10`);
      shown.forEach((p, i) => assert.ok(Math.abs(p.prob - cli.tokens[i].prob) < 1e-4, `${entry.file}: prob of ${p.id}`));
      const panel = await infoRows(page);
      assert.equal(panel.About, entry.description, `${entry.file}: index.json's description`);
      assert.match(panel.Model, new RegExp(`d = ${config.dim} · ${config.layers} layers?`), `${entry.file}: its own config`);
      if (config.position === 'none') assert.match(panel.Context, /order-blind/);
    }
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});

test('every control is labelled and the keyboard alone reaches the text, the bank controls and Generate', async () => {
  const { page, context, problems } = await openDemo();
  try {
    const unlabelled = await page.$$eval('input, select, textarea, button', (controls) => controls
      .filter((c) => {
        const byLabel = [...(c.labels ?? [])].some((l) => l.textContent.trim());
        const byAria = c.getAttribute('aria-label')?.trim()
          || (c.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim());
        const byText = c.tagName === 'BUTTON' && c.textContent.trim();
        return !(byLabel || byAria || byText);
      })
      .map((c) => c.outerHTML.slice(0, 80)));
    assert.deepEqual(unlabelled, []);

    await page.evaluate(() => document.activeElement?.blur());
    const reached = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || '');
      reached.push(id);
      if (id === 'generate') break;
    }
    for (const id of ['bank-select', 'bank-file', 'text', 'temperature', 'generate']) {
      assert.ok(reached.includes(id), `Tab reaches #${id} (${reached.join(', ')})`);
    }
    // Enter on the focused Generate button starts a generation; Stop has the focus then.
    await page.fill('#max-tokens', '3');
    await page.focus('#generate');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#gen-status[data-state="done"]', { timeout: 10_000 });
    await fresh(page);
    await noProblems(page, problems);
  } finally {
    await context.close();
  }
});
