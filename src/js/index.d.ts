/**
 * memread: a language model made of one operation, the associative-memory read
 * `mem(q, K, V, τ) = softmax(q·Kᵀ/τ)·V`, run by a WebAssembly SIMD core.
 *
 * {@link loadMachine} (or {@link loadMachineInWorker}) loads a bank — {@link defaultBank} is the one
 * the package ships — and the {@link Machine} completes the word being typed, predicts the next
 * token, generates, traces what it read and scores text. The read itself is here too: the bare
 * primitive {@link memRead} and the resident {@link MemBank}, which need {@link init} first.
 * The element `<memread-suggest>` is `import 'memread/suggest'`.
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
  | 'EMPTY_TEXT'        // predict/complete/trace/generate of an empty text: nothing to read from
  | 'BAD_TOKEN'         // a token id that is not in the bank's vocabulary
  | 'BAD_MEMORY'        // a memory file of another bank, truncated or damaged (the message names the rule broken)
  | 'NO_MEMORY'         // exportMemory() on a machine with no memory
  | 'BUSY'              // remember() while another remember() runs on the same machine
  | 'SUPERSEDED'        // worker: a newer predict (or complete) was made before this one ran; never computed
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
 * backendInfo();  // → { simd: 'wasm_simd128', kernels: ['scalar', 'wasmsimd'], defaultKernel: 'wasmsimd', memoryBytes: 16777216, heapBytesInUse: 560 }
 */
export function backendInfo(): {
  simd: string;
  kernels: string[];
  defaultKernel: string;
  /** The wasm memory's size now, in bytes: it grows as banks load (up to 4 GiB) and never shrinks. */
  memoryBytes: number;
  /** The bytes of that memory allocated now: what loaded banks, machines and memories hold. */
  heapBytesInUse: number;
};

export interface MemBankOptions {
  /** Key (and value) dimension: keys and values hold `slots × dim` floats. */
  dim: number;
  /**
   * The kernel variant: 'wasmsimd' (default, the fast one) or 'scalar' (the plain reference,
   * for comparisons and benchmarks).
   */
  kernel?: 'wasmsimd' | 'scalar';
  /**
   * How the bank holds K and V: 'f32' (default), or 'i8': each row quantized to int8 with one
   * scale (as `memread quantize --dtype i8` stores a bank's weights) and read by the integer
   * kernels, a quarter of the memory and faster. The read is that of the rounded rows, with the
   * query and the weights rounded to 16 bits (error budget: docs/kernels.md).
   */
  dtype?: 'f32' | 'i8';
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
  /**
   * A memory file (from {@link Machine.exportMemory} or `memread remember`) to attach once the
   * bank has loaded; a memory of another bank rejects with BAD_MEMORY (nothing is left loaded).
   */
  memory?: MemorySource;
}

/** Where a memory file comes from. A string is a URL, fetched (without the bank cache). */
export type MemorySource = string | URL | ArrayBuffer | Uint8Array | Blob | Response;

/** The constants of a memory's write and read (DESIGN §10, docs/memory.md). */
export interface MemoryParams {
  /** α: the step of the delta rule. */
  alpha: number;
  /** P: passes of the delta rule over the text, 1 to 16. */
  passes: number;
  /** β: how sharply the read prefers the nearest slot. */
  sharpness: number;
  /** τ: the least cosine between a position's key and a slot's at which the slot is read, in (0, 1). */
  gate: number;
}

/** What a machine's memory holds. */
export interface MemoryInfo {
  /** One slot per token of the remembered texts but the last of each. */
  slots: number;
  /** Bytes it holds in wasm memory: its slots (1,604 bytes each at dim 192) and its source texts. */
  bytes: number;
  /** UTF-8 bytes of the remembered texts, kept so that a trace can show the passage a read recalled. */
  sourceBytes: number;
  params: MemoryParams;
}

export interface RememberOptions extends Partial<MemoryParams> {
  /** Called after each step of the write: `done` of `total` units of work (positions × passes). */
  onProgress?: (progress: { done: number; total: number }) => void;
  /** Cancels the write between two steps (an AbortError); the memory is then as it was. */
  signal?: AbortSignal;
}

/** A slot of the memory that the last position's read recalled, and the passage it came from. */
export interface MemoryRecall {
  slot: number;
  /** Its weight in the read (the weights of a read sum to less than 1: the gate keeps the rest). */
  weight: number;
  /** Byte offset, in the memory's source texts, of the token the slot predicts. */
  offset: number;
  /** Up to 96 bytes of the remembered text before that token, and up to 32 from it on. */
  before: string;
  after: string;
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
  /**
   * The window rule (DESIGN §1): 'rolling' (position i reads positions i − T … i − 1 of the whole
   * text; a keystroke costs one row per layer at any length), or 'version1' for a bank made before
   * it (no "window" in its config: the last T tokens are read as a text of their own).
   */
  window: 'rolling' | 'version1';
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
  /** The memory's slots the last position's read recalled, heaviest first; [] with none (the read is 0). */
  memory: MemoryRecall[];
  /**
   * Index, in the text's tokens, of the first token the last position's context read sees (its
   * last maxContext tokens; 0 for shorter texts). Earlier tokens reach it through the layers.
   */
  windowStart: number;
  /** The token ids and texts from windowStart to the end. */
  ids: Int32Array;
  tokens: string[];
  /** One entry per layer. */
  layers: LayerTrace[];
}

/** A completion of the word being typed (DESIGN §9, docs/model.md "Completions"). */
export interface Completion {
  /**
   * What to insert at the caret: the rest of the word, without the character that ends it; that
   * character alone (e.g. `' '`) when the letters typed are a whole word already; after a space,
   * the next word.
   */
  text: string;
  /** Its probability, normalised over the completions found. */
  prob: number;
  /**
   * The most probable token sequence found that spells it, read from the start of the word (it
   * spells the letters typed, then `text`; its last token may reach past the word).
   */
  tokens: number[];
}

export interface CompleteOptions {
  /** Completions at most, 1 to 1024. Default 5. */
  topK?: number;
  /** Tokens a completion may take from the start of the word, 1 to 64. Default 6. */
  maxTokens?: number;
  /** An already aborted signal throws its reason (an AbortError). */
  signal?: AbortSignal;
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
  /**
   * ≥ 1 (1 = none): the logits of the tokens among the last maxContext tokens are divided by it
   * when positive and multiplied by it when negative (Hugging Face's `repetition_penalty`).
   * Default 1; the page uses 1.3.
   */
  repetitionPenalty?: number;
  /**
   * n ≥ 1 bans every token that would repeat an n-gram of the text (Hugging Face's
   * `no_repeat_ngram_size`); 0 = off. Default 0; the page uses 3.
   */
  noRepeatNgramSize?: number;
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
   * The completions of the word being typed at the end of `text` (or of the next word, after a
   * space), most probable first: the machine reads the text up to the word's start and searches
   * the token sequences that spell the letters typed. Tab-to-accept inserts `text` of the first.
   * @example
   * machine.complete('He walked into the ro', { topK: 2 });
   * // → [{ text: 'om', prob: 0.464, tokens: [1495] }, { text: 'cked', prob: 0.101, tokens: [303, 99, 555] }]
   * machine.complete('The jury said it would ', { topK: 2 });
   * // → [{ text: 'not', prob: 0.564, tokens: [400] }, { text: 'have', prob: 0.096, tokens: [998] }]
   */
  complete(text: string, options?: CompleteOptions): Completion[];
  /**
   * The raw next-token distribution after `text` as it stands, most probable first (mid-word, it
   * reads the half-typed word as a token sequence: {@link complete} is what a person wants).
   * @example
   * machine.predict('He walked into the ro', { topK: 2 });
   * // → [{ token: 'c', id: 99, prob: 0.319 }, { token: 'l', id: 108, prob: 0.180 }]
   */
  predict(text: string, options?: { topK?: number }): TokenPrediction[];
  /**
   * Streams a continuation of `text`, piece by piece (whole characters). A half-typed word is
   * healed as {@link complete} heals it: the pieces start after the letters typed.
   * @example
   * let out = '';
   * const options = { maxTokens: 16, temperature: 0.8, topP: 0.95, repetitionPenalty: 1.3, noRepeatNgramSize: 3, seed: 1 };
   * for await (const piece of machine.generate('He walked into the ro', options)) out += piece;
   * // → out === 'ckins and rooms in the wall . He got out .\nHe went '
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
  /** Bits per byte of `text` (DESIGN §6), with the memory if one is attached. */
  evaluate(text: string): { bitsPerByte: number; tokens: number; bytes: number };
  tokenize(text: string): Int32Array;
  detokenize(ids: Int32Array | number[]): string;
  /**
   * Teaches the machine `text` without training (DESIGN §10): a memory read at the end of every
   * prediction, written from the text by forward passes only, added after what the memory holds.
   * Other calls may run while it writes (they read the memory as it was). Rejects with EMPTY_TEXT
   * (fewer than two tokens), BUSY (a remember is running), BAD_OPTION (parameters out of range, or
   * other than those the memory was written with), OUT_OF_MEMORY (before anything is allocated: the
   * write would pass 1 GiB or what wasm memory can still grow to; about 270,000 tokens at dim 192).
   * @example
   * await machine.remember(myNotes, { onProgress: ({ done, total }) => bar.value = done / total });
   * machine.complete('Our night porter is called Oz');  // now from the notes too
   */
  remember(text: string, options?: RememberOptions): Promise<MemoryInfo>;
  /** Drops the memory (a remember under way rejects with an AbortError): predictions are the bank's alone, bit for bit. */
  forget(): void;
  /** What the memory holds, or null when there is none. */
  readonly memory: MemoryInfo | null;
  /** The memory as a file (safetensors, docs/memory.md) for {@link Machine.loadMemory}; NO_MEMORY when none. */
  exportMemory(): Uint8Array;
  /** Attaches a memory file, replacing the memory; BAD_MEMORY (the memory stays as it was) if it is not this bank's or is damaged. */
  loadMemory(source: MemorySource, options?: { signal?: AbortSignal }): Promise<MemoryInfo>;
  /** Frees the wasm memory. Later calls throw MemreadError DISPOSED. Safe to call twice. */
  dispose(): void;
}

/**
 * Loads a bank and returns a Machine. Calls init() itself. In Node, a `file:` URL is read from disk.
 * @example
 * import { loadMachine, defaultBank } from 'memread';
 * const machine = await loadMachine(defaultBank(), { onProgress: (p) => console.log(p.loaded) });
 * machine.complete('The jury said it would ', { topK: 2 });
 */
export function loadMachine(source: BankSource, options?: LoadMachineOptions): Promise<Machine>;

/**
 * The URL of the bank the package ships, `memread/banks/en-brown.safetensors` (English, trained on
 * the Brown corpus; 3.95 MB): a URL next to the package's own files, which bundlers such as Vite
 * emit as an asset, and a `file:` URL in Node, which {@link loadMachine} reads from disk.
 */
export function defaultBank(): URL;

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
 *   Complete is merged the same way, apart from predict; every other call is answered.
 * - Errors keep their class and code across the boundary (MemreadError with `code`, AbortError).
 * - Typed arrays in results (tokenize, trace) are transferred, not copied.
 * @example
 * import { loadMachineInWorker } from 'memread';
 * const machine = await loadMachineInWorker('/banks/en-brown.safetensors');
 * input.addEventListener('input', async () => {
 *   try {
 *     show(await machine.complete(input.value, { topK: 5 }));  // only the latest keystroke's is computed
 *   } catch (error) {
 *     if (error.code !== 'SUPERSEDED' && error.code !== 'EMPTY_TEXT') throw error;
 *   }
 * });
 */
export interface WorkerMachine {
  /** As {@link Machine.info}; known once the bank has loaded. */
  readonly info: MachineInfo;
  /**
   * As {@link Machine.complete}; latest call wins, apart from predicts (a keystroke asks for both).
   * @example
   * await machine.complete('The jury said it would ', { topK: 2 });
   * // → [{ text: 'not', prob: 0.564, tokens: [400] }, { text: 'have', prob: 0.096, tokens: [998] }]
   */
  complete(text: string, options?: CompleteOptions & CallOptions): Promise<Completion[]>;
  /**
   * @example
   * await machine.predict('He walked into the ro', { topK: 2 });
   * // → [{ token: 'c', id: 99, prob: 0.319 }, { token: 'l', id: 108, prob: 0.180 }]
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
   * As {@link Machine.remember}. Runs beside the worker's queue: predictions and completions are
   * answered while the memory is written. Cancel with `signal` (or forget()).
   */
  remember(text: string, options?: RememberOptions): Promise<MemoryInfo>;
  forget(options?: CallOptions): Promise<void>;
  /** What the memory holds as the worker last said (after load, remember, forget, loadMemory), or null. */
  readonly memory: MemoryInfo | null;
  exportMemory(options?: CallOptions): Promise<Uint8Array>;
  loadMemory(source: MemorySource, options?: CallOptions): Promise<MemoryInfo>;
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
 * await machine.complete('He walked into the ro');  // → [{ text: 'om', prob: 0.464, tokens: [1495] }, …]
 * machine.terminate();
 */
export function loadMachineInWorker(source: BankSource, options?: LoadMachineOptions): Promise<WorkerMachine>;
