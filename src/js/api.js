// The public API, written once for both entries. Each entry (index.js for browsers and workers,
// node.js for Node) passes the function that instantiates the Embind module in its environment.
import { fetchBank, forgetBank } from './bank-cache.js';
import { MemreadError } from './errors.js';
import { createMachine, memoryBytes } from './machine.js';
import { throwIfAborted } from './util.js';
import {
  classifyBankSource, requireDim, requireFinite, requireFloat32Array, requireMultipleOf, requireOptions,
  requireSignal, requireTemperature,
} from './validate.js';

// wasm32 addresses 4 GiB; the module is linked with -sMAXIMUM_MEMORY=4GB.
const WASM_MEMORY_LIMIT = 4 * 1024 ** 3;

// The smallest module using a SIMD128 instruction (i8x16.splat + v128 result): WebAssembly.validate
// says whether this engine has WebAssembly SIMD, without compiling our module to find out.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

export function hasWasmSimd() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * @param {(options: {locateFile?: Function, wasmBinary?: ArrayBuffer|Uint8Array}) => Promise<object>} instantiate
 */
export function makeApi(instantiate, { readFileUrl } = {}) {
  // Each api loads its own module; the functions below take this holder to find it.
  const runtime = {
    instantiate,
    readFileUrl,       // (URL) => Promise<Uint8Array> of a file: URL's bytes (Node), or undefined
    core: null,        // the Embind module, once loaded
    loading: null,     // the Promise of the first successful init()
  };

  // new MemBank(keys, values, options) on this api's module: NOT_INITIALIZED before init().
  class MemBank extends CoreMemBank {
    constructor(keys, values, options) {
      super(requireCore(runtime), keys, values, options);
    }
  }

  return {
    init: (options) => init(runtime, options),
    backendInfo: () => backendInfo(runtime),
    MemBank,
    memRead: (q, keys, values, temp, options) => memRead(runtime, q, keys, values, temp, options),
    MemreadError,
    loadMachine: (source, options) => loadMachine(runtime, source, options),
  };
}

// ---- The module ------------------------------------------------------------------------------------

/** @typedef {{instantiate: Function, readFileUrl?: Function, core: object|null, loading: Promise<void>|null}} Runtime makeApi's holder of its module */

async function load(runtime, options) {
  if (!hasWasmSimd()) {
    throw new MemreadError('NO_WASM_SIMD',
      'this JavaScript engine has no WebAssembly SIMD; memread needs Chrome 91+, Firefox 89+, Safari 16.4+ or Node 16.4+');
  }
  try {
    runtime.core = await runtime.instantiate(options);
  } catch (cause) {
    throw new MemreadError('WASM_LOAD_FAILED',
      `could not load memread's WebAssembly module: ${cause?.message ?? cause}`, { cause });
  }
}

/**
 * Loads the wasm module once. Later calls return the same promise; a failed load may be retried.
 * @param {Runtime} runtime
 * @param {{locateFile?: (path: string, prefix: string) => string, wasmBinary?: ArrayBuffer|Uint8Array}} [options]
 */
function init(runtime, options = {}) {
  requireOptions(options, 'init');
  if (!runtime.loading) {
    runtime.loading = load(runtime, options).catch((error) => {
      runtime.loading = null;
      throw error;
    });
  }
  return runtime.loading;
}

function requireCore(runtime) {
  if (!runtime.core) {
    throw new MemreadError('NOT_INITIALIZED', 'memread is not initialised: await init() first');
  }
  return runtime.core;
}

function kernelNames(module) {
  const names = [];
  for (let i = 0; i < module.kernelSetCount(); i++) names.push(module.kernelSetName(i));
  return names;
}

/**
 * What this build runs on: the SIMD backend and the kernel variants it carries; memoryBytes, the
 * wasm memory's size now (it grows as banks load, up to 4 GiB, and never shrinks); and
 * heapBytesInUse, the part of it allocated now (what loaded banks, machines and memories hold).
 * @param {Runtime} runtime
 */
function backendInfo(runtime) {
  const module = requireCore(runtime);
  return {
    simd: module.simdBackend(), kernels: kernelNames(module), defaultKernel: 'wasmsimd',
    memoryBytes: module.HEAPU8.length, heapBytesInUse: module.heapBytesInUse(),
  };
}

// ---- Reads -----------------------------------------------------------------------------------------

// Grows-only scratch in wasm memory for the queries and results of reads.
class IoBuffer {
  constructor(module) {
    this.module = module;
    this.offset = 0;
    this.floats = 0;
  }
  reserve(floats) {
    if (floats > this.floats) {
      this.release();
      // >>> 0: an address past 2 GiB comes back from wasm as a negative i32.
      const offset = this.module._malloc(floats * 4) >>> 0;
      if (!offset) {
        throw new MemreadError('OUT_OF_MEMORY', `out of wasm memory for ${floats} floats of queries and results`);
      }
      this.offset = offset;
      this.floats = floats;
    }
    return this.offset;
  }
  release() {
    if (this.offset) this.module._free(this.offset);
    this.offset = 0;
    this.floats = 0;
  }
}

/**
 * A memory (K, V) resident in wasm memory: keys re-laid for the SIMD kernels once (or, with dtype
 * 'i8', quantized to int8 rows with one scale each and read by the integer kernels), so a read
 * copies only the queries in and the result out. Call dispose() when done.
 * (MemBank, made by makeApi, is this class on the api's own module.)
 */
class CoreMemBank {
  #bank = null;
  #io = null;
  #dim = 0;
  #slots = 0;

  /**
   * @param {object} module the Embind module
   * @param {Float32Array} keys n×dim, row-major
   * @param {Float32Array} values n×dim, row-major
   * @param {{dim: number, kernel?: string, dtype?: 'f32'|'i8'}} options
   */
  constructor(module, keys, values, options) {
    if (options === null || typeof options !== 'object') {
      throw new MemreadError('BAD_OPTION', 'new MemBank(keys, values, {dim}) needs an options object with dim');
    }
    const { dim, kernel = 'wasmsimd', dtype = 'f32' } = options;
    if (dtype !== 'f32' && dtype !== 'i8') {
      throw new MemreadError('BAD_OPTION', `dtype must be 'f32' or 'i8', got ${String(dtype)}`);
    }
    requireFloat32Array(keys, 'keys');
    requireFloat32Array(values, 'values');
    requireDim(dim);
    requireMultipleOf(keys, dim, 'keys');
    if (values.length !== keys.length) {
      throw new MemreadError('SHAPE_MISMATCH',
        `values has ${values.length} floats but keys has ${keys.length}: each slot needs one key and one value of dim ${dim}`);
    }
    const kernels = kernelNames(module);
    if (!kernels.includes(kernel)) {
      throw new MemreadError('BAD_OPTION', `kernel must be one of ${kernels.join(', ')}, got ${kernel}`);
    }
    const slots = keys.length / dim;
    // While it loads, a bank holds its rows and their re-laid copy: about 16 bytes per float of K.
    const bytesNeeded = 16 * keys.length + 4 * 4 * (slots + dim);
    if (bytesNeeded >= WASM_MEMORY_LIMIT) {
      throw new MemreadError('OUT_OF_MEMORY',
        `a bank of ${slots} slots of dim ${dim} needs ${bytesNeeded} bytes of wasm memory while it loads; WebAssembly memory is limited to 4 GiB`);
    }

    const bank = new module.PackedBank(kernel);
    const reserved = bank.reserve(slots, dim, dim, dtype === 'i8');
    if (reserved.error !== undefined) {
      bank.delete();
      throw new MemreadError(reserved.code, reserved.error);
    }
    // Write K and V straight into the bank's memory; read HEAPF32 afresh, after the allocation.
    module.HEAPF32.set(keys, bank.keyRowsOffset() >>> 2);
    module.HEAPF32.set(values, bank.valueRowsOffset() >>> 2);
    // Packing also checks K and V for NaN and ±Infinity (in wasm: 20× faster than a JS loop).
    const packed = bank.pack();
    if (packed.error !== undefined) {
      bank.delete();
      throw new MemreadError(packed.code, packed.error);  // NON_FINITE, or OUT_OF_MEMORY
    }

    this.#bank = bank;
    this.#io = new IoBuffer(module);
    this.#dim = dim;
    this.#slots = slots;
  }

  /** Key (and value) dimension. */
  get dim() { return this.#dim; }
  /** Number of slots n. */
  get slots() { return this.#slots; }

  /**
   * softmax(q·Kᵀ/temp)·V for each of the rows of q.
   * @param {Float32Array} q B×dim
   * @param {number} temp finite, > 0
   * @param {Float32Array} [out] B×dim, reused when given
   * @returns {Float32Array} B×dim
   */
  read(q, temp, out) {
    if (!this.#bank) throw new MemreadError('DISPOSED', 'this MemBank was disposed; create a new one');
    const dim = this.#dim;
    requireFloat32Array(q, 'q');
    if (q.length === 0) throw new MemreadError('BAD_SHAPE', 'q is empty: it needs at least one row of dim ' + dim);
    requireMultipleOf(q, dim, 'q');
    requireTemperature(temp);
    requireFinite(q, 'q');
    const rows = q.length / dim;
    if (out === undefined) {
      out = new Float32Array(rows * dim);
    } else {
      requireFloat32Array(out, 'out');
      if (out.length !== rows * dim) {
        throw new MemreadError('SHAPE_MISMATCH', `out has ${out.length} floats but the read of ${rows} rows writes ${rows * dim}`);
      }
    }
    const module = this.#io.module;
    const ioOffset = this.#io.reserve(2 * rows * dim);
    const qOffset = ioOffset, outOffset = ioOffset + rows * dim * 4;
    const heap = module.HEAPF32;  // afresh: an allocation may have grown (and replaced) memory
    heap.set(q, qOffset >>> 2);
    this.#bank.read(qOffset, rows, temp, outOffset, 0);
    out.set(heap.subarray(outOffset >>> 2, (outOffset >>> 2) + rows * dim));
    return out;
  }

  /** Frees the wasm memory. Further reads throw a MemreadError with code DISPOSED. */
  dispose() {
    if (!this.#bank) return;
    this.#bank.delete();
    this.#io.release();
    this.#bank = null;
  }
}

/**
 * The bare primitive: softmax(q·Kᵀ/temp)·V with K and V copied in for this one call.
 * For repeated reads of one memory, keep a MemBank instead.
 * @param {Runtime} runtime
 * @param {Float32Array} q B×dim (dim defaults to q.length: one row)
 * @param {Float32Array} keys n×dim
 * @param {Float32Array} values n×dim
 * @param {number} temp finite, > 0
 * @param {{dim?: number, out?: Float32Array}} [options]
 */
function memRead(runtime, q, keys, values, temp, options = {}) {
  requireOptions(options, 'memRead');
  requireFloat32Array(q, 'q');
  const { dim = q.length, out } = options;
  requireDim(dim);
  requireMultipleOf(q, dim, 'q');
  requireTemperature(temp);
  const bank = new CoreMemBank(requireCore(runtime), keys, values, { dim });
  try {
    return bank.read(q, temp, out);
  } finally {
    bank.dispose();
  }
}

// ---- Machines --------------------------------------------------------------------------------------

/**
 * Loads a bank and returns a Machine (see index.d.ts). Calls init() itself.
 * @param {Runtime} runtime
 * @param {string|URL|ArrayBuffer|Uint8Array|Blob|Response} source
 * @param {{onProgress?: Function, signal?: AbortSignal, cache?: boolean, locateFile?: Function, wasmBinary?: ArrayBuffer|Uint8Array, memory?: string|URL|ArrayBuffer|Uint8Array|Blob|Response}} [options]
 */
async function loadMachine(runtime, source, options = {}) {
  requireOptions(options, 'loadMachine');
  const { onProgress, signal, cache = true, locateFile, wasmBinary, memory } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new MemreadError('BAD_OPTION', 'onProgress must be a function');
  }
  requireSignal(signal);
  throwIfAborted(signal);
  const [bytes, memoryFile] = await Promise.all([
    readSource(runtime, source, { onProgress, signal, cache }),
    memory === undefined ? undefined : memoryBytes(memory, signal),
    init(runtime, { locateFile, wasmBinary }),
  ]);
  throwIfAborted(signal);
  let machine;
  try {
    machine = createMachine(runtime.core, bytes);
    if (memoryFile !== undefined) await machine.loadMemory(memoryFile);
    return machine;
  } catch (error) {
    machine?.dispose();
    // A file that looked like a bank at the door but is not one must not stay in the cache.
    if (error.code === 'BAD_BANK' && (typeof source === 'string' || source instanceof URL)) {
      await forgetBank(new URL(source, globalThis.location?.href)).catch(() => {});
    }
    throw error;
  }
}

/**
 * The bytes of a bank source: URL strings and URLs are fetched (through the bank cache), file: URLs
 * read from disk where the entry can (Node), the rest is read in place.
 */
async function readSource(runtime, source, { onProgress, signal, cache }) {
  const { kind, url } = classifyBankSource(source, globalThis.location?.href);
  let bytes;
  if (kind === 'url' && url.protocol === 'file:' && runtime.readFileUrl) {
    try {
      bytes = await runtime.readFileUrl(url);
    } catch (cause) {
      throw new MemreadError('FETCH_FAILED', `could not read the bank file ${url.href}: ${cause?.message ?? cause}`, { cause });
    }
  } else if (kind === 'url') {
    return fetchBank(url, { signal, onProgress, cache });
  } else if (kind === 'uint8array') bytes = source;
  else if (kind === 'arraybuffer') bytes = new Uint8Array(source);
  else bytes = new Uint8Array(await source.arrayBuffer());  // a Blob or an ok Response
  onProgress?.({ loaded: bytes.length, total: bytes.length });
  return bytes;
}
