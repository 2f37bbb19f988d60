// <memread-suggest>: live suggestions for any text box, from a memread bank: the rest of the word
// being typed (or the next word), or, with mode="tokens", the raw next tokens.
//
//   <script type="module" src="/node_modules/memread/src/js/suggest.js"></script>   (or: import 'memread/suggest')
//   <memread-suggest bank="/banks/en-brown.safetensors">
//     <textarea></textarea>
//   </memread-suggest>
//
// The element wraps one <textarea> or <input> (its first). While the caret is at the end of the
// text, a small list under the field shows the most probable completions of the word being typed
// (the letters typed, then the rest of the word: DESIGN §9, docs/model.md "Completions"); Tab
// inserts the first, a click inserts any; Esc hides the list (then Tab moves on as usual). The model runs in a Web
// Worker (one per bank and memory, shared by every element of the page that reads that bank with
// that memory), so typing never waits for it; the bank is fetched once and kept in the browser's
// Cache API (a memory file is fetched by each worker that reads it).
//
// Attributes:  bank  the bank's URL (relative URLs resolve against the page); without it, the bank
//                    the package ships (defaultBank(): en-brown)
//              memory  a memory file's URL (machine.exportMemory(), the page's "Download"): what
//                    someone taught that bank, read with it; a memory of another bank, or a damaged
//                    file, is an error like a bad bank (state="error", memread-error)
//              top   how many suggestions, 1 to 10 (default 5)
//              mode  "completions" (default) or "tokens": the raw next-token distribution
// Reflects:    state="loading" | "ready" | "error" on the element
// Events:      memread-ready   (detail: {info})            the bank (and its memory) is loaded
//              memread-error   (detail: {error})           the bank or its memory could not be loaded
//              memread-accept  (detail: {text, prob})      a suggestion was inserted (an `input`
//                                                          event on the field follows, as typing)
// Property:    ready           a Promise of the bank's info (rejects like memread-error)
// Styling:     the list is ul.memread-suggest-list, its items li.memread-suggest-item; colours
//              follow --memread-suggest-accent, --memread-suggest-bg, --memread-suggest-fg; the
//              letters typed are span.memread-suggest-typed, the rest span.memread-suggest-rest.
//
// Needs no inline script or style: it runs under `script-src 'self' 'wasm-unsafe-eval'`, and its
// few rules go in through a constructed stylesheet.
import { defaultBank } from './default-bank.js';
import { loadMachineInWorker } from './index.js';

const TAG = 'memread-suggest';

// ---- One worker per bank and memory, shared ------------------------------------------------------

// A source is what an element reads: {bank, memory} as absolute URLs (memory null without one).
// A memory changes what the machine predicts, so elements share a worker only with the same both.
const sourceKey = ({ bank, memory }) => `${bank} ${memory ?? ''}`;  // a space: not in an absolute URL

const banks = new Map();  // sourceKey → {machine: Promise<WorkerMachine>, users: number}

function useBank(source) {
  const key = sourceKey(source);
  let bank = banks.get(key);
  if (!bank) {
    const options = source.memory ? { memory: source.memory } : {};
    bank = { machine: loadMachineInWorker(source.bank, options), users: 0 };
    bank.machine.catch(() => banks.delete(key));  // a failed load may be tried again later
    banks.set(key, bank);
  }
  bank.users++;
  return bank.machine;
}

function releaseBank(source) {
  const key = sourceKey(source);
  const bank = banks.get(key);
  if (!bank) return;
  bank.users--;
  // A microtask later: an element moved in the DOM disconnects and reconnects in one go.
  queueMicrotask(() => {
    if (bank.users > 0 || banks.get(key) !== bank) return;
    banks.delete(key);
    bank.machine.then((machine) => machine.terminate(), () => {});
  });
}

// ---- Style ------------------------------------------------------------------------------------------

const CSS = `
${TAG} { display: block; position: relative; }
${TAG} > .memread-suggest-list {
  --accent: var(--memread-suggest-accent, #0b5cad);
  position: absolute; left: 0; top: calc(100% + 2px); z-index: 1000;
  min-width: 12rem; max-width: min(100%, 22rem);
  margin: 0; padding: 0.25rem; list-style: none;
  background: var(--memread-suggest-bg, #ffffff); color: var(--memread-suggest-fg, #1b1b1b);
  border: 1px solid #b5b5ad; border-radius: 6px; box-shadow: 0 4px 14px rgba(0, 0, 0, 0.12);
  font: 0.9rem/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
${TAG} > .memread-suggest-list[hidden] { display: none; }
${TAG} .memread-suggest-item {
  display: grid; grid-template-columns: minmax(0, 1fr) 3rem 2.2rem; align-items: center; gap: 0.5rem;
  padding: 0.15rem 0.4rem; border-radius: 4px; cursor: pointer;
}
${TAG} .memread-suggest-item:hover { background: #f0f0ea; }
${TAG} .memread-suggest-item[aria-selected="true"] { background: #e8f0fa; box-shadow: inset 3px 0 0 var(--accent); }
${TAG} .memread-suggest-token {
  font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre;
  overflow: hidden; text-overflow: ellipsis;
}
${TAG} .memread-suggest-ws { color: #595959; }
${TAG} .memread-suggest-typed { color: #595959; }
${TAG} .memread-suggest-rest { font-weight: 700; }
${TAG} .memread-suggest-prob { text-align: right; font-variant-numeric: tabular-nums; color: #4a4a4a; font-size: 0.85em; }
${TAG} .memread-suggest-key {
  font: 0.7rem ui-monospace, "DejaVu Sans Mono", monospace; justify-self: end;
  padding: 0 0.25rem; border: 1px solid #8a8a85; border-radius: 3px; color: #1b1b1b; background: #fff;
}
${TAG} .memread-suggest-hint {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
}
`;

let sheet = null;

function adoptStyle(root) {
  if (!('adoptedStyleSheets' in root)) return;
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
}

// ---- Tokens as text -----------------------------------------------------------------------------------

const MARKS = { ' ': '␣', '\n': '⏎', '\t': '⇥', '\r': '␍', '\u00a0': '⍽' };
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;  // control and format characters: shown as ·

/** The token with its whitespace made visible (␣ ⏎ ⇥); a lone byte of a character as ⟨hex⟩. */
function tokenNode(token, id) {
  const span = document.createElement('span');
  span.className = 'memread-suggest-token';
  if (id >= 128 && id < 256) {
    span.textContent = `⟨${id.toString(16).toUpperCase()}⟩`;
    return span;
  }
  for (const ch of token) {
    const mark = MARKS[ch] ?? (INVISIBLE.test(ch) ? '·' : null);
    if (mark) {
      const ws = document.createElement('span');
      ws.className = 'memread-suggest-ws';
      ws.textContent = mark;
      span.append(ws);
    } else {
      span.append(ch);
    }
  }
  return span;
}

// The letters of the word being typed: after the text's last whitespace (docs/model.md).
const TYPED_WORD = /[^\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/u;

function typedWord(text) {
  const typed = text.match(TYPED_WORD)[0];
  return typed.length > 24 ? `…${typed.slice(-23)}` : typed;
}

/** A completion: the letters typed, then the rest of the word, each in a span of its own. */
function completionNode(typed, rest) {
  const span = document.createElement('span');
  span.className = 'memread-suggest-token';
  const typedSpan = document.createElement('span');
  typedSpan.className = 'memread-suggest-typed';
  typedSpan.textContent = typed;
  const restSpan = tokenNode(rest, -1);
  restSpan.className = 'memread-suggest-rest';
  span.append(typedSpan, restSpan);
  return span;
}

function percent(p) {
  if (p >= 0.1) return `${Math.round(p * 100)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  return '<0.1%';
}

let counter = 0;

// ---- The element ----------------------------------------------------------------------------------------

export class MemreadSuggest extends HTMLElement {
  static observedAttributes = ['bank', 'memory', 'top', 'mode'];

  #field = null;       // the wrapped textarea or input
  #list = null;        // ul.memread-suggest-list
  #hint = null;        // the field's description for screen readers
  #source = null;      // the bank and memory in use: {bank, memory} (absolute URLs)
  #machine = null;     // its WorkerMachine, once loaded
  #top = [];           // suggestions on screen
  #shownFor = null;    // the text they are for
  #seq = 0;
  #dismissed = false;  // Esc: hidden until the next edit
  #acceptPending = false;  // Tab came before the suggestions caught up with the text
  #ready = null;
  #resolveReady = null;
  #rejectReady = null;
  #observer = null;

  constructor() {
    super();
    this.#newReady();
  }

  /** A Promise of the bank's info once loaded; rejects if it cannot be. */
  get ready() {
    return this.#ready;
  }

  #newReady() {
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.#ready.catch(() => {});  // handled through events; no unhandled rejection
  }

  connectedCallback() {
    adoptStyle(this.getRootNode());
    if (!this.#attach()) {
      // The field is not there yet (the parser has not reached it, or a framework adds it later).
      this.#observer = new MutationObserver(() => {
        if (this.#attach()) {
          this.#observer.disconnect();
          this.#observer = null;
        }
      });
      this.#observer.observe(this, { childList: true, subtree: true });
    }
    this.#load();
  }

  disconnectedCallback() {
    this.#observer?.disconnect();
    this.#observer = null;
    this.#detach();
    if (this.#source) releaseBank(this.#source);
    this.#source = null;
    this.#machine = null;
  }

  attributeChangedCallback(name, oldValue, value) {
    if (!this.isConnected || oldValue === value) return;
    if (name === 'bank' || name === 'memory') this.#load();
    else this.#predict();
  }

  get #tokens() {
    return this.getAttribute('mode') === 'tokens';
  }

  get #count() {
    const n = Number.parseInt(this.getAttribute('top') ?? '5', 10);
    return Number.isFinite(n) ? Math.min(10, Math.max(1, n)) : 5;
  }

  // ---- the bank (and its memory) ----

  /** The bank and memory the attributes name, as absolute URLs; throws naming an attribute that is not a URL. */
  #sourceOfAttributes() {
    const url = (name) => {
      const value = this.getAttribute(name);
      if (!value) return null;
      try {
        return new URL(value, document.baseURI).href;
      } catch {
        throw new Error(`<${TAG}> ${name}="${value}" is not a URL`);
      }
    };
    return { bank: url('bank') ?? defaultBank().href, memory: url('memory') };
  }

  /** (Re)loads what the bank and memory attributes name. */
  #load() {
    if (this.#source) releaseBank(this.#source);
    this.#source = null;
    this.#machine = null;
    this.#hide();
    if (this.getAttribute('state') !== null && this.getAttribute('state') !== 'loading') this.#newReady();
    let source;
    try {
      source = this.#sourceOfAttributes();
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#source = source;
    this.setAttribute('state', 'loading');
    useBank(source).then(
      (machine) => {
        if (this.#source !== source) return;
        this.#machine = machine;
        this.setAttribute('state', 'ready');
        this.#resolveReady(machine.info);
        this.dispatchEvent(new CustomEvent('memread-ready', { detail: { info: machine.info } }));
        if (this.#field && this.#field === document.activeElement) this.#predict();
      },
      (error) => {
        if (this.#source === source) this.#fail(error);
      },
    );
  }

  #fail(error) {
    this.setAttribute('state', 'error');
    this.#rejectReady(error);
    this.dispatchEvent(new CustomEvent('memread-error', { detail: { error } }));
    console.warn(`<${TAG}>: ${error?.message ?? error}`);
  }

  // ---- the field ----

  #attach() {
    const field = this.querySelector('textarea, input');
    if (!field) return false;
    if (field === this.#field) return true;
    this.#detach();
    this.#field = field;
    const id = `memread-suggest-${++counter}`;
    this.#list = document.createElement('ul');
    this.#list.className = 'memread-suggest-list';
    this.#list.id = `${id}-list`;
    this.#list.setAttribute('role', 'listbox');
    this.#list.setAttribute('aria-label', 'Suggestions');
    this.#list.hidden = true;
    this.#list.addEventListener('mousedown', (event) => event.preventDefault());  // keep the focus in the field
    this.#list.addEventListener('click', (event) => {
      const item = event.target.closest('.memread-suggest-item');
      if (item) this.#accept(this.#top[Number(item.dataset.index)]);
    });
    this.#hint = document.createElement('span');
    this.#hint.className = 'memread-suggest-hint';
    this.#hint.id = `${id}-hint`;
    this.#hint.textContent = 'Suggestions appear below while you type at the end: Tab inserts the first, Escape hides them.';
    field.after(this.#list, this.#hint);
    field.setAttribute('aria-autocomplete', 'list');
    field.setAttribute('aria-controls', this.#list.id);
    const described = field.getAttribute('aria-describedby');
    field.setAttribute('aria-describedby', described ? `${described} ${this.#hint.id}` : this.#hint.id);
    field.addEventListener('input', this.#onInput);
    field.addEventListener('keydown', this.#onKeydown);
    field.addEventListener('focus', this.#onFocus);
    field.addEventListener('blur', this.#onBlur);
    field.addEventListener('click', this.#onFocus);
    return true;
  }

  #detach() {
    const field = this.#field;
    if (!field) return;
    field.removeEventListener('input', this.#onInput);
    field.removeEventListener('keydown', this.#onKeydown);
    field.removeEventListener('focus', this.#onFocus);
    field.removeEventListener('blur', this.#onBlur);
    field.removeEventListener('click', this.#onFocus);
    field.removeAttribute('aria-autocomplete');
    field.removeAttribute('aria-controls');
    const described = (field.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((x) => x && x !== this.#hint.id);
    if (described.length) field.setAttribute('aria-describedby', described.join(' '));
    else field.removeAttribute('aria-describedby');
    this.#list.remove();
    this.#hint.remove();
    this.#field = this.#list = this.#hint = null;
  }

  #onInput = () => {
    this.#dismissed = false;
    this.#predict();
  };

  #onFocus = () => this.#predict();

  #onBlur = () => this.#hide();

  #onKeydown = (event) => {
    if (event.key === 'Escape') {
      if (!this.#list.hidden) {
        this.#dismissed = true;
        this.#hide();
        event.preventDefault();
      }
      return;
    }
    if (event.key !== 'Tab' || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (this.#list.hidden || this.#top.length === 0) return;  // no suggestions shown: Tab moves on
    event.preventDefault();
    if (this.#shownFor === this.#field.value) this.#accept(this.#top[0]);
    else this.#acceptPending = true;  // the suggestions for this text are on their way
  };

  /** Text to predict after: the field's text, while the caret sits at its end; else null. */
  #textAtCaret() {
    const field = this.#field;
    if (!field || field.disabled || field.readOnly) return null;
    const text = field.value;
    const at = field.selectionEnd ?? text.length;
    if (text === '' || at !== text.length || field.selectionStart !== at) return null;
    return text;
  }

  async #predict() {
    const machine = this.#machine;
    const text = this.#textAtCaret();
    const seq = ++this.#seq;
    if (!machine || text === null || this.#dismissed || document.activeElement !== this.#field) {
      this.#hide();
      return;
    }
    try {
      // Either way a suggestion is {text, prob}: what accepting it inserts.
      const top = this.#tokens
        ? (await machine.predict(text, { topK: this.#count })).map((p) => ({ text: p.token, prob: p.prob, id: p.id }))
        : await machine.complete(text, { topK: this.#count });
      if (seq !== this.#seq || machine !== this.#machine) return;
      this.#show(top, text);
    } catch (error) {
      if (seq === this.#seq) this.#hide();
      if (!['SUPERSEDED', 'EMPTY_TEXT', 'TERMINATED', 'DISPOSED'].includes(error?.code) && error?.name !== 'AbortError') {
        console.warn(`<${TAG}>: ${error?.message ?? error}`);
      }
    }
  }

  #show(top, text) {
    if (!this.#list || document.activeElement !== this.#field || this.#field.value !== text) return;
    this.#top = top;
    this.#shownFor = text;
    const items = top.map((p, i) => {
      const li = document.createElement('li');
      li.className = 'memread-suggest-item';
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', i === 0 ? 'true' : 'false');
      li.dataset.index = String(i);
      li.dataset.text = p.text;
      li.dataset.prob = String(p.prob);
      const prob = document.createElement('span');
      prob.className = 'memread-suggest-prob';
      prob.textContent = percent(p.prob);
      li.append(this.#tokens ? tokenNode(p.text, p.id) : completionNode(typedWord(text), p.text), prob);
      if (i === 0) {
        const key = document.createElement('kbd');
        key.className = 'memread-suggest-key';
        key.textContent = 'Tab';
        li.append(key);
      }
      return li;
    });
    this.#list.replaceChildren(...items);
    this.#list.dataset.text = text;  // what they are suggestions for (tests wait on it)
    this.#list.hidden = items.length === 0;
    if (this.#acceptPending) {
      this.#acceptPending = false;
      if (top.length) this.#accept(top[0]);
    }
  }

  #hide() {
    this.#acceptPending = false;
    if (!this.#list) return;
    this.#list.hidden = true;
    this.#shownFor = null;
  }

  #accept(suggestion) {
    const field = this.#field;
    if (!suggestion || !field) return;
    field.value += suggestion.text;
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
    if (field.scrollHeight > field.clientHeight) field.scrollTop = field.scrollHeight;
    this.dispatchEvent(new CustomEvent('memread-accept', { detail: { text: suggestion.text, prob: suggestion.prob } }));
    // As if typed: the page's own listeners (and ours: the next suggestions) see an edit.
    field.dispatchEvent(new Event('input', { bubbles: true }));
  }
}

if (!customElements.get(TAG)) customElements.define(TAG, MemreadSuggest);
