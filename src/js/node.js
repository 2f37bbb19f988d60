// memread for Node: the same API as index.js. The glue has no Node code (RECIPE §3), so this
// entry reads the wasm bytes from the package itself and passes them as wasmBinary.
import { readFile } from 'node:fs/promises';

import createMemreadCore from '../../dist/memread-core.mjs';
import { makeApi } from './api.js';

const api = makeApi(async (options) => {
  const moduleOptions = { ...options };
  if (!moduleOptions.wasmBinary) {
    const url = new URL('../../dist/memread-core.wasm', import.meta.url);
    moduleOptions.wasmBinary = await readFile(url);
  }
  return createMemreadCore(moduleOptions);
}, {
  // Node's fetch has no file: URLs: read them from disk (defaultBank() is one).
  readFileUrl: async (url) => new Uint8Array(await readFile(url)),
});

export const { init, backendInfo, MemBank, memRead, loadMachine } = api;
export { clearBankCache } from './bank-cache.js';
export { defaultBank } from './default-bank.js';
// Node has no Web Workers: loadMachineInWorker rejects there with WORKER_FAILED (use loadMachine).
export { loadMachineInWorker } from './worker-client.js';
export { MemreadError } from './errors.js';
export { hasWasmSimd } from './api.js';
