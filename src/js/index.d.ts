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
  | 'BAD_TEMPERATURE'   // temp is not a finite number > 0 (as a float32)
  | 'NON_FINITE'        // an input holds NaN or ±Infinity
  | 'BAD_OPTION'        // an option is missing or invalid (dim, kernel, ...)
  | 'DISPOSED'          // the object was disposed
  | 'NOT_INITIALIZED'   // a synchronous call before `await init()`
  | 'NO_WASM_SIMD'      // this engine has no WebAssembly SIMD
  | 'WASM_LOAD_FAILED'  // the wasm module could not be fetched or instantiated
  | 'OUT_OF_MEMORY';    // the request does not fit in wasm memory (4 GiB at most)

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
 * backendInfo();  // → { simd: 'wasm_simd128', kernels: ['scalar', 'wasmsimd'], defaultKernel: 'wasmsimd' }
 */
export function backendInfo(): { simd: string; kernels: string[]; defaultKernel: string };

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
