// Small helpers the package's modules share: how an aborted call fails, the page's URL, and a wait
// that lets pending events run first.

/** What an aborted `signal` fails with: its reason, or an AbortError when it was given none. */
export function abortReason(signal) {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

export function throwIfAborted(signal) {
  if (signal?.aborted) throw abortReason(signal);
}

/** What relative URLs resolve against: the page (or the worker's script); undefined in Node. */
export function pageUrl() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

// Resolves at the next macrotask, so that events already waiting (a click on Stop, an abort, a
// message) run before what follows. MessageChannel is not clamped like setTimeout(0) is after a
// few nested calls. One channel serves every wait: creating a MessageChannel costs about 90 µs in
// Chromium (50 in Node), a message on an open one about 25 (2 to 10 in Node), and generation waits
// once per token.
let channel = null;
const waiting = [];  // resolvers, in the order their messages were posted

function wake() {
  waiting.shift()();
  // Node: an idle channel must not keep the process alive (ref() again before the next message).
  if (waiting.length === 0) channel.port1.unref?.();
}

export function nextMacrotask() {
  if (typeof MessageChannel !== 'function') return new Promise((resolve) => setTimeout(resolve, 0));
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = wake;
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port1.ref?.();
    channel.port2.postMessage(null);
  });
}
