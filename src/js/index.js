// memread for browsers, workers and bundlers. No Node code here: the glue was built with
// -sENVIRONMENT=web,worker and finds its wasm next to itself (new URL(..., import.meta.url)),
// which bundlers such as Vite follow; locateFile or wasmBinary override that.
import createMemreadCore from '../../dist/memread-core.mjs';
import { makeApi } from './api.js';

const api = makeApi((options) => createMemreadCore(options));

export const { init, backendInfo, MemBank, memRead, loadMachine } = api;
export { clearBankCache } from './bank-cache.js';
export { defaultBank } from './default-bank.js';
export { MemreadError } from './errors.js';
export { hasWasmSimd } from './api.js';
export { loadMachineInWorker } from './worker-client.js';
