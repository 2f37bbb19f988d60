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
// few nested calls.
export function nextMacrotask() {
  return new Promise((resolve) => {
    if (typeof MessageChannel === 'function') {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    } else {
      setTimeout(resolve, 0);
    }
  });
}
