// The page's memories, kept in the browser (IndexedDB) so that a reload finds what the person
// taught: one record per bank, keyed by the bank's identity (bankKey), holding the memory file's
// bytes (what exportMemory gives, what loadMemory takes) and whether the person turned it off.
//
// A record: {bank, bytes: Uint8Array, on: boolean, info: {slots, bytes, sourceBytes}, savedAt}.
// IndexedDB, not the Cache API or localStorage: memories are binary, may be megabytes, and are
// the person's own data (not a cache of something the server has).

const DB_NAME = 'memread-page';
const DB_VERSION = 1;
const STORE = 'memories';

let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  if (!opening) {
    if (typeof indexedDB === 'undefined') return Promise.reject(new Error('this browser has no IndexedDB'));
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'bank' });
    opening = request(req);
    opening.catch(() => { opening = null; });  // private windows may refuse once; try again later
  }
  return opening;
}

async function inStore(mode, work) {
  const db = await openDatabase();
  const transaction = db.transaction(STORE, mode);
  // A write is kept only once its transaction completes (not when its request succeeds).
  const completed = new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error('the write was aborted'));
  });
  completed.catch(() => {});  // a failed request rejects below already
  const result = await request(work(transaction.objectStore(STORE)));
  await completed;
  return result;
}

/** The record kept for a bank, or null. */
export async function loadStoredMemory(bank) {
  return (await inStore('readonly', (store) => store.get(bank))) ?? null;
}

/** Keeps a memory file for a bank (replacing the one kept). */
export function storeMemory(bank, bytes, info, on = true) {
  const { slots, bytes: size, sourceBytes } = info;
  return inStore('readwrite', (store) => store.put({
    bank, bytes, on, info: { slots, bytes: size, sourceBytes }, savedAt: Date.now(),
  }));
}

/** Marks the kept memory on or off (nothing happens when none is kept). */
export async function setStoredMemoryOn(bank, on) {
  const record = await loadStoredMemory(bank);
  if (!record || record.on === on) return;
  await inStore('readwrite', (store) => store.put({ ...record, on }));
}

export function deleteStoredMemory(bank) {
  return inStore('readwrite', (store) => store.delete(bank));
}

/**
 * A bank's identity for the store: a shipped bank by its URL (a new version of the bank at the
 * same URL then refuses the old memory with BAD_MEMORY, which the panel says), a bank file by the
 * SHA-256 of its bytes (the same file opened again finds its memory; a memory file records the
 * SHA-256 of its bank too).
 * @param {string|Blob} source
 */
export async function bankKey(source) {
  if (typeof source === 'string') return `url:${source}`;
  if (!globalThis.crypto?.subtle) return `file:${source.name ?? ''}:${source.size}`;  // not a secure context
  const digest = await crypto.subtle.digest('SHA-256', await source.arrayBuffer());
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  return `sha256:${hex}`;
}
