// The bank the package ships: banks/en-brown.safetensors, beside src/ in the repository and in the
// tarball. A URL next to this module (new URL(literal, import.meta.url), which bundlers such as Vite
// follow and emit as an asset): an http(s) URL in a page, a file: URL in Node, where loadMachine
// reads it from disk.

/**
 * The URL of en-brown, the bank the package ships (English, trained on the Brown corpus).
 * @returns {URL}
 */
export function defaultBank() {
  return new URL('../../banks/en-brown.safetensors', import.meta.url);
}
