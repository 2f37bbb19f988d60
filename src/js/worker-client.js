// The worker client: a Machine in a module Web Worker (worker.js), with the same methods made
// async, cancellation by AbortSignal on every call, and "latest predict (and complete) wins".
//
//   const machine = await loadMachineInWorker('/banks/en-brown.safetensors');
//   const top = await machine.predict('The jury said', { topK: 3, signal });
//   for await (const piece of machine.generate('The jury', { maxTokens: 20, signal })) out += piece;
//   await machine.dispose();   // or machine.terminate(): stops the worker at once
//
// The protocol is described at the top of worker.js. This side keeps one entry per call until the
// call's last message ({id, result} or {id, error}) arrives, so it always knows what the worker
// still owes; a call the caller gave up on (aborted, superseded) is settled at once here, and its
// late answer is dropped.
//
// Latest predict wins, twice: predicts made in the same task are merged here (only the last one is
// sent), and a predict still queued in the worker when a newer one arrives is dropped there. Both
// reject with MemreadError SUPERSEDED and are never computed. Completions are merged the same way,
// apart from predicts: a page that shows both asks for both on every keystroke.
import { MemreadError } from './errors.js';
import { abortReason, pageUrl, throwIfAborted } from './util.js';
import { classifyBankSource, requireOptions, requireSignal } from './validate.js';

/** Options without the signal (which stays on this side): what is sent to the worker. */
function withoutSignal({ signal, ...rest }) {
  return rest;
}

/** The error a worker answered, rebuilt on this side with its code (and name). */
function rebuildError({ name, code, message }) {
  if (code) return new MemreadError(code, message);
  if (name === 'AbortError') return new DOMException(message, 'AbortError');
  const error = new Error(message);
  if (name) error.name = name;
  return error;
}

function superseded(action) {
  return new MemreadError('SUPERSEDED', `a newer ${action} was made before this one ran; only the latest is computed`);
}

// ---- One worker, its calls in flight ---------------------------------------------------------------

class Connection {
  #worker;
  #calls = new Map();  // id → {resolve, reject, settled, onPiece?, onProgress?}
  #nextId = 1;
  #closedError = null;  // () => Error once closed: later calls reject with it

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (event) => {
      const detail = event?.message ? `: ${event.message}` : ' (its script could not be loaded or threw: see the console)';
      this.close(() => new MemreadError('WORKER_FAILED', `the memread worker failed${detail}`));
    };
    worker.onmessageerror = () => {
      this.close(() => new MemreadError('WORKER_FAILED', 'a message from the memread worker could not be read'));
    };
  }

  get closed() {
    return this.#closedError !== null;
  }

  /**
   * Sends a call; resolves with its result. The signal settles it at once and tells the worker.
   * @param {string} action
   * @param {object} args
   * @param {{signal?: AbortSignal, transfer?: Transferable[], onPiece?: Function, onProgress?: Function}} [hooks]
   */
  request(action, args, { signal, transfer = [], onPiece, onProgress } = {}) {
    return new Promise((resolve, reject) => {
      if (this.#closedError) return reject(this.#closedError());
      if (signal?.aborted) return reject(abortReason(signal));
      const id = this.#nextId++;
      const call = { settled: false, onPiece, onProgress, resolve: null, reject: null };
      const onAbort = () => {
        settle(() => reject(abortReason(signal)));
        if (!this.#closedError) this.#worker.postMessage({ id, action: 'cancel' });
      };
      const settle = (how) => {
        if (call.settled) return;
        call.settled = true;
        signal?.removeEventListener('abort', onAbort);
        how();
      };
      call.resolve = (value) => settle(() => resolve(value));
      call.reject = (error) => settle(() => reject(error));
      try {
        this.#worker.postMessage({ id, action, args }, transfer);
      } catch (cause) {
        return reject(new MemreadError('BAD_TYPE',
          `the arguments of ${action} cannot be sent to the worker: ${cause?.message ?? cause}`, { cause }));
      }
      this.#calls.set(id, call);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #receive(message) {
    const call = this.#calls.get(message?.id);
    if (!call) return;
    if ('piece' in message) {
      if (!call.settled) call.onPiece?.(message.piece);
    } else if ('progress' in message) {
      if (!call.settled) call.onProgress?.(message.progress);
    } else {
      this.#calls.delete(message.id);
      if ('error' in message) call.reject(rebuildError(message.error ?? {}));
      else call.resolve(message.result);
    }
  }

  /** Ends the worker now; every call still owed rejects with makeError(). */
  close(makeError) {
    if (this.#closedError) return;
    this.#closedError = makeError;
    this.#worker.terminate();
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.reject(makeError());
  }
}

// ---- Generation: the async iterable -------------------------------------------------------------

/** Pieces pushed by the worker, pulled by `for await`; lazy like an async generator. */
class PieceStream {
  #start;            // (signal, onPiece) => Promise of the final result
  #signal;
  #controller = new AbortController();
  #pieces = [];
  #waiting = [];     // {resolve, reject} of next() calls with no piece yet
  #started = false;
  #finished = false;
  #error = null;

  constructor(start, signal) {
    this.#start = start;
    this.#signal = signal;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  #begin() {
    this.#started = true;
    // The caller's signal and return() both end the call through one controller.
    const outer = this.#signal;
    const inner = this.#controller.signal;
    if (outer?.aborted) this.#controller.abort(abortReason(outer));
    else outer?.addEventListener('abort', () => this.#controller.abort(abortReason(outer)), { once: true });
    // Ends the stream in the abort itself: not one more piece, even one already buffered here.
    inner.addEventListener('abort', () => this.#end(abortReason(inner)), { once: true });
    this.#start(this.#controller.signal, (piece) => this.#push(piece)).then(
      () => this.#end(null),
      (error) => this.#end(error),
    );
  }

  #push(piece) {
    if (this.#finished) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve({ value: piece, done: false });
    else this.#pieces.push(piece);
  }

  #end(error) {
    if (this.#finished) return;
    this.#finished = true;
    if (error) {
      // Aborted or terminated: the pieces not taken yet are dropped, nothing more is yielded.
      // (After any other error, the pieces that came before it are still yielded first.)
      if (this.#controller.signal.aborted || error.code === 'TERMINATED') this.#pieces.length = 0;
      this.#error = error;
    }
    this.#flush();
  }

  #flush() {
    while (this.#waiting.length > 0 && this.#pieces.length > 0) {
      this.#waiting.shift().resolve({ value: this.#pieces.shift(), done: false });
    }
    if (this.#pieces.length > 0 || !this.#finished) return;
    for (const waiter of this.#waiting.splice(0)) {
      if (this.#error) {
        const error = this.#error;
        this.#error = null;  // thrown once; then the iterator is done
        waiter.reject(error);
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
  }

  next() {
    if (!this.#started) this.#begin();
    if (this.#pieces.length > 0) return Promise.resolve({ value: this.#pieces.shift(), done: false });
    if (this.#finished) {
      if (!this.#error) return Promise.resolve({ value: undefined, done: true });
      const error = this.#error;
      this.#error = null;
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** `break` out of `for await`: stops the generation in the worker. */
  return(value) {
    if (this.#started && !this.#finished) this.#controller.abort();
    this.#finished = true;
    this.#pieces.length = 0;
    this.#error = null;
    this.#flush();
    return Promise.resolve({ value, done: true });
  }

  throw(error) {
    this.return();
    return Promise.reject(error);
  }
}

// ---- The machine in a worker -------------------------------------------------------------------------

class WorkerMachine {
  #connection;
  #info;
  #memory = null;         // the worker's memory info, as its last answer about it said
  #state = 'live';        // 'live' | 'disposed' | 'terminated'
  #disposing = null;
  #unsent = new Map();    // 'predict' | 'complete' → {args, signal, resolve, reject, onAbort}: merged, not sent yet

  constructor(connection, info) {
    this.#connection = connection;
    this.#info = Object.freeze(info);  // as Machine's
  }

  /** @returns {import('./index.d.ts').MachineInfo} */
  get info() {
    return this.#info;
  }

  #refusal() {
    if (this.#state === 'disposed') return new MemreadError('DISPOSED', 'this machine was disposed; load the bank again');
    if (this.#state === 'terminated') return new MemreadError('TERMINATED', "this machine's worker was terminated; load the bank again");
    return null;
  }

  #call(action, args, signal, transfer) {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    this.#sendUnsent();  // keep the order of calls
    return this.#connection.request(action, args, { signal, transfer });
  }

  /**
   * @param {string} text
   * @param {{topK?: number, signal?: AbortSignal}} [options]
   */
  predict(text, options = {}) {
    return this.#latestWins('predict', text, options);
  }

  /**
   * @param {string} text
   * @param {{topK?: number, maxTokens?: number, signal?: AbortSignal}} [options]
   */
  complete(text, options = {}) {
    return this.#latestWins('complete', text, options);
  }

  // A call of which only the latest matters: merged with the unsent one of its action, sent a
  // microtask later (or before any other call, to keep the order of calls).
  #latestWins(action, text, options) {
    try {
      requireOptions(options, action);
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const older = this.#unsent.get(action);
      if (older) {
        older.signal?.removeEventListener('abort', older.onAbort);
        older.reject(superseded(action));
        this.#unsent.delete(action);
      } else {
        queueMicrotask(() => this.#sendUnsent());
      }
      const pending = { args: { text, options: withoutSignal(options) }, signal, resolve, reject };
      pending.onAbort = () => {
        if (this.#unsent.get(action) === pending) this.#unsent.delete(action);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.#unsent.set(action, pending);
    });
  }

  #sendUnsent() {
    const unsent = [...this.#unsent];
    this.#unsent.clear();
    for (const [action, pending] of unsent) {
      pending.signal?.removeEventListener('abort', pending.onAbort);
      const refusal = this.#refusal();
      if (refusal) {
        pending.reject(refusal);
        continue;
      }
      this.#connection.request(action, pending.args, { signal: pending.signal }).then(pending.resolve, pending.reject);
    }
  }

  /**
   * @param {string} text
   * @param {import('./index.d.ts').GenerateOptions} [options]
   * @returns {AsyncIterable<string> & AsyncIterator<string>}
   */
  generate(text, options = {}) {
    requireOptions(options, 'generate');
    requireSignal(options.signal);
    const refusal = this.#refusal();
    if (refusal) throw refusal;
    const args = { text, options: withoutSignal(options) };
    return new PieceStream((signal, onPiece) => {
      const refused = this.#refusal();
      if (refused) return Promise.reject(refused);
      this.#sendUnsent();
      return this.#connection.request('generate', args, { signal, onPiece });
    }, options.signal);
  }

  /** @param {string} text @param {{topSlots?: number, signal?: AbortSignal}} [options] */
  trace(text, options = {}) {
    try {
      requireOptions(options, 'trace');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call('trace', { text, options: withoutSignal(options) }, options.signal);
  }

  /** @param {string} text @param {{layer: number, read?: 'assoc'|'mlp', slot: number, signal?: AbortSignal}} options */
  slotWeights(text, options) {
    try {
      requireOptions(options, 'slotWeights');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call('slotWeights', { text, options: withoutSignal(options) }, options.signal);
  }

  /** @param {string} text @param {{signal?: AbortSignal}} [options] */
  evaluate(text, options = {}) {
    try {
      requireOptions(options, 'evaluate');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call('evaluate', { text }, options.signal);
  }

  /** @param {string} text @param {{signal?: AbortSignal}} [options] */
  tokenize(text, options = {}) {
    try {
      requireOptions(options, 'tokenize');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call('tokenize', { text }, options.signal);
  }

  /** @param {Int32Array|number[]} ids @param {{signal?: AbortSignal}} [options] */
  detokenize(ids, options = {}) {
    try {
      requireOptions(options, 'detokenize');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    // A view of a larger buffer would be cloned whole: send only its own bytes.
    const own = ArrayBuffer.isView(ids) && ids.byteLength !== ids.buffer.byteLength ? ids.slice() : ids;
    return this.#call('detokenize', { ids: own }, options.signal);
  }

  // ---- Memories: the worker's machine's, with the info kept here as its last answer said ----

  /** The memory's info ({slots, bytes, sourceBytes, params}) as the worker last said, or null. */
  get memory() {
    return this.#memory;
  }

  /**
   * @param {string} text
   * @param {{onProgress?: (p: {done: number, total: number}) => void, signal?: AbortSignal,
   *          alpha?: number, passes?: number, sharpness?: number, gate?: number}} [options]
   */
  async remember(text, options = {}) {
    requireOptions(options, 'remember');
    requireSignal(options.signal);
    const { onProgress, signal, ...params } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new MemreadError('BAD_OPTION', 'onProgress must be a function');
    }
    const refusal = this.#refusal();
    if (refusal) throw refusal;
    this.#sendUnsent();
    this.#memory = await this.#connection.request('remember', { text, options: { ...params, progress: !!onProgress } },
      { signal, onProgress });
    return this.#memory;
  }

  /** Drops the memory (and stops a remember under way). */
  async forget(options = {}) {
    requireOptions(options, 'forget');
    requireSignal(options.signal);
    await this.#call('forget', {}, options.signal);
    this.#memory = null;
  }

  /** @returns {Promise<Uint8Array>} the memory file */
  exportMemory(options = {}) {
    try {
      requireOptions(options, 'exportMemory');
      requireSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call('exportMemory', {}, options.signal);
  }

  /** Attaches a memory file (Uint8Array, ArrayBuffer, Blob, Response or URL); resolves with its info. */
  async loadMemory(source, options = {}) {
    requireOptions(options, 'loadMemory');
    requireSignal(options.signal);
    let sendable = source;
    if (typeof source === 'string' || source instanceof URL) {
      try {
        sendable = new URL(source, pageUrl()).href;  // resolved here, not against worker.js
      } catch {
        throw new MemreadError('BAD_TYPE', `memory source "${String(source)}" is not a valid URL`);
      }
    } else if (typeof Response !== 'undefined' && source instanceof Response) {
      sendable = source.ok ? await source.blob() : source;
      if (!source.ok) throw new MemreadError('FETCH_FAILED', `the memory file answered HTTP ${source.status}, not a memory`);
    }
    this.#memory = await this.#call('loadMemory', { source: sendable }, options.signal);
    return this.#memory;
  }

  /**
   * Lets the calls already made finish (generations stop: they throw DISPOSED), frees the
   * machine and ends the worker. Later calls reject with DISPOSED. Safe to call twice.
   * @returns {Promise<void>}
   */
  dispose() {
    if (this.#disposing) return this.#disposing;
    if (this.#state === 'terminated') return Promise.resolve();
    this.#sendUnsent();
    const done = this.#connection.request('dispose', {});
    this.#state = 'disposed';
    this.#disposing = done.then(
      () => this.#connection.close(() => new MemreadError('DISPOSED', 'this machine was disposed; load the bank again')),
      () => {},  // the worker is gone already (terminated, failed): nothing left to free
    );
    return this.#disposing;
  }

  /**
   * Stops the worker at once (even in the middle of a call): every call not yet answered rejects
   * with TERMINATED, and so do later calls. The worker's memory is freed with it.
   */
  terminate() {
    const error = () => new MemreadError('TERMINATED', "this machine's worker was terminated; load the bank again");
    if (this.#state === 'live') this.#state = 'terminated';
    const unsent = [...this.#unsent.values()];
    this.#unsent.clear();
    for (const pending of unsent) {
      pending.signal?.removeEventListener('abort', pending.onAbort);
      pending.reject(error());
    }
    this.#connection.close(error);
  }
}

// ---- Loading --------------------------------------------------------------------------------------

const GLUE_DIRECTORY = '../../dist/';

/** The source as it crosses to the worker, and what to transfer. */
async function sendableSource(source, { signal, onProgress }) {
  // A URL is resolved here: in the worker a relative URL would resolve against worker.js instead.
  const { kind, url } = classifyBankSource(source, pageUrl());
  switch (kind) {
    case 'url':
      return { source: url.href, transfer: [] };
    case 'arraybuffer':
      return { source, transfer: [source] };  // moved, not copied
    case 'uint8array': {
      const copy = source.slice();  // the caller keeps its array
      return { source: copy.buffer, transfer: [copy.buffer] };
    }
    case 'blob':
      return { source, transfer: [] };
    default: {  // 'response', an ok one
      const blob = await source.blob();
      throwIfAborted(signal);
      onProgress?.({ loaded: blob.size, total: blob.size });
      return { source: blob, transfer: [] };
    }
  }
}

/**
 * Loads a bank in a new module worker and returns a WorkerMachine (see index.d.ts).
 * An ArrayBuffer source is transferred to the worker: it is detached here afterwards.
 * @param {string|URL|ArrayBuffer|Uint8Array|Blob|Response} source
 * @param {{onProgress?: Function, signal?: AbortSignal, cache?: boolean,
 *          locateFile?: (path: string, prefix: string) => string, wasmBinary?: ArrayBuffer|Uint8Array}} [options]
 */
export async function loadMachineInWorker(source, options = {}) {
  requireOptions(options, 'loadMachineInWorker');
  requireSignal(options.signal);
  const { onProgress, signal, cache = true, locateFile, wasmBinary } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new MemreadError('BAD_OPTION', 'onProgress must be a function');
  }
  if (locateFile !== undefined && typeof locateFile !== 'function') {
    throw new MemreadError('BAD_OPTION', 'locateFile must be a function');
  }
  if (typeof Worker !== 'function') {
    throw new MemreadError('WORKER_FAILED', 'this environment has no Web Workers: use loadMachine instead');
  }
  throwIfAborted(signal);
  const sendable = await sendableSource(source, { signal, onProgress });
  // A function cannot cross to the worker: ask it here where the wasm is, and send the answer.
  // (The prefix is where the glue lives in this package; a variable, so that bundlers, which
  // rewrite new URL('literal', import.meta.url), leave it alone.)
  const wasmUrl = locateFile
    ? String(locateFile('memread-core.wasm', new URL(GLUE_DIRECTORY, import.meta.url).href))
    : undefined;
  // Copied, not moved: the caller may start more workers with the same bytes.
  const wasmBytes = ArrayBuffer.isView(wasmBinary) ? wasmBinary.slice() : wasmBinary;

  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const connection = new Connection(worker);
  const args = { source: sendable.source, options: { cache, progress: !!onProgress, wasmUrl, wasmBinary: wasmBytes } };
  try {
    const info = await connection.request('load', args, { signal, transfer: sendable.transfer, onProgress });
    const machine = new WorkerMachine(connection, info);
    if (options.memory !== undefined) await machine.loadMemory(options.memory, { signal });
    return machine;
  } catch (error) {
    connection.close(() => error);
    throw error;
  }
}
