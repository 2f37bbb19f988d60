// A loaded bank as a JS object: the friendly side of the Embind `Machine`. Validates every argument
// (raising MemreadError before anything reaches wasm), cleans text to well-formed Unicode, turns
// token bytes into strings, and streams generation one token at a time.
import { MemreadError } from './errors.js';
import { abortReason, nextMacrotask, pageUrl } from './util.js';
import { requireOptions, requireSignal } from './validate.js';

const textDecoder = new TextDecoder('utf-8');  // non-fatal: invalid bytes become U+FFFD
const textEncoder = new TextEncoder();  // texts go into wasm memory as UTF-8 (encodeInto)

/**
 * `text` with every lone surrogate replaced by U+FFFD, so that what reaches C++ is valid UTF-8.
 * @param {unknown} text
 * @param {string} name
 */
export function cleanText(text, name = 'text') {
  if (typeof text !== 'string') {
    throw new MemreadError('BAD_TYPE', `${name} must be a string, got ${text === null ? 'null' : typeof text}`);
  }
  if (typeof text.toWellFormed === 'function') return text.toWellFormed();
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

function requireWholeNumber(value, name, min, max) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MemreadError('BAD_OPTION', `${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
}

// ---- Will the bank fit in wasm memory? ------------------------------------------------------------
//
// A failed allocation inside C++ aborts the whole wasm module (every machine and MemBank on it dies),
// so createMachine checks first, from the file's size, that the load can fit, and refuses with
// OUT_OF_MEMORY before allocating anything when it cannot.
//
// What a load holds at its peak, in wasm memory, for a file of S bytes holding F bytes of floats
// (F = S for F32 tensors; up to 2S when tensors are F16, widened to float on load; up to 4S when
// a bank mixes I8 weight matrices with float ones, which are then all read as floats):
//   the file's copy (S) + the Bank's floats (F) + per layer two PackedBanks, each K and Vᵀ packed
//   (2 × the layer's floats) + the packed embedding (the embedding's floats) + while one PackedBank
//   packs, its K and V rows (≤ 1 layer) + the tokenizer (its tokens' bytes are capped at 64 MiB)
//   ≤ S + 4F + tokenizer, in theory. Measured with build/native/memread random-bank banks, as the
//   largest ballast with which a load still fits (F32, 9.5 to 68 MB): 4.36·S (8 layers) to 5.24·S
//   (1 layer of 65536 slots, the worst shape: its one layer is all of F) plus the tokenizer.
// A bank whose E, K and V are all I8 is read as it is (DESIGN §11): the file's copy, the codes (I
// bytes, kept once), and its few float tensors (scales, temperatures, positions: F).
// The estimate: S + I + 4.5·F + 128 MiB (the tokenizer's cap and its tables, fragmentation).
const WASM_HEAP_MAX = 4 * 1024 ** 3 - 65536;  // Emscripten grows memory up to 4 GiB − 64 KiB
const LOAD_FLOAT_FACTOR = 4.5;
const LOAD_ALLOWANCE = 128 * 1024 ** 2;
const STATIC_MEMORY = 16 * 1024 ** 2;          // the module's initial memory: never free for a bank
const PROBE_CHUNK = 64 * 1024 ** 2;

const mib = (bytes) => (bytes < 1024 ** 2 ? `${Math.ceil(bytes / 1024)} KiB` : `${Math.ceil(bytes / 1024 ** 2)} MiB`);

const WEIGHT_MATRIX = /^(embed|layers\.\d+\.(keys|values))$/;

// {int8, floats}: the bytes a load keeps as int8 and as floats, from the header's tensors (names,
// dtypes, byte ranges). A file that lies only hurts its own estimate; one whose header is not
// JSON counts as floats (its load fails on the header anyway).
function weightBytes(bytes) {
  const all = { int8: 0, floats: bytes.length };
  if (bytes.length < 8) return all;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLength = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  const header = bytes.subarray(8, 8 + Math.min(headerLength, 16 * 1024 ** 2, bytes.length - 8));
  let tensors;
  try {
    tensors = Object.entries(JSON.parse(new TextDecoder().decode(header))).filter(([name]) => name !== '__metadata__');
  } catch {
    return all;
  }
  const size = (t) => (Array.isArray(t?.data_offsets) ? Math.max(0, Number(t.data_offsets[1]) - Number(t.data_offsets[0])) || 0 : 0);
  const matrices = tensors.filter(([name]) => WEIGHT_MATRIX.test(name));
  const dtypes = new Set(tensors.map(([, t]) => t?.dtype));
  if (matrices.length > 0 && matrices.every(([, t]) => t?.dtype === 'I8')) {
    let int8 = 0, floats = 0;
    for (const [, t] of tensors) {
      if (t?.dtype === 'I8') int8 += size(t);
      else floats += (t?.dtype === 'F16' ? 2 : 1) * size(t);
    }
    return { int8, floats };
  }
  if (dtypes.has('I8')) return { int8: 0, floats: 4 * bytes.length };  // widened: read as floats
  if (dtypes.has('F16')) return { int8: 0, floats: 2 * bytes.length };
  return all;
}

/** Bytes of wasm memory a load of `bytes` may need at its peak (see above). */
export function loadBytesNeeded(bytes) {
  const { int8, floats } = weightBytes(bytes);
  return Math.ceil(bytes.length + int8 + LOAD_FLOAT_FACTOR * floats + LOAD_ALLOWANCE);
}

/**
 * Throws OUT_OF_MEMORY, naming the sizes, when a load of `bytes` cannot fit in wasm memory.
 * Memory that was never grown into is free for sure; memory below the current size may be free too
 * (a disposed machine's: wasm memory never shrinks), so when the bank only fits by reusing it, that
 * is checked by reserving the estimate with malloc (which fails gracefully, unlike C++'s new) and
 * freeing it again.
 */
function requireRoomFor(core, bytes) {
  const need = loadBytesNeeded(bytes);
  const heap = core.HEAPU8.length;
  if (need <= WASM_HEAP_MAX - heap) return;
  const refuse = (detail) => new MemreadError('OUT_OF_MEMORY',
    `a bank file of ${bytes.length} bytes (${mib(bytes.length)}) needs about ${need} bytes (${mib(need)}) of wasm memory to load, ${detail}`);
  if (need > WASM_HEAP_MAX - STATIC_MEMORY) {
    throw refuse(`more than WebAssembly's 4 GiB can hold (${mib(WASM_HEAP_MAX - STATIC_MEMORY)} at most for a bank)`);
  }
  // First one block of the file's size (the largest single allocation of a load), then the rest.
  const blocks = [];
  let reserved = 0;
  try {
    while (reserved < need) {
      const size = blocks.length === 0 ? Math.max(1, bytes.length) : Math.min(PROBE_CHUNK, need - reserved);
      const block = core._malloc(size) >>> 0;
      if (!block) break;
      blocks.push(block);
      reserved += size;
    }
  } finally {
    for (const block of blocks) core._free(block);
  }
  if (reserved < need) {
    throw refuse(`but only ${mib(reserved)} of it could be reserved (WebAssembly memory is limited to 4 GiB; it is ${mib(core.HEAPU8.length)} now, most of it in use)`);
  }
}

/**
 * The bank's bytes in wasm memory → a Machine, or MemreadError BAD_BANK naming the problem
 * (OUT_OF_MEMORY, before anything is allocated, if it cannot fit).
 * @param {object} core the Embind module
 * @param {Uint8Array} bytes
 */
export function createMachine(core, bytes) {
  requireRoomFor(core, bytes);
  const native = new core.Machine();
  // >>> 0: wasm returns pointers as signed i32, so an address past 2 GiB (memory may grow to 4 GiB)
  // comes back negative, and HEAPU8.set() would throw a RangeError at it.
  const offset = core._malloc(Math.max(1, bytes.length)) >>> 0;
  if (!offset) {
    native.delete();
    throw new MemreadError('OUT_OF_MEMORY', `out of wasm memory for a bank of ${bytes.length} bytes`);
  }
  let loaded;
  try {
    core.HEAPU8.set(bytes, offset);  // HEAPU8 read after the allocation, which may grow memory
    loaded = native.load(offset, bytes.length);
  } finally {
    core._free(offset);  // the machine keeps its own copy of what it needs
  }
  if (loaded.error !== undefined) {
    native.delete();
    if (loaded.code === 'OUT_OF_MEMORY') throw new MemreadError(loaded.code, `out of wasm memory while loading the bank: ${loaded.error}`);
    throw new MemreadError('BAD_BANK', `not a valid memread bank: ${loaded.error}`);
  }
  return new Machine(core, native, bytes.length);
}

// ---- Memories (DESIGN §10, docs/memory.md) ------------------------------------------------------------
//
// A memory is written a step at a time (REMEMBER_STEP positions of one pass each), with a
// macrotask between steps so that other calls on the machine, a progress bar and a cancel run in
// between. The writer reads with a machine of its own: predictions meanwhile use the memory as it
// was, and a cancelled write leaves it as it was.
const REMEMBER_STEP = 256;
const MEMORY_MARGIN = 64 * 1024 ** 2;  // wasm memory left for the machine's own rows and scratch

/** The bytes of a memory source: a memory file as Uint8Array, ArrayBuffer, Blob, Response or URL. */
export async function memoryBytes(source, signal) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  let response = source;
  if (typeof source === 'string' || source instanceof URL) {
    let url;
    try {
      url = new URL(source, pageUrl());
    } catch {
      throw new MemreadError('BAD_TYPE', `memory source "${String(source)}" is not a valid URL`);
    }
    try {
      response = await fetch(url, { signal });
    } catch (cause) {
      if (signal?.aborted) throw abortReason(signal);
      throw new MemreadError('FETCH_FAILED', `could not fetch the memory file ${url.href}: ${cause?.message ?? cause}`, { cause });
    }
  }
  if (typeof Response !== 'undefined' && response instanceof Response) {
    if (!response.ok) throw new MemreadError('FETCH_FAILED', `the memory file answered HTTP ${response.status}, not a memory`);
    return new Uint8Array(await response.arrayBuffer());
  }
  throw new MemreadError('BAD_TYPE', 'a memory source must be a Uint8Array, ArrayBuffer, Blob, Response or URL');
}

function requireMemoryParams(options, defaults) {
  const params = { ...defaults };
  for (const name of ['alpha', 'sharpness', 'gate']) {
    if (options[name] === undefined) continue;
    if (typeof options[name] !== 'number' || !Number.isFinite(options[name])) {
      throw new MemreadError('BAD_OPTION', `${name} must be a finite number, got ${String(options[name])}`);
    }
    params[name] = options[name];
  }
  if (options.passes !== undefined) {
    requireWholeNumber(options.passes, 'passes', 1, 16);
    params.passes = options.passes;
  }
  return params;  // the ranges are C++'s (check_memory_params): it answers BAD_OPTION
}

class Machine {
  #core;
  #native;
  #tokenTexts = new Map();  // id → text, decoded once
  #info;
  #textBuffer = { offset: 0, capacity: 0 };  // wasm memory the texts read are encoded into
  #remembering = null;  // {controller} while a remember() runs

  constructor(core, native, bytes) {
    this.#core = core;
    this.#native = native;
    this.#info = Object.freeze({ ...native.info(), bytes });
  }

  /** @returns {import('./index.d.ts').MachineInfo} */
  get info() {
    return this.#info;
  }

  #alive() {
    if (!this.#native) throw new MemreadError('DISPOSED', 'this machine was disposed; load the bank again');
    return this.#native;
  }

  #nonEmpty(text) {
    const clean = cleanText(text);
    if (clean === '') {
      throw new MemreadError('EMPTY_TEXT', 'the text is empty: there is no token to predict from');
    }
    return clean;
  }

  // [offset, length] of `clean` as UTF-8 in wasm memory, written by TextEncoder.encodeInto (native
  // code) into a buffer the machine keeps, grown when a longer text comes: Embind's std::string
  // would convert it character by character in JS, about 1 ms for a 64 KB text, every keystroke.
  #textInWasm(clean) {
    const core = this.#core;
    const most = clean.length * 3;  // UTF-8 bytes per UTF-16 code unit, at most
    if (most > this.#textBuffer.capacity) {
      const capacity = Math.max(most, 2 * this.#textBuffer.capacity, 4096);
      const offset = core._malloc(capacity) >>> 0;
      if (offset === 0) throw new MemreadError('OUT_OF_MEMORY', `no room in wasm memory for a text of ${clean.length} characters`);
      if (this.#textBuffer.capacity > 0) core._free(this.#textBuffer.offset);
      this.#textBuffer = { offset, capacity };
    }
    const { offset, capacity } = this.#textBuffer;
    const { written } = textEncoder.encodeInto(clean, core.HEAPU8.subarray(offset, offset + capacity));
    return [offset, written];
  }

  #tokenText(id) {
    let text = this.#tokenTexts.get(id);
    if (text === undefined) {
      text = textDecoder.decode(this.#check(this.#native.tokenBytes(id)));
      this.#tokenTexts.set(id, text);
    }
    return text;
  }

  // A failure from C++ comes with its code (EMPTY_TEXT, BAD_OPTION or OUT_OF_MEMORY: every call that
  // allocates in C++ may say so, and the machine then still works, its rows dropped).
  #check(result) {
    if (result.error !== undefined) throw new MemreadError(result.code, result.error);
    return result;
  }

  #ids(ids, name = 'ids') {
    if (!(ids instanceof Int32Array) && !Array.isArray(ids)) {
      throw new MemreadError('BAD_TYPE', `${name} must be an Int32Array or an array of token ids`);
    }
    const vocab = this.#info.config.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= vocab) {
        throw new MemreadError('BAD_TOKEN', `${name}[${i}] is ${String(ids[i])}, not a token of this bank (0 to ${vocab - 1})`);
      }
    }
    return ids;
  }

  predict(text, options = {}) {
    const native = this.#alive();
    requireOptions(options, 'predict');
    const { topK = 10 } = options;
    requireWholeNumber(topK, 'topK', 1, 2 ** 31 - 1);
    const clean = this.#nonEmpty(text);
    const { ids, probs } = this.#check(native.predict(...this.#textInWasm(clean), Math.min(topK, this.#info.config.vocabSize)));
    const out = [];
    for (let i = 0; i < ids.length; i++) out.push({ token: this.#tokenText(ids[i]), id: ids[i], prob: probs[i] });
    return out;
  }

  complete(text, options = {}) {
    const native = this.#alive();
    requireOptions(options, 'complete');
    const { topK = 5, maxTokens = 6, signal } = options;
    requireWholeNumber(topK, 'topK', 1, 1024);
    requireWholeNumber(maxTokens, 'maxTokens', 1, 64);
    requireSignal(signal);
    if (signal?.aborted) throw abortReason(signal);
    const clean = this.#nonEmpty(text);
    const { texts, probs, tokens } = this.#check(native.complete(...this.#textInWasm(clean), topK, maxTokens));
    return texts.map((bytes, i) => ({ text: textDecoder.decode(bytes), prob: probs[i], tokens: Array.from(tokens[i]) }));
  }

  generate(text, options = {}) {
    this.#alive();
    requireOptions(options, 'generate');
    const {
      maxTokens = 64, temperature = 1, topK = 0, topP = 1, seed = 0, repetitionPenalty = 1, noRepeatNgramSize = 0,
      signal,
    } = options;
    requireWholeNumber(maxTokens, 'maxTokens', 0, 2 ** 31 - 1);
    requireWholeNumber(topK, 'topK', 0, 2 ** 31 - 1);
    requireWholeNumber(seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
    requireWholeNumber(noRepeatNgramSize, 'noRepeatNgramSize', 0, 1024);
    // Math.fround: the sampler takes a float32, so e.g. 1e39 would reach it as Infinity (and come
    // back as a C++ error with the wrong code); below float32's range it rounds to 0 (greedy).
    if (typeof temperature !== 'number' || !Number.isFinite(Math.fround(temperature)) || !(temperature >= 0)) {
      throw new MemreadError('BAD_TEMPERATURE',
        `temperature must be a number from 0 (greedy) to 3.4e38 (the float32 range), got ${String(temperature)}`);
    }
    if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
      throw new MemreadError('BAD_OPTION', `topP must be in (0, 1], got ${String(topP)}`);
    }
    if (typeof repetitionPenalty !== 'number' || !(repetitionPenalty >= 1) || !Number.isFinite(Math.fround(repetitionPenalty))) {
      throw new MemreadError('BAD_OPTION', `repetitionPenalty must be a finite number >= 1 (1 is none), got ${String(repetitionPenalty)}`);
    }
    requireSignal(signal);
    const clean = this.#nonEmpty(text);
    return this.#generate(clean, { maxTokens, temperature, topK, topP, seed, repetitionPenalty, noRepeatNgramSize, signal });
  }

  async *#generate(text, { maxTokens, temperature, topK, topP, seed, repetitionPenalty, noRepeatNgramSize, signal }) {
    // The generation keeps its own tokens: another call on this machine in between does not disturb it.
    const generation = new this.#core.Generation();
    const decoder = new TextDecoder('utf-8');  // streaming: a character split across tokens waits
    try {
      this.#check(generation.start(this.#alive(), text, temperature, topK, topP, repetitionPenalty, noRepeatNgramSize, seed));
      for (let i = 0; i < maxTokens; i++) {
        await nextMacrotask();  // let a Stop click or an abort run between tokens
        if (signal?.aborted) throw abortReason(signal);
        const { piece } = this.#check(generation.next(this.#alive()));
        const decoded = decoder.decode(piece, { stream: true });
        if (decoded) yield decoded;
      }
      const rest = decoder.decode();
      if (rest) yield rest;
    } finally {
      generation.delete();
    }
  }

  trace(text, options = {}) {
    const native = this.#alive();
    requireOptions(options, 'trace');
    const { topSlots = 8 } = options;
    requireWholeNumber(topSlots, 'topSlots', 1, 2 ** 31 - 1);
    const clean = this.#nonEmpty(text);
    const raw = this.#check(native.trace(...this.#textInWasm(clean), Math.min(topSlots, this.#info.config.slots)));
    const token = (id) => ({ id, token: this.#tokenText(id) });
    const slots = (read) => Array.from(read.slots, (slot, i) => ({
      slot, weight: read.weights[i], key: token(read.keyTokens[i]), value: token(read.valueTokens[i]),
    }));
    const memory = raw.memory.map(({ slot, weight, offset, before, after }) => ({
      slot, weight, offset, before: textDecoder.decode(before), after: textDecoder.decode(after),
    }));
    return {
      memory,
      windowStart: raw.windowStart,
      ids: raw.ids,
      tokens: Array.from(raw.ids, (id) => this.#tokenText(id)),
      layers: raw.layers.map((layer) => ({ assoc: slots(layer.assoc), mlp: slots(layer.mlp), context: layer.context })),
    };
  }

  slotWeights(text, options) {
    const native = this.#alive();
    requireOptions(options, 'slotWeights');
    const { layer, read = 'assoc', slot } = options;
    const { layers, slots } = this.#info.config;
    requireWholeNumber(layer, 'layer', 0, layers - 1);
    requireWholeNumber(slot, 'slot', 0, slots - 1);
    if (read !== 'assoc' && read !== 'mlp') {
      throw new MemreadError('BAD_OPTION', `read must be "assoc" or "mlp", got ${String(read)}`);
    }
    return this.#check(native.slotWeights(...this.#textInWasm(this.#nonEmpty(text)), layer, read, slot)).weights;
  }

  // ---- Memories ----

  /** The attached memory: {slots, bytes, sourceBytes, params}, or null when there is none. */
  get memory() {
    const handle = this.#alive().memory();
    if (!handle) return null;
    try {
      return Object.freeze({ slots: handle.slots(), bytes: handle.bytes(), sourceBytes: handle.sourceBytes(), params: handle.params() });
    } finally {
      handle.delete();
    }
  }

  // wasm memory a write may take: what the heap can still grow into, less a margin for the
  // machine itself (memory already in the heap is not counted: it may be in use).
  #memoryLimit() {
    const room = WASM_HEAP_MAX - this.#core.HEAPU8.length - MEMORY_MARGIN;
    return Math.max(0, Math.min(this.#core.defaultMemoryBytes(), room));
  }

  /**
   * Writes `text` into the memory (after what it holds already): the delta rule of DESIGN §10,
   * forward passes only. Resolves with the memory's info. Cancelled by `signal` (or by forget())
   * between steps; the memory is then as it was.
   */
  async remember(text, options = {}) {
    const native = this.#alive();
    requireOptions(options, 'remember');
    const { onProgress, signal } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new MemreadError('BAD_OPTION', 'onProgress must be a function');
    }
    requireSignal(signal);
    if (signal?.aborted) throw abortReason(signal);
    if (this.#remembering) {
      throw new MemreadError('BUSY', 'this machine is already remembering a text: wait for it, or cancel it, before the next');
    }
    const clean = cleanText(text, 'the text to remember');
    if (clean === '') throw new MemreadError('EMPTY_TEXT', 'the text to remember is empty');
    const previous = this.memory;
    const params = requireMemoryParams(options, previous?.params ?? this.#core.defaultMemoryParams());
    const controller = new AbortController();
    const onAbort = () => controller.abort(abortReason(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#remembering = { controller };
    const writer = new this.#core.MemoryWriter();
    try {
      const [offset, length] = this.#textInWasm(clean);
      this.#check(writer.start(native, offset, length, params.alpha, params.passes, params.sharpness, params.gate, this.#memoryLimit()));
      onProgress?.({ done: 0, total: writer.workTotal() });
      while (!writer.done()) {
        await nextMacrotask();
        if (controller.signal.aborted) throw abortReason(controller.signal);
        this.#alive();
        this.#check(writer.step(REMEMBER_STEP));
        onProgress?.({ done: writer.workDone(), total: writer.workTotal() });
      }
      const memory = writer.result();
      try {
        const problem = this.#alive().attachMemory(memory);
        if (problem) throw new MemreadError('BAD_MEMORY', problem);
      } finally {
        memory.delete();
      }
      return this.memory;
    } finally {
      writer.delete();
      signal?.removeEventListener('abort', onAbort);
      this.#remembering = null;
    }
  }

  /** Drops the memory (and stops a remember() under way): predictions are the bank's alone again. */
  forget() {
    const native = this.#alive();
    this.#remembering?.controller.abort(new DOMException('forget() was called during the remember', 'AbortError'));
    native.detachMemory();
  }

  /** The memory as a file (safetensors: docs/memory.md) that loadMemory() and loadMachine({memory}) take. */
  exportMemory() {
    const handle = this.#alive().memory();
    if (!handle) throw new MemreadError('NO_MEMORY', 'this machine has no memory to export: remember a text first');
    try {
      const result = handle.file();
      if (result.error !== undefined) throw new MemreadError(result.code === 'OUT_OF_MEMORY' ? result.code : 'BAD_MEMORY', result.error);
      return result.file;
    } finally {
      handle.delete();
    }
  }

  /** Attaches the memory in `source` (a memory file), replacing the one attached; resolves with its info. */
  async loadMemory(source, options = {}) {
    this.#alive();
    requireOptions(options, 'loadMemory');
    requireSignal(options.signal);
    const bytes = await memoryBytes(source, options.signal);
    if (options.signal?.aborted) throw abortReason(options.signal);
    const native = this.#alive();
    const core = this.#core;
    const offset = core._malloc(Math.max(1, bytes.length)) >>> 0;
    if (!offset) throw new MemreadError('OUT_OF_MEMORY', `no room in wasm memory for a memory file of ${bytes.length} bytes`);
    let result;
    try {
      core.HEAPU8.set(bytes, offset);
      result = native.loadMemory(offset, bytes.length, this.#memoryLimit());
    } finally {
      core._free(offset);
    }
    if (result.code === 'OUT_OF_MEMORY') throw new MemreadError(result.code, `out of wasm memory for the memory file: ${result.error}`);
    if (result.error !== undefined) throw new MemreadError('BAD_MEMORY', `not a memory of this bank: ${result.error}`);
    return this.memory;
  }

  evaluate(text) {
    const native = this.#alive();
    return this.#check(native.evaluate(cleanText(text)));
  }

  tokenize(text) {
    return this.#check(this.#alive().tokenize(cleanText(text)));
  }

  detokenize(ids) {
    const native = this.#alive();
    return textDecoder.decode(this.#check(native.detokenize(this.#ids(ids))));
  }

  dispose() {
    if (!this.#native) return;
    this.#remembering?.controller.abort(new MemreadError('DISPOSED', 'this machine was disposed during the remember'));
    this.#native.delete();
    this.#native = null;
    if (this.#textBuffer.capacity > 0) this.#core._free(this.#textBuffer.offset);
    this.#textBuffer = { offset: 0, capacity: 0 };
    this.#tokenTexts.clear();
  }
}
