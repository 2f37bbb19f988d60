// The memread worker with the test instrumentation of pressure-stamps.js loaded first (module
// imports run in order). The pressure tests make loadMachineInWorker start this script instead of
// src/js/worker.js (see swapWorker() in tests/web/pressure.test.js).
import './pressure-stamps.js';
import '../../../src/js/worker.js';
