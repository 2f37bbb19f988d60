/**
 * memread: a language model made of one operation, the associative-memory read
 * `mem(q, K, V, τ) = softmax(q·Kᵀ/τ)·V`, run by a WebAssembly SIMD core.
 *
 * This build exposes the read itself: the bare primitive {@link memRead} and the resident
 * {@link MemBank}. Everything here needs {@link init} first.
 */

/** Error codes of {@link MemreadError}. */
export type MemreadErrorCode =
  | 'BAD_TYPE'          // an argument is not of the type it must be (e.g. not a Float32Array)
  | 'BAD_SHAPE'         // a length is not a whole number of rows of dim, or an array is empty
  | 'SHAPE_MISMATCH'    // two arrays that must agree in size do not (keys/values, out)
  | 'BAD_TEMPERATURE'   // temp is not a finite number > 0 (as a float32, and at least 2^-126)
  | 'NON_FINITE'        // an input holds NaN or ±Infinity
  | 'BAD_OPTION'        // an option is missing or invalid (dim, kernel, ...)
  | 'DISPOSED'          // the object was disposed
  | 'NOT_INITIALIZED'   // a synchronous call before `await init()`
  | 'NO_WASM_SIMD'      // this engine has no WebAssembly SIMD
  | 'WASM_LOAD_FAILED'  // the wasm module could not be fetched or instantiated
  | 'OUT_OF_MEMORY'     // the request does not fit in wasm memory (4 GiB at most)
  | 'BAD_BANK'          // the bytes are not a valid bank (the message names the rule broken)
  | 'FETCH_FAILED'      // a bank URL could not be fetched (network error, HTTP status, not a bank)
  | 'EMPTY_TEXT'        // predict/trace/generate of an empty text: nothing to predict from
  | 'BAD_TOKEN'         // a token id that is not in the bank's vocabulary
  | 'SUPERSEDED'        // worker: a newer predict was made before this one ran; never computed
  | 'TERMINATED'        // worker: terminate() was called before this call was answered
  | 'WORKER_FAILED';    // worker: it could not start (script, CSP) or crashed; or no Web Workers here

/** The one error type memread throws; branch on `code`, show `message` to a person. */
export class MemreadError extends Error {
  readonly name: 'MemreadError';
  readonly code: MemreadErrorCode;
  constructor(code: MemreadErrorCode, message: string, options?: { cause?: unknown });
}

export interface InitOptions {
  /** Where the .wasm lives, for CDNs and bundlers that do not copy it (esbuild). */
  locateFile?: (path: string, prefix: string) => string;
  /** The module's bytes, if you fetched them yourself. */
  wasmBinary?: ArrayBuffer | Uint8Array;
}

/**
 * Loads the wasm module, once. Later calls return the same promise; after a failure a later call
 * tries again. Rejects with a MemreadError: NO_WASM_SIMD or WASM_LOAD_FAILED.
 * @example
 * import { init, memRead } from 'memread';
 * await init();
 */
export function init(options?: InitOptions): Promise<void>;

/** True when this JavaScript engine runs WebAssembly SIMD (checked without loading memread). */
export function hasWasmSimd(): boolean;

/**
 * What this build runs on.
 * @example
 * backendInfo();  // → { simd: 'wasm_simd128', kernels: ['scalar', 'wasmsimd'], defaultKernel: 'wasmsimd', memoryBytes: 16777216 }
 */
export function backendInfo(): {
  simd: string;
  kernels: string[];
  defaultKernel: string;
  /** The wasm memory's size now, in bytes: it grows as banks load (up to 4 GiB) and never shrinks. */
  memoryBytes: number;
};

export interface MemBankOptions {
  /** Key (and value) dimension: keys and values hold `slots × dim` floats. */
  dim: number;
  /**
   * The kernel variant: 'wasmsimd' (default, the fast one) or 'scalar' (the plain reference,
   * for comparisons and benchmarks).
   */
  kernel?: 'wasmsimd' | 'scalar';
}

/**
 * A memory (K, V) kept resident in wasm memory, laid out once for the SIMD kernels, so that a
 * read copies only the queries in and the result out. Owns wasm memory: call `dispose()`.
 * @example
 * const bank = new MemBank(keys, values, { dim: 64 });  // keys, values: Float32Array(n × 64)
 * const out = bank.read(q, 1.0);                          // q: Float32Array(B × 64) → Float32Array(B × 64)
 * bank.dispose();
 */
export class MemBank {
  constructor(keys: Float32Array, values: Float32Array, options: MemBankOptions);
  /** Key (and value) dimension. */
  readonly dim: number;
  /** Number of slots n (keys.length / dim). */
  readonly slots: number;
  /**
   * softmax(q·Kᵀ/temp)·V for each of the B = q.length / dim rows of q.
   * @param q B × dim floats, finite
   * @param temp finite, > 0
   * @param out B × dim floats to write into (returned); a new array when omitted
   */
  read(q: Float32Array, temp: number, out?: Float32Array): Float32Array;
  /** Frees the wasm memory; later reads throw MemreadError DISPOSED. Safe to call twice. */
  dispose(): void;
}

export interface MemReadOptions {
  /** Row length of q, keys and values; defaults to q.length (one query row). */
  dim?: number;
  /** Where to write the B × dim result. */
  out?: Float32Array;
}

/**
 * The bare primitive, softmax(q·Kᵀ/temp)·V, copying K and V in for this one call. For many
 * reads of one memory keep a {@link MemBank}: it is several times faster.
 * @example
 * const out = memRead(
 *   new Float32Array([1000, 0]),              // q: one row, dim 2
 *   new Float32Array([1, 0, 0, 1]),           // keys: e0, e1
 *   new Float32Array([10, 20, 30, 40]),       // values
 *   1.0);
 * // → Float32Array [10, 20]: the query matches key 0, so the read returns value 0
 */
export function memRead(
  q: Float32Array, keys: Float32Array, values: Float32Array, temp: number, options?: MemReadOptions,
): Float32Array;

// ---- The machine ------------------------------------------------------------------------------

/** Where a bank comes from. A string is a URL (relative URLs resolve against the page). */
export type BankSource = string | URL | ArrayBuffer | Uint8Array | Blob | Response;

export interface LoadProgress {
  /** Bytes received so far. */
  loaded: number;
  /** Total bytes, when the server said (Content-Length); else null. */
  total: number | null;
}

export interface LoadMachineOptions extends InitOptions {
  /** Called as the bank's bytes arrive (fetches) and once at the end. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborts the fetch and the load: the promise rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /**
   * Banks fetched by URL are kept in the Cache API (browsers) under "memread-banks" and not fetched
   * again; false turns that off for this call. Default true.
   */
  cache?: boolean;
}

/** The model's configuration, as stored in the bank (DESIGN §4). */
export interface MachineConfig {
  formatVersion: number;
  dim: number;
  layers: number;
  slots: number;
  vocabSize: number;
  context: 'input' | 'hidden';
  position: 'none' | 'learned';
  maxContext: number;
}

export interface MachineInfo {
  config: MachineConfig;
  name: string;
  description: string;
  /** The bank's `memread.training` metadata (JSON text: corpus, steps, bits per byte), or "". */
  training: string;
  /** Bytes of the bank file. */
  bytes: number;
}

export interface TokenPrediction {
  /** The token's text (bytes that are not valid UTF-8 on their own show as U+FFFD). */
  token: string;
  id: number;
  prob: number;
}

export interface SlotWeight {
  slot: number;
  weight: number;
  /**
   * The token whose embedding scores highest against the slot's key, and against its value: a
   * readable label, e.g. key " jury" → value " said". (For the swapped read, the key is V_l[slot].)
   */
  key: { id: number; token: string };
  value: { id: number; token: string };
}

export interface LayerTrace {
  /** The heaviest slots of the associative read, heaviest first. */
  assoc: SlotWeight[];
  /** The heaviest slots of the swapped ("MLP") read. */
  mlp: SlotWeight[];
  /** The context read's weight of every previous token of the window (length = tokens.length − 1). */
  context: Float32Array;
}

export interface Trace {
  /** Index, in the text's tokens, of the first token the model saw (texts longer than maxContext). */
  windowStart: number;
  /** The window's token ids and texts. */
  ids: Int32Array;
  tokens: string[];
  /** One entry per layer. */
  layers: LayerTrace[];
}

export interface GenerateOptions {
  /** Tokens to generate at most. Default 64. */
  maxTokens?: number;
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k most probable tokens; 0 = all. Default 0. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set reaching this probability, in (0, 1]. Default 1. */
  topP?: number;
  /** Same seed, same text. Default 0. */
  seed?: number;
  /** Stops the generation within one token. */
  signal?: AbortSignal;
}

/**
 * A loaded bank, ready to read text. Reads are incremental: predicting after one more keystroke
 * costs about one token's work. Owns wasm memory: call dispose().
 */
export interface Machine {
  readonly info: MachineInfo;
  /**
   * The most probable next tokens after `text`, most probable first.
   * @example
   * machine.predict('The jury said', { topK: 3 });
   * // → [{ token: ' the', id: 262, prob: 0.21 }, { token: ' that', id: 300, prob: 0.09 }, …]
   */
  predict(text: string, options?: { topK?: number }): TokenPrediction[];
  /**
   * Streams a continuation of `text`, piece by piece (whole characters).
   * @example
   * for await (const piece of machine.generate('The jury', { maxTokens: 20, temperature: 0 })) out += piece;
   */
  generate(text: string, options?: GenerateOptions): AsyncIterable<string>;
  /** What each layer read for the last position of `text`: enough to draw what the model looked at. */
  trace(text: string, options?: { topSlots?: number }): Trace;
  /**
   * The weight of one slot of one of a layer's bank reads at every position of `text` (the window):
   * what a person sees when selecting a slot.
   * @example
   * machine.slotWeights('The jury said', { layer: 0, read: 'assoc', slot: 17 });  // → Float32Array(n)
   */
  slotWeights(text: string, options: { layer: number; read?: 'assoc' | 'mlp'; slot: number }): Float32Array;
  /** Bits per byte of `text` (DESIGN §6). */
  evaluate(text: string): { bitsPerByte: number; tokens: number; bytes: number };
  tokenize(text: string): Int32Array;
  detokenize(ids: Int32Array | number[]): string;
  /** Frees the wasm memory. Later calls throw MemreadError DISPOSED. Safe to call twice. */
  dispose(): void;
}

/**
 * Loads a bank and returns a Machine. Calls init() itself.
 * @example
 * import { loadMachine } from 'memread';
 * const machine = await loadMachine('/banks/en-brown.safetensors', { onProgress: (p) => console.log(p.loaded) });
 * machine.predict('The jury said');
 */
export function loadMachine(source: BankSource, options?: LoadMachineOptions): Promise<Machine>;

/** Removes every bank memread cached (Cache API "memread-banks"). Resolves to the number removed. */
export function clearBankCache(): Promise<number>;

// ---- The machine in a Web Worker ----------------------------------------------------------------

/** Every call of a {@link WorkerMachine} takes a signal: aborting it rejects the call at once. */
export interface CallOptions {
  /**
   * Rejects the call with the signal's reason (an AbortError) at once and tells the worker: a call
   * not started yet is never computed; a running generation stops before its next token.
   */
  signal?: AbortSignal;
}

/**
 * A {@link Machine} running in its own module Web Worker, so that reading text never blocks the
 * page. The same methods, async, plus `signal` on every call and `terminate()`.
 *
 * - Calls run one at a time in the worker, in the order they were made.
 * - Latest predict wins: a predict that has not started when a newer predict is made is never
 *   computed and rejects with MemreadError SUPERSEDED (predicts made in the same task are merged
 *   before they are sent; a predict waiting in the worker behind a longer call is dropped there).
 *   Only predict is merged like this; every other call is answered.
 * - Errors keep their class and code across the boundary (MemreadError with `code`, AbortError).
 * - Typed arrays in results (tokenize, trace) are transferred, not copied.
 * @example
 * import { loadMachineInWorker } from 'memread';
 * const machine = await loadMachineInWorker('/banks/en-brown.safetensors');
 * input.addEventListener('input', async () => {
 *   try {
 *     show(await machine.predict(input.value, { topK: 5 }));  // only the latest keystroke's is computed
 *   } catch (error) {
 *     if (error.code !== 'SUPERSEDED' && error.code !== 'EMPTY_TEXT') throw error;
 *   }
 * });
 */
export interface WorkerMachine {
  /** As {@link Machine.info}; known once the bank has loaded. */
  readonly info: MachineInfo;
  /**
   * @example
   * machine.predict('The jury said', { topK: 3 });
   * // → [{ token: ' the', id: 262, prob: 0.21 }, { token: ' that', id: 300, prob: 0.09 }, …]
   */
  predict(text: string, options?: { topK?: number } & CallOptions): Promise<TokenPrediction[]>;
  /**
   * Streams a continuation, as {@link Machine.generate}. Starts when the iteration starts;
   * `break` stops the worker's generation; an abort ends the iteration with the signal's reason
   * (pieces that arrived but were not taken yet are dropped). Bad arguments reject the first
   * `next()`. Pieces are pushed as they are made (no back-pressure).
   * @example
   * const stop = new AbortController();
   * stopButton.onclick = () => stop.abort();
   * try {
   *   for await (const piece of machine.generate('The jury', { maxTokens: 200, signal: stop.signal })) out.append(piece);
   * } catch (error) {
   *   if (error.name !== 'AbortError') throw error;
   * }
   */
  generate(text: string, options?: GenerateOptions): AsyncIterable<string> & AsyncIterator<string>;
  trace(text: string, options?: { topSlots?: number } & CallOptions): Promise<Trace>;
  slotWeights(text: string, options: { layer: number; read?: 'assoc' | 'mlp'; slot: number } & CallOptions): Promise<Float32Array>;
  evaluate(text: string, options?: CallOptions): Promise<{ bitsPerByte: number; tokens: number; bytes: number }>;
  tokenize(text: string, options?: CallOptions): Promise<Int32Array>;
  detokenize(ids: Int32Array | number[], options?: CallOptions): Promise<string>;
  /**
   * Lets the calls already made finish (a generation stops: its iteration throws DISPOSED), frees
   * the machine, then ends the worker. Later calls reject with DISPOSED. Safe to call twice.
   */
  dispose(): Promise<void>;
  /**
   * Ends the worker at once, even in the middle of a call: every call not yet answered (and every
   * later call) rejects with MemreadError TERMINATED. Synchronous; the memory goes with the worker.
   */
  terminate(): void;
}

/**
 * Loads a bank in a new module Web Worker (`new Worker(new URL('./worker.js', import.meta.url),
 * {type: 'module'})`, which Vite and webpack 5 follow). Browser entry only.
 *
 * - A URL string resolves against the page (not the worker's script) and is fetched in the
 *   worker, through the bank cache (see {@link LoadMachineOptions.cache}); progress is forwarded.
 * - An ArrayBuffer is transferred to the worker, not copied: it is detached (length 0) here
 *   afterwards. A Uint8Array is copied (the caller keeps it). A Blob is shared; a Response is read
 *   here into a Blob.
 * - `locateFile` is called here once, for "memread-core.wasm", and its answer sent to the worker
 *   (a function cannot cross); `wasmBinary` is copied to it.
 * - An abort, or a failed load, ends the worker.
 * Rejects with what {@link loadMachine} rejects with, or WORKER_FAILED when the worker cannot start.
 * @example
 * import { loadMachineInWorker } from 'memread';
 * const machine = await loadMachineInWorker('/banks/en-brown.safetensors', {
 *   onProgress: ({ loaded, total }) => bar.value = total ? loaded / total : 0,
 * });
 * await machine.predict('The jury said');  // → [{ token: ' the', id: 262, prob: 0.21 }, …]
 * machine.terminate();
 */
export function loadMachineInWorker(source: BankSource, options?: LoadMachineOptions): Promise<WorkerMachine>;
