// Fetching banks by URL, kept in the Cache API so a page reload does not download them again.
//
//   fetchBank(url, {signal, onProgress, cache})  → Uint8Array of the bank file
//   clearBankCache()                              → number of banks removed
//
// Cache: "memread-banks" (the Cache API: browsers and workers; Node has no `caches`, so there it
// is a plain fetch). Key: the absolute URL. A response is checked before it is cached (and before
// its bytes are returned): HTTP 200, a Content-Type that is not an HTML page, and the start of a
// safetensors file (an 8-byte little-endian header length, then the JSON header's '{'). A failed
// check is a MemreadError FETCH_FAILED naming the URL and the problem, and nothing is cached.
// If caching fails (quota, private mode, an opaque origin) the bank is still returned: the cache
// is an optimisation, never a reason for a load to fail.
import { MemreadError } from './errors.js';
import { abortReason, pageUrl, throwIfAborted } from './util.js';

export const BANK_CACHE_NAME = 'memread-banks';

/** The absolute URL of a bank: relative URLs resolve against the page (or the worker's script). */
function absoluteUrl(url) {
  const base = pageUrl();
  try {
    return new URL(String(url), base).href;
  } catch (cause) {
    throw new MemreadError('FETCH_FAILED',
      `${url}: not a URL${base ? '' : ' (a relative URL needs a page to resolve against: pass an absolute URL, or the bytes)'}`,
      { cause });
  }
}

/** The Cache API's memread cache, or null where there is none (Node, insecure or opaque origins). */
async function openCache() {
  if (typeof globalThis.caches?.open !== 'function') return null;
  try {
    return await globalThis.caches.open(BANK_CACHE_NAME);
  } catch {
    return null;  // e.g. SecurityError in an opaque origin: fetch without the cache
  }
}

/**
 * Why `bytes` cannot be a safetensors file, or '' if its start looks like one: 8 bytes of header
 * length N (little-endian u64), then N bytes of JSON header starting with '{', within the file.
 */
export function safetensorsProblem(bytes) {
  if (bytes.length < 10) return `${bytes.length} bytes, too short for a safetensors header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true), high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (headerLength < 2 || headerLength > bytes.length - 8) {
    return `its first 8 bytes give a header length of ${headerLength}, but the file has ${bytes.length} bytes`;
  }
  if (bytes[8] !== 0x7b) return "its header does not start with '{'";
  return '';
}

/** Reads a response's body, reporting progress; Content-Length (when honest) is the total. */
async function readBody(response, signal, onProgress) {
  const encoded = (response.headers.get('Content-Encoding') ?? 'identity') !== 'identity';
  const declared = Number.parseInt(response.headers.get('Content-Length') ?? '', 10);
  // A compressed body's Content-Length counts compressed bytes, not the bytes we receive.
  let total = !encoded && Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    throwIfAborted(signal);
    onProgress?.({ loaded: bytes.length, total: bytes.length });
    return bytes;
  }
  // Write straight into one buffer of the announced size; chunks past it (a wrong length) are
  // collected and joined at the end.
  let buffer = total !== null ? new Uint8Array(total) : null;
  const chunks = [];
  let loaded = 0;
  const reader = response.body.getReader();
  const onAbort = () => reader.cancel(abortReason(signal)).catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      throwIfAborted(signal);
      if (done) break;
      if (buffer && loaded + value.length <= buffer.length) {
        buffer.set(value, loaded);
      } else {
        if (buffer) {
          chunks.push(buffer.subarray(0, loaded));
          buffer = null;
          total = null;
        }
        chunks.push(value);
      }
      loaded += value.length;
      onProgress?.({ loaded, total });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (buffer) return loaded === buffer.length ? buffer : buffer.slice(0, loaded);
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** Fetches from the network and checks the response; FETCH_FAILED names the problem. */
async function fetchChecked(url, signal, onProgress) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (cause) {
    if (signal?.aborted) throw abortReason(signal);
    throw new MemreadError('FETCH_FAILED', `${url}: ${cause?.message ?? cause}`, { cause });
  }
  if (response.status !== 200) {
    response.body?.cancel().catch(() => {});
    const text = response.statusText ? ` ${response.statusText}` : '';
    throw new MemreadError('FETCH_FAILED', `${url}: HTTP ${response.status}${text}`);
  }
  const type = (response.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    response.body?.cancel().catch(() => {});
    throw new MemreadError('FETCH_FAILED',
      `${url}: served as ${type}, not a bank (a web page answered instead: check the URL and the server's routes)`);
  }
  let bytes;
  try {
    bytes = await readBody(response, signal, onProgress);
  } catch (cause) {
    if (signal?.aborted) throw abortReason(signal);
    if (cause instanceof MemreadError) throw cause;
    throw new MemreadError('FETCH_FAILED', `${url}: the download broke off: ${cause?.message ?? cause}`, { cause });
  }
  const problem = safetensorsProblem(bytes);
  if (problem) {
    throw new MemreadError('FETCH_FAILED', `${url}: not a safetensors bank (${problem})`);
  }
  return bytes;
}

/**
 * The bytes of the bank at `url`: from the cache when it holds them, else fetched (and then
 * cached, after the checks above pass).
 * @param {string|URL} url absolute, or relative to the page
 * @param {{signal?: AbortSignal, onProgress?: (p: {loaded: number, total: number|null}) => void,
 *          cache?: boolean}} [options] cache: false neither reads nor writes the cache
 * @returns {Promise<Uint8Array>}
 */
export async function fetchBank(url, { signal, onProgress, cache = true } = {}) {
  throwIfAborted(signal);
  const href = absoluteUrl(url);
  const store = cache === false ? null : await openCache();
  throwIfAborted(signal);

  if (store) {
    let hit = null;
    try {
      hit = await store.match(href);
    } catch {
      hit = null;
    }
    throwIfAborted(signal);
    if (hit) {
      try {
        const bytes = await readBody(hit, signal, onProgress);
        if (!safetensorsProblem(bytes)) return bytes;
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal);
      }
      // An unreadable or damaged entry: forget it and fetch again.
      await store.delete(href).catch(() => {});
    }
  }

  const bytes = await fetchChecked(href, signal, onProgress);
  if (store) {
    try {
      await store.put(href, new Response(bytes, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) },
      }));
    } catch {
      // QuotaExceededError or any other failure: keep the bank in memory only.
    }
  }
  return bytes;
}

/**
 * Removes a bank from the cache (for example after its bytes failed to load as a bank).
 * @returns {Promise<boolean>} whether it was there
 */
export async function forgetBank(url) {
  const store = await openCache();
  if (!store) return false;
  return store.delete(absoluteUrl(url)).catch(() => false);
}

/**
 * Removes every bank memread cached.
 * @returns {Promise<number>} how many were removed
 */
export async function clearBankCache() {
  const store = await openCache();
  if (!store) return 0;
  const keys = await store.keys();
  let removed = 0;
  for (const request of keys) {
    if (await store.delete(request)) removed++;
  }
  return removed;
}
