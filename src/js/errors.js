/**
 * The one error type memread throws. `code` says what kind of problem it is, so callers can
 * branch on it; `message` says what was wrong in words a person can act on.
 *
 * Codes: BAD_TYPE, BAD_SHAPE, SHAPE_MISMATCH, BAD_TEMPERATURE, NON_FINITE, BAD_OPTION,
 * DISPOSED, NOT_INITIALIZED, NO_WASM_SIMD, WASM_LOAD_FAILED, OUT_OF_MEMORY, BAD_BANK,
 * FETCH_FAILED, EMPTY_TEXT, BAD_TOKEN, BAD_MEMORY, NO_MEMORY, BUSY, and from the worker client SUPERSEDED, TERMINATED,
 * WORKER_FAILED (index.d.ts says what each means).
 */
export class MemreadError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'MemreadError';
    this.code = code;
  }
}
