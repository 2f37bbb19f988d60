// Instruments the memread worker for tests/web/pressure.test.js (imported by pressure-worker.js
// before worker.js, so its listener runs before the worker's own onmessage).
//
// - Tokens: the machine decodes each sampled token exactly once, with a streaming
//   TextDecoder.decode(bytes, {stream: true}); wrapping decode() counts the tokens made. The count
//   lives in a SharedArrayBuffer the page sends ({__counter: buffer}; the test pages are
//   cross-origin isolated), so the page reads it at the instant it calls abort(): no clocks.
// - Messages: each one received, with the token count at its arrival (a cancel's, for instance).
// - {__stats: true} from the page answers {__stats: {tokens, received}} and reaches no further;
//   so does {__counter}.
let counter = new Int32Array(new SharedArrayBuffer(4));
const received = [];

const decode = TextDecoder.prototype.decode;
TextDecoder.prototype.decode = function countedDecode(input, options) {
  if (options?.stream) Atomics.add(counter, 0, 1);
  return decode.call(this, input, options);
};

self.addEventListener('message', (event) => {
  const data = event.data ?? {};
  if (data.__counter) {
    event.stopImmediatePropagation();
    counter = new Int32Array(data.__counter);
    return;
  }
  if (data.__stats) {
    event.stopImmediatePropagation();
    self.postMessage({ __stats: { tokens: Atomics.load(counter, 0), received: received.slice() } });
    return;
  }
  received.push({ id: data.id, action: data.action, tokens: Atomics.load(counter, 0) });
});
