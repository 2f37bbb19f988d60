/**
 * `<memread-suggest>`: word completions for any text box. Importing this module defines the
 * element (it has that side effect and nothing else):
 *
 * ```html
 * <script type="module">import 'memread/suggest';</script>   <!-- or src="/node_modules/memread/src/js/suggest.js" -->
 * <memread-suggest>
 *   <textarea></textarea>
 * </memread-suggest>
 * ```
 *
 * Attributes: `bank` (a bank's URL; without it, the bank the package ships, {@link defaultBank}),
 * `memory` (a memory file's URL, from `machine.exportMemory()` or the demo page's "Download": the
 * bank reads with what it was taught; changing it reloads), `top` (1 to 10 suggestions, default 5),
 * `mode` (`"completions"`, the default, or `"tokens"` for the raw next tokens). It sets
 * `state="loading" | "ready" | "error"` and fires `memread-ready` (`detail.info`), `memread-error`
 * (`detail.error`: the bank or the memory could not be loaded, e.g. a MemreadError BAD_MEMORY for a
 * memory of another bank) and `memread-accept` (`detail.text`, `detail.prob`; an `input` event on
 * the field follows, as if typed).
 *
 * ```html
 * <memread-suggest bank="/banks/en-brown.safetensors" memory="/my-notes.memory.safetensors">
 *   <textarea></textarea>
 * </memread-suggest>
 * ```
 */
import type { MachineInfo } from './index.js';

export class MemreadSuggest extends HTMLElement {
  /** A Promise of the bank's info once it (and its memory, if any) has loaded; rejects if it cannot be. */
  readonly ready: Promise<MachineInfo>;
}

declare global {
  interface HTMLElementTagNameMap {
    'memread-suggest': MemreadSuggest;
  }
}
