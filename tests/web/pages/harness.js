// The browser tests' page: exposes the package's browser entry (and the bank cache module) to
// page.evaluate(), with a few helpers that turn results into JSON, then says it is ready (or why
// it is not).

/** An error as JSON: its name, code, message, and whether it is a MemreadError. */
window.describeError = (error) => ({
  name: error?.name,
  code: error?.code,
  message: error?.message,
  memread: error instanceof window.memread.MemreadError,
});

/** {ok: value} or the described error. */
window.settle = (promise) => Promise.resolve(promise).then((ok) => ({ ok }), window.describeError);

/** All pieces of an async iterable, joined. */
window.collect = async (pieces) => {
  let text = '';
  for await (const piece of pieces) text += piece;
  return text;
};

/** A Trace as JSON, with the types of its arrays. */
window.plainTrace = (trace) => ({
  ...trace,
  ids: Array.from(trace.ids),
  idsType: trace.ids.constructor.name,
  layers: trace.layers.map((layer) => ({
    ...layer,
    context: Array.from(layer.context),
    contextType: layer.context.constructor.name,
  })),
});

/** The URLs in memread's bank cache. */
window.cachedUrls = async () => (await (await caches.open('memread-banks')).keys()).map((request) => request.url);

/** Resolves after the next macrotask: calls made before it have been sent to the worker. */
window.tick = () => new Promise((resolve) => setTimeout(resolve, 0));

try {
  window.memread = await import('/src/js/index.js');
  window.bankCache = await import('/src/js/bank-cache.js');
  window.__ready = true;
} catch (error) {
  window.__ready = `the harness could not import memread: ${error?.message ?? error}`;
}
