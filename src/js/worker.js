// The memread worker: one Machine in a module Web Worker, driven by worker-client.js.
// Start it with `new Worker(new URL('./worker.js', import.meta.url), {type: 'module'})`.
//
// Protocol (every message is a plain object; `id` is chosen by the client, unique per call):
//   in   {id, action, args}          action: load | predict | complete | generate | trace | slotWeights |
//                                    evaluate | tokenize | detokenize | remember | forget | memory |
//                                    exportMemory | loadMemory | dispose
//        {id, action: 'cancel'}      cancels call `id` (the cancel has no answer of its own)
//   out  {id, result}                the call's answer: its last message
//        {id, error: {name, code?, message}}   or its failure: its last message
//        {id, piece}                 generate: one text piece, before the final {id, result}
//        {id, progress: {loaded, total}}       load: bytes of the bank so far
//        {id, progress: {done, total}}         remember: work done so far
// Unknown actions, and a second load, answer an error (BAD_OPTION). Typed arrays of results are
// transferred.
//
// Calls run one at a time, in the order they arrived, with a macrotask between two calls so that
// messages sent meanwhile are seen first. Latest predict wins: a predict still waiting in the
// queue when a newer predict arrives is never computed; it answers SUPERSEDED. The same holds for
// complete, apart from predict. A cancelled call
// that has not started is dropped (it answers an AbortError); a running generation stops before
// its next token. Dispose lets the calls already made finish, stops generations (they answer
// DISPOSED), then frees the machine.
// A remember runs beside the queue, not in it: the machine writes a step at a time with a
// macrotask between steps, so predictions go on while a memory is written (from the memory as it
// was). Cancel, forget and dispose stop it between two steps; the memory is then as it was.
import { loadMachine, MemreadError } from './index.js';
import { nextMacrotask } from './util.js';

let machine = null;
let loading = null;     // {id, controller} while the bank loads
const queue = [];       // calls not started: {id, action, args}
let running = null;     // the call being computed: {id, action, controller?}
const remembering = new Map();  // id → AbortController of a remember under way
let pumping = false;

// ---- Answers -----------------------------------------------------------------------------------

function errorMessage(error) {
  if (error instanceof MemreadError) return { name: 'MemreadError', code: error.code, message: error.message };
  return { name: error?.name ?? 'Error', message: error?.message ?? String(error) };
}

function fail(id, error) {
  self.postMessage({ id, error: errorMessage(error) });
}

/** The buffers of the typed arrays in a result, made transferable (each its own buffer). */
function transferables(result) {
  const buffers = [];
  const own = (array) => {
    // A view of a larger buffer (e.g. wasm memory) is copied out, so only its own bytes move.
    const whole = array.byteOffset === 0 && array.byteLength === array.buffer.byteLength
      && !buffers.includes(array.buffer);
    const mine = whole ? array : array.slice();
    buffers.push(mine.buffer);
    return mine;
  };
  if (ArrayBuffer.isView(result)) return { result: own(result), buffers };
  if (result && Array.isArray(result.layers) && ArrayBuffer.isView(result.ids)) {  // a Trace
    const trace = {
      ...result,
      ids: own(result.ids),
      layers: result.layers.map((layer) => ({ ...layer, context: own(layer.context) })),
    };
    return { result: trace, buffers };
  }
  return { result, buffers };
}

function answer(id, result) {
  const moved = transferables(result);
  self.postMessage({ id, result: moved.result }, moved.buffers);
}

// ---- The calls -----------------------------------------------------------------------------------

function requireMachine() {
  if (!machine) throw new MemreadError('NOT_INITIALIZED', 'no bank is loaded in this worker yet');
  return machine;
}

// Calls of which only the latest matters (a keystroke's suggestions).
const LATEST_WINS = new Set(['predict', 'complete']);

const CALLS = {
  predict: ({ text, options }) => requireMachine().predict(text, options),
  complete: ({ text, options }) => requireMachine().complete(text, options),
  trace: ({ text, options }) => requireMachine().trace(text, options),
  slotWeights: ({ text, options }) => requireMachine().slotWeights(text, options),
  evaluate: ({ text }) => requireMachine().evaluate(text),
  tokenize: ({ text }) => requireMachine().tokenize(text),
  detokenize: ({ ids }) => requireMachine().detokenize(ids),
  forget: () => {
    requireMachine().forget();
    return null;
  },
  memory: () => requireMachine().memory,
  exportMemory: () => requireMachine().exportMemory(),
  loadMemory: ({ source }) => requireMachine().loadMemory(source),
  dispose: () => {
    machine?.dispose();
    return null;
  },
  generate: async ({ text, options }, task) => {
    const pieces = requireMachine().generate(text, { ...options, signal: task.controller.signal });
    let count = 0;
    // The machine waits a macrotask before each token, so a cancel that arrives meanwhile aborts
    // the signal and the next step throws: no token is computed after the cancel is seen.
    for await (const piece of pieces) {
      self.postMessage({ id: task.id, piece });
      count++;
    }
    return { pieces: count };
  },
};

async function load(id, { source, options }) {
  // One bank per worker. A second load used to replace `machine` without disposing the first one
  // (its wasm memory leaked) while calls queued for the first bank ran on the second.
  if (machine || loading) {
    fail(id, new MemreadError('BAD_OPTION',
      'this worker already holds a bank (or is loading one): start another worker for another bank'));
    return;
  }
  const controller = new AbortController();
  loading = { id, controller };
  try {
    const { cache, progress, wasmUrl, wasmBinary } = options;
    machine = await loadMachine(source, {
      cache,
      signal: controller.signal,
      onProgress: progress ? (p) => self.postMessage({ id, progress: p }) : undefined,
      wasmBinary,
      locateFile: wasmUrl ? (path, prefix) => (path.endsWith('.wasm') ? wasmUrl : prefix + path) : undefined,
    });
    answer(id, machine.info);
  } catch (error) {
    fail(id, error);
  } finally {
    loading = null;
  }
}

async function remember(id, { text, options = {} }) {
  const controller = new AbortController();
  remembering.set(id, controller);
  try {
    const { progress, ...params } = options;
    const info = await requireMachine().remember(text, {
      ...params,
      signal: controller.signal,
      onProgress: progress ? (p) => self.postMessage({ id, progress: p }) : undefined,
    });
    answer(id, info);
  } catch (error) {
    fail(id, error);
  } finally {
    remembering.delete(id);
  }
}

// ---- The queue -------------------------------------------------------------------------------------

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    // A macrotask before each call: messages already sent (a newer predict, a cancel) come first.
    while ((await nextMacrotask(), queue.length > 0)) {
      const task = queue.shift();
      running = task;
      try {
        answer(task.id, await CALLS[task.action](task.args ?? {}, task));
      } catch (error) {
        fail(task.id, error);
      } finally {
        running = null;
      }
    }
  } finally {
    pumping = false;
  }
}

function drop(predicate, error) {
  for (let i = queue.length - 1; i >= 0; i--) {
    if (predicate(queue[i])) {
      fail(queue[i].id, error);
      queue.splice(i, 1);
    }
  }
}

function cancel(id) {
  const reason = new DOMException('The call was cancelled.', 'AbortError');
  if (loading?.id === id) loading.controller.abort(reason);
  else if (remembering.has(id)) remembering.get(id).abort(reason);
  else if (running?.id === id) running.controller?.abort(reason);
  else drop((task) => task.id === id, reason);
  // An id that already answered: nothing to do.
}

self.onmessage = ({ data }) => {
  const { id, action, args } = data ?? {};
  if (action === 'cancel') return cancel(id);
  if (action === 'load') return load(id, args ?? {});
  if (action === 'remember') return remember(id, args ?? {});
  if (!Object.hasOwn(CALLS, action)) {
    return fail(id, new MemreadError('BAD_OPTION',
      `unknown action ${JSON.stringify(action)}: the memread worker knows load, cancel, remember, ${Object.keys(CALLS).join(', ')}`));
  }
  const task = { id, action, args };
  if (LATEST_WINS.has(action)) {
    drop((older) => older.action === action, new MemreadError('SUPERSEDED',
      `a newer ${action} was made before this one ran; only the latest is computed`));
  }
  if (action === 'generate') task.controller = new AbortController();
  if (action === 'dispose') {
    const stop = new MemreadError('DISPOSED', 'this machine was disposed during the generation');
    drop((older) => older.action === 'generate', stop);
    if (running?.action === 'generate') running.controller.abort(stop);
  }
  queue.push(task);
  pump();
};
