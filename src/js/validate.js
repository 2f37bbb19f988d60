// Argument checks shared by the public API. Every bad argument stops here, with a MemreadError
// naming the argument and the problem, before anything reaches the wasm kernels.
import { MemreadError } from './errors.js';

const FLOAT32_MIN_NORMAL = 2 ** -126;  // FLT_MIN, the smallest normal float32

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an Array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `the ${typeof value} ${String(value)}`;
}

export function requireFloat32Array(value, name) {
  if (!(value instanceof Float32Array)) {
    throw new MemreadError('BAD_TYPE', `${name} must be a Float32Array, got ${describe(value)}`);
  }
}

export function requireDim(dim, name = 'dim') {
  if (!Number.isSafeInteger(dim) || dim <= 0) {
    throw new MemreadError('BAD_OPTION', `${name} must be a positive integer, got ${describe(dim)}`);
  }
}

export function requireMultipleOf(array, dim, name) {
  if (array.length % dim !== 0) {
    throw new MemreadError('BAD_SHAPE',
      `${name} has ${array.length} floats, which is not a whole number of rows of dim ${dim}`);
  }
}

export function requireTemperature(temp, name = 'temp') {
  if (typeof temp !== 'number' || !Number.isFinite(temp) || !(temp > 0)) {
    throw new MemreadError('BAD_TEMPERATURE',
      `${name} must be a finite number > 0, got ${describe(temp)}`);
  }
  // A positive double can still round to 0 or Infinity as a float32; and below the smallest normal
  // float32 (2^-126), 1/temp overflows to Infinity in the kernel, where a score of exactly 0 times
  // Infinity is NaN: the read would return NaN, so such a temp is refused too.
  const asFloat = Math.fround(temp);
  if (!(asFloat >= FLOAT32_MIN_NORMAL) || !Number.isFinite(asFloat)) {
    throw new MemreadError('BAD_TEMPERATURE',
      `${name} ${temp} is outside the float32 range [1.1754944e-38, 3.4028235e38] a read can use`);
  }
}

export function requireFinite(array, name) {
  for (let i = 0; i < array.length; i++) {
    const x = array[i];
    // x - x is 0 for finite x and NaN for ±Infinity and NaN.
    if (x - x !== 0) {
      throw new MemreadError('NON_FINITE', `${name}[${i}] is ${x}; every value must be finite`);
    }
  }
}

export function requireOptions(options, what) {
  if (options === null || typeof options !== 'object') {
    throw new MemreadError('BAD_OPTION', `${what} options must be an object`);
  }
  return options;
}

export function requireSignal(signal) {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new MemreadError('BAD_OPTION', 'signal must be an AbortSignal');
  }
}

/**
 * What kind of bank source `source` is: 'url' (a URL string or URL, with `url` resolved against
 * `base`), 'arraybuffer', 'uint8array', 'blob' or 'response'. BAD_TYPE for anything else and for a
 * URL that does not parse; FETCH_FAILED for a Response that is not ok (an error page, not a bank).
 * @param {unknown} source
 * @param {string} [base]
 * @returns {{kind: 'url', url: URL} | {kind: 'arraybuffer'|'uint8array'|'blob'|'response'}}
 */
export function classifyBankSource(source, base) {
  if (typeof source === 'string' || source instanceof URL) {
    try {
      return { kind: 'url', url: new URL(source, base) };
    } catch {
      throw new MemreadError('BAD_TYPE', `bank source "${String(source)}" is not a valid URL`);
    }
  }
  if (source instanceof Uint8Array) return { kind: 'uint8array' };
  if (source instanceof ArrayBuffer) return { kind: 'arraybuffer' };
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { kind: 'blob' };
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) {
      throw new MemreadError('FETCH_FAILED',
        `the Response holds HTTP ${source.status}${source.statusText ? ' ' + source.statusText : ''}, not a bank`);
    }
    return { kind: 'response' };
  }
  throw new MemreadError('BAD_TYPE',
    'a bank source must be a URL string, URL, ArrayBuffer, Uint8Array, Blob or Response');
}
