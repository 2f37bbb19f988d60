// The worker client in Debian's Chromium: a bank loaded in a module worker answers exactly as the
// main-thread machine does; latest predict wins; AbortSignal, dispose() and terminate() end calls
// as index.d.ts says; errors keep their codes across the boundary; the worker's protocol answers
// unknown actions. Every test drives the harness page (tests/web/pages/) with page.evaluate().
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { FIXTURE, openHarness } from './support.js';

const timeout = 60_000;  // each test takes well under a second; a hang fails instead of blocking

const ENDLESS = 2 ** 31 - 1;  // maxTokens of a generation that only an abort ends

let harness;
before(async () => {
  harness = await openHarness();
});
after(async () => {
  await harness?.close();
});

function assertNoProblems() {
  assert.deepEqual(harness.problems.splice(0), [], 'page errors or console errors');
}

function assertError(actual, code, what, messagePart) {
  assert.ok(actual && !('ok' in actual), `${what}: expected ${code}, got ${JSON.stringify(actual)}`);
  if (code === 'AbortError') {
    assert.equal(actual.name, 'AbortError', `${what}: ${JSON.stringify(actual)}`);
  } else {
    assert.equal(actual.code, code, `${what}: ${actual.message}`);
    assert.equal(actual.memread, true, `${what}: a MemreadError on this side of the worker`);
  }
  if (messagePart) assert.match(actual.message, messagePart, what);
}

test('a bank loads in a worker from a URL, an ArrayBuffer, a Uint8Array, a Blob and a Response, and answers as the main-thread machine does', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const text = 'hello world, the jury said';
    const main = await memread.loadMachine(url, { cache: false });
    const ids = main.tokenize(text);
    const expected = {
      info: main.info,
      predict: main.predict(text, { topK: 5 }),
      complete: main.complete('hello world, the ju', { topK: 3 }),
      tokenize: Array.from(ids),
      detokenize: main.detokenize(ids),
      evaluate: main.evaluate(text),
      trace: plainTrace(main.trace(text, { topSlots: 4 })),
      slotWeights: Array.from(main.slotWeights(text, { layer: 1, read: 'mlp', slot: 3 })),
      greedy: await collect(main.generate('the', { maxTokens: 24, temperature: 0 })),
      sampled: await collect(main.generate('the', { maxTokens: 24, seed: 7 })),
    };
    main.dispose();

    const progress = [];
    const byUrl = await memread.loadMachineInWorker(url, { cache: false, onProgress: (p) => progress.push(p) });
    const buffer = await (await fetch(url)).arrayBuffer();
    const size = buffer.byteLength;
    const byBuffer = await memread.loadMachineInWorker(buffer);
    const bufferAfter = buffer.byteLength;
    const array = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const byArray = await memread.loadMachineInWorker(array);
    const byBlob = await memread.loadMachineInWorker(new Blob([array]));
    const byResponse = await memread.loadMachineInWorker(await fetch(url));

    const got = [];
    for (const machine of [byUrl, byBuffer, byArray, byBlob, byResponse]) {
      const tokens = await machine.tokenize(text);
      got.push({
        info: machine.info,
        predict: await machine.predict(text, { topK: 5 }),
        complete: await machine.complete('hello world, the ju', { topK: 3 }),
        tokenize: Array.from(tokens),
        detokenize: await machine.detokenize(tokens),
        evaluate: await machine.evaluate(text),
        trace: plainTrace(await machine.trace(text, { topSlots: 4 })),
        slotWeights: Array.from(await machine.slotWeights(text, { layer: 1, read: 'mlp', slot: 3 })),
        greedy: await collect(machine.generate('the', { maxTokens: 24, temperature: 0 })),
        sampled: await collect(machine.generate('the', { maxTokens: 24, seed: 7 })),
        tokensType: tokens.constructor.name,
      });
      await machine.dispose();
    }
    return { expected, got, size, bufferAfter, arrayLength: array.length, progress };
  }, FIXTURE);

  const { expected, got } = result;
  assert.ok(expected.predict.length === 5 && expected.greedy.length > 0, 'the main-thread machine answers');
  assert.equal(expected.trace.idsType, 'Int32Array');
  for (const [i, source] of ['URL', 'ArrayBuffer', 'Uint8Array', 'Blob', 'Response'].entries()) {
    const { tokensType, ...answers } = got[i];
    assert.deepEqual(answers, expected, `loaded from a ${source}: the worker answers as the main thread`);
    assert.equal(tokensType, 'Int32Array', `${source}: tokenize gives an Int32Array`);
  }
  assert.equal(result.bufferAfter, 0, 'the ArrayBuffer was transferred to the worker (detached here)');
  assert.equal(result.arrayLength, result.size, 'the Uint8Array was copied (the caller keeps it)');
  assert.ok(result.progress.length >= 1, 'progress reached the page');
  assert.deepEqual(result.progress.at(-1), { loaded: result.size, total: result.size }, 'the last progress is the whole file');
  assertNoProblems();
});

test('latest predict wins: of 20 predicts made at once only the last is computed, the others reject SUPERSEDED', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const main = await memread.loadMachine(url, { cache: false });
    const machine = await memread.loadMachineInWorker(url);
    const calls = [];
    for (let i = 0; i < 20; i++) calls.push(machine.predict(`the jury said ${i}`, { topK: 3 }));
    const answers = await Promise.all(calls.map(settle));
    const expected = main.predict('the jury said 19', { topK: 3 });
    main.dispose();
    await machine.dispose();
    return { answers, expected };
  }, FIXTURE);
  for (const [i, answer] of result.answers.slice(0, 19).entries()) assertError(answer, 'SUPERSEDED', `predict ${i}`);
  assert.deepEqual(result.answers[19], { ok: result.expected }, 'the last predict answers');
  assertNoProblems();
});

test('latest complete wins, apart from predicts: a keystroke asks for both and gets both', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const main = await memread.loadMachine(url, { cache: false });
    const machine = await memread.loadMachineInWorker(url);
    // Made at once: merged on this side.
    const calls = [];
    for (let i = 0; i < 6; i++) {
      calls.push(machine.complete(`the jury sa${'i'.repeat(i)}`, { topK: 3 }));
      calls.push(machine.predict(`the jury sa${'i'.repeat(i)}`, { topK: 3 }));
    }
    const together = await Promise.all(calls.map(settle));
    // Sent one by one behind a generation: dropped in the worker.
    const stop = new AbortController();
    const pieces = machine.generate('the', { maxTokens: endless, signal: stop.signal });
    await pieces.next();
    const queued = [];
    for (let i = 0; i < 4; i++) {
      queued.push(machine.complete(`over th${'e'.repeat(i)}`, { topK: 2 }));
      await tick();
    }
    stop.abort();
    await settle(pieces.next());
    const behind = await Promise.all(queued.map(settle));
    const expected = {
      complete: main.complete('the jury saiiiii', { topK: 3 }),
      predict: main.predict('the jury saiiiii', { topK: 3 }),
      behind: main.complete('over theee', { topK: 2 }),
    };
    main.dispose();
    await machine.dispose();
    return { together, behind, expected };
  }, [FIXTURE, ENDLESS]);
  for (let i = 0; i < 10; i++) assertError(result.together[i], 'SUPERSEDED', `call ${i}`, i % 2 ? /newer predict/ : /newer complete/);
  assert.deepEqual(result.together[10], { ok: result.expected.complete }, 'the last complete answers');
  assert.deepEqual(result.together[11], { ok: result.expected.predict }, 'the last predict answers');
  for (let i = 0; i < 3; i++) assertError(result.behind[i], 'SUPERSEDED', `queued complete ${i}`, /newer complete/);
  assert.deepEqual(result.behind[3], { ok: result.expected.behind });
  assertNoProblems();
});

test('latest predict wins in the worker too: predicts waiting behind a generation are dropped for the newest', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const main = await memread.loadMachine(url, { cache: false });
    const machine = await memread.loadMachineInWorker(url);
    const stop = new AbortController();
    const pieces = machine.generate('the', { maxTokens: endless, signal: stop.signal });
    await pieces.next();  // the worker is generating, and will until the abort
    const calls = [];
    for (let i = 0; i < 5; i++) {
      calls.push(machine.predict(`the jury said ${i}`, { topK: 3 }));
      await tick();  // each predict is sent to the worker on its own
    }
    stop.abort();
    const generation = await settle(pieces.next());
    const answers = await Promise.all(calls.map(settle));
    const expected = main.predict('the jury said 4', { topK: 3 });
    main.dispose();
    await machine.dispose();
    return { generation, answers, expected };
  }, [FIXTURE, ENDLESS]);
  assertError(result.generation, 'AbortError', 'the aborted generation');
  for (const [i, answer] of result.answers.slice(0, 4).entries()) {
    assertError(answer, 'SUPERSEDED', `predict ${i}`, /newer predict/);
  }
  assert.deepEqual(result.answers[4], { ok: result.expected }, 'the newest predict answers');
  assertNoProblems();
});

test('generate streams pieces; an abort stops it within one token, and so does leaving the loop', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const machine = await memread.loadMachineInWorker(url);
    const stop = new AbortController();
    let before = 0, after = 0, error = null;
    try {
      for await (const piece of machine.generate('the', { maxTokens: endless, signal: stop.signal })) {
        if (typeof piece !== 'string' || piece === '') throw new Error(`piece ${JSON.stringify(piece)}`);
        if (stop.signal.aborted) after++;
        else if (++before === 5) stop.abort();
        else await tick();  // a slow reader: pieces pile up on this side, and must not come out after the abort
      }
    } catch (e) {
      error = describeError(e);
    }
    // The endless generation really stopped in the worker: a call made now is answered (calls run
    // one at a time there, so it would wait forever behind a generation still running).
    const afterAbort = Array.from(await machine.tokenize('after the abort'));

    let taken = 0;
    for await (const piece of machine.generate('the', { maxTokens: endless })) {
      if (++taken === 3) break;
    }
    const afterBreak = Array.from(await machine.tokenize('after the break'));

    const early = await settle(machine.generate('the', { signal: AbortSignal.abort() }).next());
    await machine.dispose();
    return { before, after, error, afterAbort, afterBreak, taken, early };
  }, [FIXTURE, ENDLESS]);
  assert.equal(result.before, 5, 'five pieces streamed before the abort');
  assert.equal(result.after, 0, 'no piece after the abort');
  assertError(result.error, 'AbortError', 'the loop ends with the signal\'s reason');
  assert.ok(result.afterAbort.length > 0 && result.afterBreak.length > 0, 'the worker is free again');
  assert.equal(result.taken, 3);
  assertError(result.early, 'AbortError', 'a generation aborted before it started');
  assertNoProblems();
});

test('terminate() rejects every pending call, and every later one, with TERMINATED', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const machine = await memread.loadMachineInWorker(url);
    const pieces = machine.generate('the', { maxTokens: endless });
    await pieces.next();
    const predict = settle(machine.predict('waiting behind the generation'));
    const tokenize = settle(machine.tokenize('waiting too'));
    await tick();
    const unsent = settle(machine.predict('not even sent'));
    machine.terminate();
    let generation = null;
    try {
      for (;;) if ((await pieces.next()).done) break;
    } catch (e) {
      generation = describeError(e);
    }
    return {
      generation,
      predict: await predict,
      tokenize: await tokenize,
      unsent: await unsent,
      later: await settle(machine.evaluate('after the end')),
      laterGenerate: await settle(Promise.resolve().then(() => machine.generate('x').next())),
      dispose: await settle(machine.dispose()),
      twice: (machine.terminate(), 'no throw'),
    };
  }, [FIXTURE, ENDLESS]);
  assertError(result.generation, 'TERMINATED', 'the running generation', /terminated/);
  assertError(result.predict, 'TERMINATED', 'a predict sent');
  assertError(result.tokenize, 'TERMINATED', 'a tokenize sent');
  assertError(result.unsent, 'TERMINATED', 'a predict not yet sent');
  assertError(result.later, 'TERMINATED', 'a later call');
  assertError(result.laterGenerate, 'TERMINATED', 'a later generate');
  assert.deepEqual(result.dispose, { ok: undefined }, 'dispose after terminate resolves');
  assertNoProblems();
});

test('dispose() lets calls already made finish, stops a generation with DISPOSED, then refuses calls', { timeout }, async () => {
  const result = await harness.page.evaluate(async ([url, endless]) => {
    const main = await memread.loadMachine(url, { cache: false });
    const machine = await memread.loadMachineInWorker(url);
    const pieces = machine.generate('the', { maxTokens: endless });
    await pieces.next();
    const predict = settle(machine.predict('made before dispose', { topK: 2 }));
    const first = machine.dispose();
    const same = machine.dispose() === first;
    await first;
    let generation = null;
    try {
      for (;;) if ((await pieces.next()).done) break;
    } catch (e) {
      generation = describeError(e);
    }
    const expected = main.predict('made before dispose', { topK: 2 });
    main.dispose();
    return {
      same,
      generation,
      predict: await predict,
      expected,
      later: await settle(machine.predict('after dispose')),
    };
  }, [FIXTURE, ENDLESS]);
  assert.equal(result.same, true, 'dispose() twice gives the same promise');
  assertError(result.generation, 'DISPOSED', 'the running generation');
  assert.deepEqual(result.predict, { ok: result.expected }, 'the predict made before dispose is answered');
  assertError(result.later, 'DISPOSED', 'a call after dispose');
  assertNoProblems();
});

test('errors keep their class and code across the worker boundary', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const machine = await memread.loadMachineInWorker(url);
    const answers = {
      emptyText: await settle(machine.predict('')),
      badTopK: await settle(machine.predict('the', { topK: 0 })),
      badToken: await settle(machine.detokenize([100000])),
      badType: await settle(machine.tokenize(42)),
      badOptions: await settle(machine.trace('the', null)),
      emptyGenerate: await settle(machine.generate('').next()),
      badTemperature: await settle(machine.generate('the', { temperature: -1 }).next()),
      abortedBefore: await settle(machine.predict('the', { signal: AbortSignal.abort() })),
      badBank: await settle(memread.loadMachineInWorker(new Uint8Array(64).buffer)),
      missing: await settle(memread.loadMachineInWorker('/tests/fixtures/missing.safetensors')),
      badSource: await settle(memread.loadMachineInWorker(42)),
      badResponse: await settle(memread.loadMachineInWorker(await fetch('/tests/fixtures/missing.safetensors'))),
      abortedLoad: await settle(memread.loadMachineInWorker(url, { signal: AbortSignal.abort() })),
      stillWorks: await settle(machine.predict('the', { topK: 1 }).then((p) => p.length)),
    };
    await machine.dispose();
    return answers;
  }, FIXTURE);
  assertError(result.emptyText, 'EMPTY_TEXT', 'predict of ""', /empty/);
  assertError(result.badTopK, 'BAD_OPTION', 'topK 0', /topK/);
  assertError(result.badToken, 'BAD_TOKEN', 'an id outside the vocabulary');
  assertError(result.badType, 'BAD_TYPE', 'tokenize(42)');
  assertError(result.badOptions, 'BAD_OPTION', 'options null');
  assertError(result.emptyGenerate, 'EMPTY_TEXT', 'generate of ""');
  assertError(result.badTemperature, 'BAD_TEMPERATURE', 'temperature -1');
  assertError(result.abortedBefore, 'AbortError', 'an already aborted signal');
  assertError(result.badBank, 'BAD_BANK', '64 zero bytes', /not a valid memread bank/);
  assertError(result.missing, 'FETCH_FAILED', 'a missing bank', /missing\.safetensors: HTTP 404/);
  assertError(result.badSource, 'BAD_TYPE', 'a number as the source');
  assertError(result.badResponse, 'FETCH_FAILED', 'a Response of a 404', /HTTP 404/);
  assertError(result.abortedLoad, 'AbortError', 'an aborted load');
  assert.deepEqual(result.stillWorks, { ok: 1 }, 'the machine still answers after all those errors');
  assertNoProblems();
});

test('the worker protocol: {id, action, args} in, {id, result} or {id, error} out; unknown actions answer an error', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const worker = new Worker('/src/js/worker.js', { type: 'module' });
    const answers = new Map();
    const waiters = new Map();
    worker.onmessage = ({ data }) => {
      if ('progress' in data) return;
      answers.set(data.id, data);
      waiters.get(data.id)?.(data);
    };
    const ask = (message) => new Promise((resolve) => {
      waiters.set(message.id, resolve);
      worker.postMessage(message);
    });
    const unknown = await ask({ id: 1, action: 'frobnicate', args: {} });
    const beforeLoad = await ask({ id: 2, action: 'predict', args: { text: 'the' } });
    worker.postMessage({ id: 999, action: 'cancel' });  // nothing to cancel: no answer
    const load = await ask({ id: 3, action: 'load', args: { source: new URL(url, location.href).href, options: {} } });
    const predict = await ask({ id: 4, action: 'predict', args: { text: 'the', options: { topK: 2 } } });
    const tokenize = await ask({ id: 5, action: 'tokenize', args: { text: 'the jury' } });
    worker.terminate();
    return {
      unknown, beforeLoad, loadKeys: Object.keys(load), name: load.result?.name, predict,
      tokenizeType: tokenize.result.constructor.name, answered: [...answers.keys()],
    };
  }, FIXTURE);
  assert.equal(result.unknown.id, 1);
  assert.equal(result.unknown.error.code, 'BAD_OPTION');
  assert.match(result.unknown.error.message, /unknown action "frobnicate"/);
  assert.equal(result.beforeLoad.error.code, 'NOT_INITIALIZED');
  assert.deepEqual(result.loadKeys, ['id', 'result']);
  assert.equal(result.name, 'random');
  assert.equal(result.predict.result.length, 2);
  assert.equal(result.tokenizeType, 'Int32Array');
  assert.deepEqual(result.answered, [1, 2, 3, 4, 5], 'one answer per call; none for the cancel');
  assertNoProblems();
});

test('locateFile is asked here for the wasm and its answer used in the worker; wasmBinary is copied there', { timeout }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const asked = [];
    const located = await memread.loadMachineInWorker(url, {
      locateFile: (path, prefix) => {
        asked.push({ path, prefix });
        return new URL(path, prefix).href;
      },
    });
    const predictions = (await located.predict('the', { topK: 2 })).length;
    await located.dispose();
    const wrong = await settle(memread.loadMachineInWorker(url, { locateFile: () => '/nowhere/memread-core.wasm' }));
    const wasm = new Uint8Array(await (await fetch('/dist/memread-core.wasm')).arrayBuffer());
    const given = await memread.loadMachineInWorker(url, { wasmBinary: wasm });
    await given.dispose();
    return { asked, predictions, wrong, wasmKept: wasm.length > 0, origin: location.origin };
  }, FIXTURE);
  assert.deepEqual(result.asked, [{ path: 'memread-core.wasm', prefix: `${result.origin}/dist/` }]);
  assert.equal(result.predictions, 2);
  assertError(result.wrong, 'WASM_LOAD_FAILED', 'a locateFile that points nowhere');
  assert.equal(result.wasmKept, true, 'the caller keeps its wasmBinary');
  assertNoProblems();
});

test('memories in a worker: remember answers as on the main thread, predictions go on while it writes, cancel and forget', { timeout }, async () => {
  const result = await harness.page.evaluate(async () => {
    const bank = '/banks/en-brown.safetensors';
    const fact = 'The night porter of the Hotel Quenby is called Ozzimander. He keeps the keys.\n';
    const prompt = 'The night porter of the Hotel Quenby is called ';
    const main = await memread.loadMachine(bank, { cache: false });
    const aloneMain = main.predict(prompt, { topK: 5 });
    await main.remember(fact.repeat(2));
    const expected = {
      memory: main.memory, predict: main.predict(prompt, { topK: 5 }), trace: main.trace(prompt).memory,
      file: Array.from(main.exportMemory()),
    };
    const other = await memread.loadMachine('/tests/fixtures/tiny-hidden.safetensors', { cache: false });
    await other.remember('the cat sat on the mat');
    const foreign = other.exportMemory();
    main.dispose();
    other.dispose();

    const worker = await memread.loadMachineInWorker(bank, { cache: false });
    const alone = await worker.predict(prompt, { topK: 5 });
    // A long text, so that the write takes a while: predictions keep coming back meanwhile.
    let answeredWhileWriting = 0, writing = true;
    const long = worker.remember('A long letter about the weather and the harvest in the valley. '.repeat(30))
      .finally(() => { writing = false; });
    const busy = await settle(worker.remember(fact));
    while (writing) {
      await worker.predict(`The weather ${answeredWhileWriting}`, { topK: 1 });
      if (writing) answeredWhileWriting++;
    }
    await long;
    await worker.forget();
    const progress = [];
    const info = await worker.remember(fact.repeat(2), { onProgress: (p) => progress.push(p) });
    const after = {
      memory: worker.memory, predict: await worker.predict(prompt, { topK: 5 }),
      trace: (await worker.trace(prompt)).memory, file: Array.from(await worker.exportMemory()),
    };
    // Cancelled: nothing changes.
    const stop = new AbortController();
    const cancelled = await settle(worker.remember('Another long letter about the sea. '.repeat(30), {
      signal: stop.signal, onProgress: ({ done }) => { if (done > 0) stop.abort(); },
    }));
    const afterCancel = { memory: worker.memory, file: Array.from(await worker.exportMemory()) };
    const badMemory = await settle(worker.loadMemory(foreign));
    await worker.forget();
    const forgotten = { memory: worker.memory, predict: await worker.predict(prompt, { topK: 5 }), noMemory: await settle(worker.exportMemory()) };
    const reloaded = await memread.loadMachineInWorker(bank, { cache: false, memory: new Blob([new Uint8Array(after.file)]) });
    const reloadedPredict = await reloaded.predict(prompt, { topK: 5 });
    worker.terminate();
    reloaded.terminate();
    return {
      expected, aloneMain, alone, info, after, progress: progress.at(-1), answeredWhileWriting, busy,
      cancelled, afterCancel, badMemory, forgotten, reloadedMemory: reloaded.memory, reloadedPredict,
    };
  });
  assert.deepEqual(result.alone, result.aloneMain);
  assertError(result.busy, 'BUSY', 'a second remember while one runs');
  assert.deepEqual(result.info, result.expected.memory);
  assert.deepEqual(result.after, result.expected, 'the worker remembers as the main thread does, bit for bit');
  assert.notDeepEqual(result.after.predict, result.alone);
  assert.equal(result.progress.done, result.progress.total);
  assert.ok(result.answeredWhileWriting >= 1, `predictions answered while the memory was written: ${result.answeredWhileWriting}`);
  assertError(result.cancelled, 'AbortError', 'a cancelled remember');
  assert.deepEqual(result.afterCancel, { memory: result.expected.memory, file: result.expected.file });
  assertError(result.badMemory, 'BAD_MEMORY', 'a memory of another bank', /another bank/);
  assert.equal(result.forgotten.memory, null);
  assert.deepEqual(result.forgotten.predict, result.alone, 'forget restores the bank alone');
  assertError(result.forgotten.noMemory, 'NO_MEMORY', 'exportMemory with none');
  assert.deepEqual(result.reloadedMemory, result.expected.memory);
  assert.deepEqual(result.reloadedPredict, result.expected.predict);
  assertNoProblems();
});
