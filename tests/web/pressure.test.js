// The worker under pressure, in Debian's Chromium: a cancelled generation stops within one token
// (counted in the worker, by the clock the page shares with it) and the machine stays usable;
// 100 predicts fired in one burst answer only the latest (99 SUPERSEDED); a second bank loads
// while the first worker predicts; every method of a terminated or disposed worker machine
// refuses with its code. The worker runs instrumented (tests/web/pages/pressure-worker.js: the
// real worker.js, with pressure-stamps.js loaded first to stamp each token and message).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { biggerBank } from '../../bench/soak.js';
import { FIXTURE, openHarness } from './support.js';

const timeout = 120_000;
const ENDLESS = 2 ** 31 - 1;  // maxTokens of a generation that only an abort ends

let harness, bankServer;
before(async () => {
  harness = await openHarness();
  // Make loadMachineInWorker start the instrumented worker, and let the page ask it for its stamps.
  await harness.page.evaluate(() => {
    const RealWorker = window.Worker;
    window.workers = [];
    window.Worker = class InstrumentedWorker extends RealWorker {
      constructor(url, options) {
        const real = new URL(String(url), location.href).pathname === '/src/js/worker.js';
        super(real ? '/tests/web/pages/pressure-worker.js' : url, options);
        window.workers.push(this);
      }
    };
    /**
     * The worker's counts: {tokens: made so far, received: [{id, action, tokens: made when it arrived}]}.
     */
    window.workerStats = (worker) => new Promise((resolve) => {
      const listener = ({ data }) => {
        if (!data?.__stats) return;
        worker.removeEventListener('message', listener);
        resolve(data.__stats);
      };
      worker.addEventListener('message', listener);
      worker.postMessage({ __stats: true });
    });
    /** A token counter shared with `worker` (a SharedArrayBuffer: the test pages are cross-origin isolated). */
    window.shareCounter = (worker) => {
      const counter = new Int32Array(new SharedArrayBuffer(4));
      worker.postMessage({ __counter: counter.buffer });
      return counter;
    };
  });
  assert.equal(await harness.page.evaluate(() => crossOriginIsolated), true, 'the harness page is cross-origin isolated');
  // A bigger bank (d = 128, 4 layers, 2048 slots; made by build/native/memread random-bank), served
  // from another origin with the headers a cross-origin-isolated page needs.
  const bytes = fs.readFileSync(biggerBank());
  bankServer = http.createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length,
      'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin', 'Cache-Control': 'no-store',
    });
    res.end(bytes);
  });
  await new Promise((resolve) => bankServer.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  bankServer?.closeAllConnections();
  bankServer?.close();
  await harness?.close();
});

const biggerUrl = () => `http://127.0.0.1:${bankServer.address().port}/bigger.safetensors`;

function assertNoProblems() {
  assert.deepEqual(harness.problems.splice(0), [], 'page errors or console errors');
}

// Tokens are counted in the worker through a SharedArrayBuffer the page reads just before and
// just after it calls abort() (which posts the cancel): exact, no clocks. Per round:
//   - after the worker saw the cancel: 0, always (it waits a macrotask before each token and
//     checks the signal first);
//   - after abort() returned (the cancel was posted): at most the token in progress, 1, in the
//     median round. Not in every round: on a loaded machine a message can take longer to reach
//     the worker, or the worker's thread to run it, than a token takes (0.3 ms on the fixture),
//     and the worker cannot know of the abort before its message arrives;
//   - during the abort() call itself: what a stalled page thread (preempted, gc) let the worker
//     make; reported, not the worker's doing.
const BANKS = () => ({ fixture: FIXTURE, 'bigger (d128 L4 N2048)': biggerUrl() });

test('cancelling a generation stops it within one token, and the machine stays usable', { timeout }, async (t) => {
  for (const [name, url] of Object.entries(BANKS())) {
    const result = await harness.page.evaluate(async ([url, endless]) => {
      const main = await memread.loadMachine(url, { cache: false });
      const expected = main.predict('the jury said', { topK: 3 });
      main.dispose();
      const machine = await memread.loadMachineInWorker(url, { cache: false });
      const worker = workers.at(-1);
      const tokens = shareCounter(worker);
      const rounds = [];
      for (let round = 0; round < 8; round++) {
        const already = Atomics.load(tokens, 0);
        const stop = new AbortController();
        let before = 0, piecesAfter = 0, atAbort = 0, atAbortReturn = 0, error = null;
        try {
          const options = { maxTokens: endless, temperature: round % 2 ? 1 : 0, seed: round, signal: stop.signal };
          for await (const piece of machine.generate('the', options)) {
            void piece;
            if (stop.signal.aborted) piecesAfter++;
            else if (++before === 5 + 3 * round) {
              atAbort = Atomics.load(tokens, 0);  // tokens the worker made until this instant
              stop.abort();                       // posts the cancel to the worker
              atAbortReturn = Atomics.load(tokens, 0);
            }
          }
        } catch (e) {
          error = e.name;
        }
        // Calls run one at a time in the worker: this predict is answered only once the generation stopped.
        const top = await machine.predict('the jury said', { topK: 3 });
        const stats = await workerStats(worker);
        const cancel = stats.received.filter((m) => m.action === 'cancel').at(-1);
        rounds.push({
          error, before, piecesAfter, tokens: stats.tokens - already,
          tokensAfterAbort: stats.tokens - atAbort,
          tokensDuringAbort: atAbortReturn - atAbort,
          tokensAfterCancelArrived: stats.tokens - cancel.tokens,
          predictOk: JSON.stringify(top) === JSON.stringify(expected),
        });
      }
      await machine.dispose();
      return rounds;
    }, [url, ENDLESS]);

    for (const [i, round] of result.entries()) {
      const what = `${name}, round ${i}: ${JSON.stringify(round)}`;
      assert.equal(round.error, 'AbortError', what);
      assert.equal(round.piecesAfter, 0, `${what}: no piece reaches the loop after the abort`);
      assert.equal(round.tokensAfterCancelArrived, 0, `${what}: no token once the worker saw the cancel`);
      assert.equal(round.predictOk, true, `${what}: predict answers correctly afterwards`);
    }
    const afterPosted = result.map((r) => r.tokensAfterAbort - r.tokensDuringAbort).sort((a, b) => a - b);
    assert.ok(afterPosted[Math.floor(afterPosted.length / 2)] <= 1,
      `${name}: at most the token in progress after abort(), in the median round: ${JSON.stringify(result)}`);
    t.diagnostic(`${name}: tokens made after abort() was called, per round: ${result.map((r) => r.tokensAfterAbort).join(' ')}; during the abort() call itself: ${result.map((r) => r.tokensDuringAbort).join(' ')}; after the worker saw the cancel: ${result.map((r) => r.tokensAfterCancelArrived).join(' ')}; made before the abort: ${result.map((r) => r.tokens - r.tokensAfterAbort).join(' ')}`);
  }
  assertNoProblems();
});

test('100 predicts fired in one burst: 99 SUPERSEDED, the last one answered correctly, nothing else', { timeout }, async (t) => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const main = await memread.loadMachine(url, { cache: false });
    const machine = await memread.loadMachineInWorker(url);
    const worker = workers.at(-1);
    const texts = Array.from({ length: 100 }, (_, i) => `The jury said ${i} times`);
    const expected = texts.map((text) => main.predict(text, { topK: 5 }));
    const settleAll = (calls) => Promise.all(calls.map(settle));

    // 1. In one task: merged here, one predict sent.
    let received = (await workerStats(worker)).received.length;
    const sameTask = await settleAll(texts.map((text) => machine.predict(text, { topK: 5 })));
    const sentSameTask = (await workerStats(worker)).received.slice(received).filter((m) => m.action === 'predict').length;

    // 2. Each in its own task, while the worker is busy (a generation that only an abort ends): all
    //    sent, all but the newest dropped in the worker before being computed.
    received = (await workerStats(worker)).received.length;
    const stop = new AbortController();
    const pieces = machine.generate('the', { maxTokens: endless, signal: stop.signal });
    await pieces.next();  // the worker is generating
    const calls = [];
    for (const text of texts) {
      calls.push(settle(machine.predict(text, { topK: 5 })));
      await tick();
    }
    stop.abort();
    const generation = await settle(pieces.next());
    const separateTasks = await Promise.all(calls);
    const sentSeparately = (await workerStats(worker)).received.slice(received).filter((m) => m.action === 'predict').length;

    // 3. As typed (a task each, nothing else running): each answers for its own text or is SUPERSEDED.
    const typing = [];
    let text = '';
    for (let i = 0; i < 100; i++) {
      text += 'The jury said it again. '[i % 24];
      typing.push({ text, answer: settle(machine.predict(text, { topK: 5 })) });  // handled at once
      if (i % 3 === 0) await tick();
    }
    const typed = [];
    for (const { text, answer } of typing) {
      const got = await answer;
      typed.push({ got, expected: got.ok ? main.predict(text, { topK: 5 }) : null });
    }
    main.dispose();
    await machine.dispose();
    return { sameTask, sentSameTask, separateTasks, sentSeparately, generation, typed, expectedLast: expected.at(-1) };
  }, [FIXTURE, ENDLESS]);

  for (const [name, answers] of [['one task', result.sameTask], ['separate tasks', result.separateTasks]]) {
    const superseded = answers.filter((a) => a.code === 'SUPERSEDED' && a.memread);
    assert.equal(superseded.length, 99, `${name}: 99 SUPERSEDED, got ${JSON.stringify(answers.filter((a) => a.code !== 'SUPERSEDED').slice(0, 3))}`);
    assert.ok(answers.slice(0, 99).every((a) => a.code === 'SUPERSEDED'), `${name}: the 99 older ones`);
    assert.deepEqual(answers[99], { ok: result.expectedLast }, `${name}: the latest is answered, correctly`);
  }
  assert.equal(result.sentSameTask, 1, 'made in one task, only the last predict is sent to the worker');
  assert.equal(result.sentSeparately, 100, 'made in separate tasks, all 100 are sent (and 99 dropped there)');
  assert.equal(result.generation.name, 'AbortError', 'the generation that kept the worker busy was aborted');
  let answered = 0;
  for (const [i, { got, expected }] of result.typed.entries()) {
    if (got.ok) {
      answered++;
      assert.deepEqual(got.ok, expected, `typed predict ${i} answers for its own text`);
    } else {
      assert.equal(got.code, 'SUPERSEDED', `typed predict ${i}: ${JSON.stringify(got)}`);
    }
  }
  assert.ok(result.typed.at(-1).got.ok, 'the last typed predict answers');
  t.diagnostic(`typing: ${answered} of 100 predicts computed, ${100 - answered} SUPERSEDED`);
  assertNoProblems();
});

test('a second bank loads while the first worker predicts; a second load into the same worker is refused', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, bigger]) => {
    const mainA = await memread.loadMachine(url, { cache: false });
    const mainB = await memread.loadMachine(bigger, { cache: false });
    const long = 'the jury said so. '.repeat(30_000);  // ~0.5 MB: a predict of a few hundred ms
    const expected = { a: mainA.predict(long, { topK: 3 }), b: mainB.predict('the jury said', { topK: 3 }) };
    mainA.dispose();
    mainB.dispose();

    const a = await memread.loadMachineInWorker(url);
    const predicting = a.predict(long, { topK: 3 });
    const loading = memread.loadMachineInWorker(bigger, { cache: false });  // its own worker
    const [gotA, b] = await Promise.all([predicting, loading]);
    const gotB = await b.predict('the jury said', { topK: 3 });
    const infos = [a.info.config.dim, b.info.config.dim];

    // The worker protocol: a second load into a worker that holds a bank answers an error, and
    // the bank it holds keeps answering.
    const worker = new Worker('/src/js/worker.js', { type: 'module' });
    const answers = new Map();
    const ask = (message) => new Promise((resolve) => {
      answers.set(message.id, resolve);
      worker.postMessage(message);
    });
    worker.onmessage = ({ data }) => {
      if (!('progress' in data)) answers.get(data.id)?.(data);
    };
    const first = await ask({ id: 1, action: 'load', args: { source: new URL(url, location.href).href, options: {} } });
    const predict = ask({ id: 2, action: 'predict', args: { text: long, options: { topK: 3 } } });
    const second = await ask({ id: 3, action: 'load', args: { source: bigger, options: { cache: false } } });
    const afterSecond = await ask({ id: 4, action: 'predict', args: { text: 'the jury said', options: { topK: 3 } } });
    const protocol = { first: first.result?.config.dim, predict: (await predict).result, second: second.error, afterSecond: afterSecond.result };
    worker.terminate();
    await a.dispose();
    await b.dispose();
    return { expected, gotA, gotB, infos, protocol, expectedFixtureTop: (await (async () => {
      const m = await memread.loadMachine(url, { cache: false });
      const top = m.predict('the jury said', { topK: 3 });
      m.dispose();
      return top;
    })()) };
  }, [FIXTURE, biggerUrl()]);
  assert.deepEqual(result.gotA, result.expected.a, 'the first worker\'s predict answers correctly');
  assert.deepEqual(result.gotB, result.expected.b, 'the second bank answers correctly');
  assert.deepEqual(result.infos, [16, 128]);
  assert.equal(result.protocol.first, 16);
  assert.deepEqual(result.protocol.predict, result.expected.a, 'the predict running during the second load answers');
  assert.equal(result.protocol.second?.code, 'BAD_OPTION', JSON.stringify(result.protocol.second));
  assert.match(result.protocol.second.message, /already holds a bank/);
  assert.deepEqual(result.protocol.afterSecond, result.expectedFixtureTop, 'the first bank still answers');
  assertNoProblems();
});

test('every method of a terminated worker machine rejects TERMINATED; of a disposed one, DISPOSED', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const calls = (machine) => ({
      predict: () => machine.predict('x'),
      trace: () => machine.trace('x'),
      slotWeights: () => machine.slotWeights('x', { layer: 0, slot: 0 }),
      evaluate: () => machine.evaluate('x'),
      tokenize: () => machine.tokenize('x'),
      detokenize: () => machine.detokenize([1]),
      generate: () => machine.generate('x').next(),  // generate() itself throws: caught by settle
    });
    const out = {};
    for (const end of ['terminate', 'dispose']) {
      const machine = await memread.loadMachineInWorker(url);
      const pending = settle(machine.evaluate('the jury said so. '.repeat(5_000)));
      if (end === 'terminate') machine.terminate();
      else await machine.dispose();
      const answers = { pending: await pending };
      for (const [name, call] of Object.entries(calls(machine))) answers[name] = await settle(Promise.resolve().then(call));
      answers.disposeAgain = await settle(machine.dispose());
      answers.terminateAgain = await settle(Promise.resolve().then(() => machine.terminate()));
      answers.info = machine.info.config.dim;
      out[end] = answers;
    }
    return out;
  }, FIXTURE);
  for (const [end, code] of [['terminate', 'TERMINATED'], ['dispose', 'DISPOSED']]) {
    const answers = result[end];
    for (const name of ['predict', 'trace', 'slotWeights', 'evaluate', 'tokenize', 'detokenize', 'generate']) {
      assert.equal(answers[name].code, code, `${end}: ${name}: ${JSON.stringify(answers[name])}`);
      assert.equal(answers[name].memread, true);
    }
    assert.deepEqual(answers.disposeAgain, { ok: undefined }, `${end}: dispose() afterwards resolves`);
    assert.deepEqual(answers.terminateAgain, { ok: undefined }, `${end}: terminate() afterwards is fine`);
    assert.equal(answers.info, 16, `${end}: info stays readable`);
  }
  assert.equal(result.terminate.pending.code, 'TERMINATED', 'a call in flight when terminated');
  assert.ok(Number.isFinite(result.dispose.pending.ok?.bitsPerByte), 'a call made before dispose is answered');
  assertNoProblems();
});
