// The bank cache (src/js/bank-cache.js): in Chromium a bank fetched once is read from the Cache
// API afterwards, by the page and by a worker; cache: false and clearBankCache() do what they
// say; a 404, an HTML page, junk bytes and a quota failure are handled as index.d.ts says. And in
// Node, which has no Cache API, fetchBank is a plain fetch with the same checks.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { clearBankCache, fetchBank } from '../../src/js/bank-cache.js';
import { startServer } from '../../scripts/serve.js';
import { FIXTURE, openHarness, startBadServer } from './support.js';

const timeout = 60_000;  // each test takes well under a second; a hang fails instead of blocking
const bankBytes = new Uint8Array(await readFile(new URL(`../..${FIXTURE}`, import.meta.url)));

let harness, bad;
before(async () => {
  harness = await openHarness();
  bad = await startBadServer({ stalledPrefix: bankBytes.subarray(0, 4096) });
});
after(async () => {
  await bad?.close();
  await harness?.close();
});

function assertNoProblems() {
  assert.deepEqual(harness.problems.splice(0), [], 'page errors or console errors');
}

/** Runs `fn(args)` in the page, after emptying the bank cache; returns its result. */
async function inPage(fn, args) {
  await harness.page.evaluate(() => memread.clearBankCache());
  return harness.page.evaluate(fn, args);
}

test('a bank fetched once is read from the cache afterwards, by the page and by a worker', { timeout }, async () => {
  harness.hits.clear();
  const result = await inPage(async ({ url }) => {
    const firstProgress = [], cachedProgress = [];
    const first = await memread.loadMachine(url, { onProgress: (p) => firstProgress.push(p) });
    const second = await memread.loadMachine(url, { onProgress: (p) => cachedProgress.push(p) });
    const inWorker = await memread.loadMachineInWorker(url);
    const same = JSON.stringify(second.predict('the jury', { topK: 3 }))
      === JSON.stringify(await inWorker.predict('the jury', { topK: 3 }));
    first.dispose();
    second.dispose();
    await inWorker.dispose();
    return { cached: await cachedUrls(), firstProgress: firstProgress.at(-1), cachedProgress: cachedProgress.at(-1), same };
  }, { url: FIXTURE });
  assert.equal(harness.hits.get(FIXTURE), 1, 'one request for three loads');
  assert.deepEqual(result.cached, [new URL(FIXTURE, harness.url).href], 'cached under its absolute URL');
  const whole = { loaded: bankBytes.length, total: bankBytes.length };
  assert.deepEqual(result.firstProgress, whole, 'progress of the download');
  assert.deepEqual(result.cachedProgress, whole, 'progress of the read from the cache');
  assert.equal(result.same, true, 'the cached bank is the same bank');
  assertNoProblems();
});

test('cache: false fetches every time and leaves the cache alone; clearBankCache() empties it', { timeout }, async () => {
  harness.hits.clear();
  const result = await inPage(async ({ url }) => {
    for (let i = 0; i < 3; i++) (await memread.loadMachine(url, { cache: false })).dispose();
    const afterUncached = await cachedUrls();
    (await memread.loadMachine(url)).dispose();             // fetched, cached
    (await memread.loadMachine(url, { cache: false })).dispose();  // fetched: not read from the cache
    const afterCached = await cachedUrls();
    const removed = await memread.clearBankCache();
    const afterClear = await cachedUrls();
    const again = await memread.clearBankCache();
    (await memread.loadMachine(url)).dispose();             // fetched again
    return { afterUncached, afterCached, removed, afterClear, again };
  }, { url: FIXTURE });
  assert.deepEqual(result.afterUncached, [], 'cache: false writes nothing');
  assert.equal(result.afterCached.length, 1);
  assert.equal(result.removed, 1, 'clearBankCache() says how many it removed');
  assert.deepEqual(result.afterClear, []);
  assert.equal(result.again, 0);
  assert.equal(harness.hits.get(FIXTURE), 6, 'three uncached loads, one cached, one uncached, one after the clear');
  assertNoProblems();
});

test('a 404, an HTML page and bytes that are not a bank are FETCH_FAILED naming the problem, and never cached', { timeout }, async () => {
  harness.hits.clear();
  bad.hits.clear();
  const missing = new URL('/tests/fixtures/missing.safetensors', harness.url).href;
  const page = new URL('/page.safetensors', bad.url).href;
  const junk = new URL('/junk.safetensors', bad.url).href;
  const result = await inPage(async ({ missing, page, junk }) => {
    const out = {};
    for (const [name, url] of Object.entries({ missing, page, junk })) {
      out[name] = [
        await settle(memread.loadMachine(url)),
        await settle(bankCache.fetchBank(url)),
        await settle(memread.loadMachineInWorker(url)),
      ];
    }
    out.cached = await cachedUrls();
    return out;
  }, { missing, page, junk });
  const expected = {
    missing: `${missing}: HTTP 404 Not Found`,
    page: `${page}: served as text/html, not a bank`,
    junk: `${junk}: not a safetensors bank (`,
  };
  for (const [name, message] of Object.entries(expected)) {
    for (const [i, answer] of result[name].entries()) {
      assert.equal(answer.code, 'FETCH_FAILED', `${name} #${i}: ${JSON.stringify(answer)}`);
      assert.equal(answer.memread, true);
      assert.ok(answer.message.startsWith(message), `${name} #${i}: "${answer.message}" starts with "${message}"`);
    }
  }
  assert.deepEqual(result.cached, [], 'nothing was cached');
  assert.equal(harness.hits.get('/tests/fixtures/missing.safetensors'), 3, 'the 404 was asked for each time');
  assert.equal(bad.hits.get('/page.safetensors'), 3, 'the HTML page was asked for each time');
  assert.equal(bad.hits.get('/junk.safetensors'), 3, 'the junk was asked for each time');
  assertNoProblems();
});

test('when the cache cannot store a bank (quota), the load still succeeds from memory', { timeout }, async () => {
  harness.hits.clear();
  const result = await inPage(async ({ url }) => {
    const put = Cache.prototype.put;
    Cache.prototype.put = () => Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    try {
      const machine = await memread.loadMachine(url);
      const answered = machine.predict('the', { topK: 1 }).length;
      machine.dispose();
      (await memread.loadMachine(url)).dispose();
      return { answered, cached: await cachedUrls() };
    } finally {
      Cache.prototype.put = put;
    }
  }, { url: FIXTURE });
  assert.equal(result.answered, 1, 'the machine works');
  assert.deepEqual(result.cached, []);
  assert.equal(harness.hits.get(FIXTURE), 2, 'not cached, so fetched each time');
  assertNoProblems();
});

test('an abort stops a download that would never end, and nothing is cached', { timeout }, async () => {
  const stalled = new URL('/stalled.safetensors', bad.url).href;
  const result = await inPage(async ({ stalled }) => {
    const stop = new AbortController();
    const progress = [];
    const answer = await settle(bankCache.fetchBank(stalled, {
      signal: stop.signal,
      onProgress: (p) => {
        progress.push(p);
        stop.abort();  // the first bytes arrived: give up
      },
    }));
    const early = await settle(bankCache.fetchBank(stalled, { signal: AbortSignal.abort() }));
    return { answer, early, progress: progress[0], cached: await cachedUrls() };
  }, { stalled });
  assert.equal(result.answer.name, 'AbortError', JSON.stringify(result.answer));
  assert.equal(result.early.name, 'AbortError', JSON.stringify(result.early));
  assert.ok(result.progress.loaded > 0, 'the first bytes were reported');
  assert.equal(result.progress.total, 8192, 'Content-Length is the total');
  assert.deepEqual(result.cached, []);
  assertNoProblems();
});

test('in Node (no Cache API) fetchBank is a plain fetch with the same checks', { timeout }, async () => {
  const server = await startServer({ port: 0, tests: true });
  let requests = 0;
  server.server.on('request', () => requests++);
  try {
    const url = new URL(FIXTURE, server.url);
    const progress = [];
    const bytes = await fetchBank(url, { onProgress: (p) => progress.push(p) });
    await fetchBank(url.href);
    assert.deepEqual(bytes, bankBytes);
    assert.equal(requests, 2, 'no cache in Node: fetched each time');
    assert.deepEqual(progress.at(-1), { loaded: bankBytes.length, total: bankBytes.length });
    assert.equal(await clearBankCache(), 0);

    const failure = (code, pattern) => (error) => {
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    };
    await assert.rejects(fetchBank(new URL('/tests/fixtures/missing.safetensors', server.url)),
      failure('FETCH_FAILED', /missing\.safetensors: HTTP 404/));
    await assert.rejects(fetchBank(new URL('/page.safetensors', bad.url)),
      failure('FETCH_FAILED', /page\.safetensors: served as text\/html, not a bank/));
    await assert.rejects(fetchBank(new URL('/junk.safetensors', bad.url)),
      failure('FETCH_FAILED', /junk\.safetensors: not a safetensors bank \(its first 8 bytes give a header length/));
    await assert.rejects(fetchBank('banks/x.safetensors'),
      failure('FETCH_FAILED', /a relative URL needs a page to resolve against/));
    await assert.rejects(fetchBank('http://127.0.0.1:1/x.safetensors'), failure('FETCH_FAILED', /x\.safetensors: /));
    await assert.rejects(fetchBank(url, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  } finally {
    await server.close();
  }
});

test('the dev server serves the test pages and fixtures only when started with tests: true', { timeout }, async () => {
  for (const [tests, status] of [[false, 404], [true, 200]]) {
    const server = await startServer({ port: 0, tests });
    try {
      for (const path of [FIXTURE, '/tests/web/pages/harness.html']) {
        const res = await fetch(new URL(path, server.url));
        await res.arrayBuffer();
        assert.equal(res.status, status, `${path} with tests: ${tests}`);
      }
      const outside = await fetch(new URL('/tests/web/cache.test.js', server.url));
      assert.equal(outside.status, 404, 'the test files themselves are never served');
    } finally {
      await server.close();
    }
  }
});
