// The demo page: type, and see the next token read live; see what the model read to predict it.
//
// Everything runs in a Web Worker (loadMachineInWorker), so typing never waits for the model:
//   - every keystroke asks for the completions of the word being typed and for the raw next-token
//     distribution; only the latest of each is computed (older ones reject with SUPERSEDED, which
//     is not an error here); Tab inserts the first completion;
//   - the trace ("what the model read") follows the predictions, debounced, one call at a time;
//   - Generate streams a continuation into the text; Stop aborts it (AbortSignal) before its next token.
// Banks: the list in /banks/index.json, or a file the visitor opens or drops. A bad file shows its
// MemreadError message, and the bank already loaded keeps working.
// Memories: the "Teach it" panel (teach.js) teaches the machine the visitor's text and keeps it in
// the browser per bank; the trace shows what a read recalled from it.
//
// For tests, the DOM says what it shows: #completions[data-text], #next[data-text] and
// #trace[data-text] are the text the completions, predictions and trace were computed for, and
// their data-memory the slots of the memory they were asked with (0: none); every weight drawn
// carries data-weight.
import { loadMachineInWorker } from '../src/js/index.js';
import { bankKey } from './memory-store.js';
import { bankLoaded, isOverPanel, startTeachPanel } from './teach.js';

const $ = (id) => document.getElementById(id);

const ui = {
  text: $('text'),
  completions: $('completions'),
  completionsEmpty: $('completions-empty'),
  completionsTiming: $('completions-timing'),
  next: $('next'),
  nextEmpty: $('next-empty'),
  nextTiming: $('next-timing'),
  trace: $('trace'),
  slotDetail: $('slot-detail'),
  slotLabel: $('slot-detail-label'),
  slotStrip: $('slot-strip'),
  bankSelect: $('bank-select'),
  bankFile: $('bank-file'),
  bankProgress: $('bank-progress'),
  bankStatus: $('bank-status'),
  bankNote: $('bank-note'),
  bankError: $('bank-error'),
  bankInfo: $('bank-info'),
  genForm: $('gen-form'),
  generate: $('generate'),
  stop: $('stop'),
  genStatus: $('gen-status'),
  temperature: $('temperature'),
  topP: $('top-p'),
  seed: $('seed'),
  repetitionPenalty: $('repetition-penalty'),
  noRepeatNgram: $('no-repeat-ngram'),
  maxTokens: $('max-tokens'),
  dropOverlay: $('drop-overlay'),
};

const TOP_K = 10;         // tokens in the next-token list
const TOP_COMPLETIONS = 5;  // completions in their list
const TOP_SLOTS = 8;      // slots per bank read in the trace
const TRACE_DELAY = 120;  // ms of quiet typing before the trace is recomputed
const TOP_RECALLS = 5;    // recalled passages of the memory shown in the trace
const FILE_OPTION = 'file:';

const state = {
  machine: null,          // the WorkerMachine in use
  bank: null,             // {label, value, entry?} of the bank in use
  loading: null,          // AbortController of the load in progress
  predictSeq: 0,          // number of the latest predict asked for
  shownSeq: 0,            // number of the predict on screen
  top: [],                // the predictions on screen
  completeSeq: 0,         // number of the latest complete asked for
  shownCompleteSeq: 0,    // number of the complete on screen
  completions: [],        // the completions on screen
  acceptWhenFresh: false, // Tab was pressed before the completions caught up with the text
  tabLeaves: false,       // after Esc, Tab moves focus instead of accepting
  generating: null,       // {controller} while a continuation streams
  traceTimer: 0,
  traceBusy: false,
  traceAgain: false,
  lastTrace: null,        // {text, trace}
  selected: null,         // {layer, read, slot, key, value} of the selected slot
};

// ---- Showing tokens -----------------------------------------------------------------------------

const WHITESPACE = { ' ': '␣', '\n': '⏎', '\t': '⇥', '\r': '␍', '\u00a0': '⍽' };
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;  // control and format characters: shown as ·

/**
 * A token as a person can read it: whitespace made visible (␣ ⏎ ⇥), a lone byte of a multi-byte
 * character as its hex value.
 */
function tokenNode(token, id) {
  const span = document.createElement('span');
  span.className = 'tok';
  if (id >= 128 && id < 256) {
    const byte = document.createElement('span');
    byte.className = 'ws';
    byte.textContent = `⟨${id.toString(16).toUpperCase()}⟩`;
    span.append(byte);
    return span;
  }
  let plain = '';
  const flush = () => {
    if (plain) span.append(plain);
    plain = '';
  };
  for (const ch of token) {
    const mark = WHITESPACE[ch] ?? (INVISIBLE.test(ch) ? '·' : null);
    if (mark) {
      flush();
      const ws = document.createElement('span');
      ws.className = 'ws';
      ws.textContent = mark;
      span.append(ws);
    } else {
      plain += ch;
    }
  }
  flush();
  if (!token) span.textContent = '∅';
  return span;
}

/** A token in words, for screen readers and tooltips: `" the"` → `space, "the"`. */
function tokenWords(token, id) {
  if (id >= 128 && id < 256) return `byte ${id.toString(16).toUpperCase()}`;
  const names = { ' ': 'space', '\n': 'new line', '\t': 'tab' };
  if (names[token]) return names[token];
  const lead = token.match(/^[ \n\t]+/)?.[0] ?? '';
  const rest = token.slice(lead.length);
  const words = [...lead].map((ch) => names[ch]);
  if (rest) words.push(JSON.stringify(rest));
  return words.join(', ');
}

function percent(p) {
  if (p >= 0.995) return '100%';
  if (p >= 0.1) return `${(p * 100).toFixed(0)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  return p > 0 ? '<0.1%' : '0%';
}

// Heat: white → highlighter amber. Text stays dark on every shade (contrast ≥ 7:1).
const HEAT_FROM = [255, 255, 255];
const HEAT_TO = [245, 166, 35];

function heat(fraction) {
  const t = Math.max(0, Math.min(1, fraction));
  const c = HEAT_FROM.map((from, i) => Math.round(from + (HEAT_TO[i] - from) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

// ---- Status and errors ----------------------------------------------------------------------------

function setBankStatus(text, stateName) {
  ui.bankStatus.textContent = text;
  ui.bankStatus.dataset.state = stateName;
}

function showError(message) {
  ui.bankError.textContent = message;
  ui.bankError.hidden = false;
}

function clearError() {
  ui.bankError.hidden = true;
  ui.bankError.textContent = '';
}

/** Errors that mean "this answer is no longer wanted", not a problem to show. */
function isQuiet(error) {
  return error?.name === 'AbortError' || ['SUPERSEDED', 'TERMINATED', 'DISPOSED'].includes(error?.code);
}

function reportError(error, what) {
  if (isQuiet(error)) return;
  showError(`${what}: ${error?.message ?? error}`);
}

function setControlsEnabled() {
  const ready = state.machine !== null;
  ui.generate.disabled = !ready || state.generating !== null;
  ui.stop.disabled = state.generating === null;
}

// ---- Next token -----------------------------------------------------------------------------------

/** Slots of the memory in use (0: none), as the worker last said: what a call made now reads with. */
function memorySlots(machine) {
  return machine?.memory?.slots ?? 0;
}

function textChanged() {
  state.tabLeaves = false;
  complete();
  predict();
}

// The letters of the word being typed: after the text's last whitespace (the rule of
// docs/model.md, "Completions"), for showing them apart from the completion.
const TYPED_WORD = /[^\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/u;

async function complete() {
  const machine = state.machine;
  if (!machine || state.generating) return;
  const text = ui.text.value;
  const seq = ++state.completeSeq;
  const memory = memorySlots(machine);
  if (text === '') {
    state.shownCompleteSeq = seq;
    showCompletions([], text, null, memory);
    return;
  }
  const started = performance.now();
  try {
    const completions = await machine.complete(text, { topK: TOP_COMPLETIONS });
    if (machine !== state.machine || seq < state.shownCompleteSeq) return;
    state.shownCompleteSeq = seq;
    showCompletions(completions, text, performance.now() - started, memory);
  } catch (error) {
    if (machine === state.machine) reportError(error, 'Could not complete');
  }
}

function showCompletions(completions, text, ms, memory) {
  state.completions = completions;
  ui.completions.dataset.text = text;
  ui.completions.dataset.memory = String(memory);
  ui.completionsEmpty.hidden = text === '' || completions.length > 0;
  ui.completionsTiming.textContent = ms === null ? '' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const typed = text.match(TYPED_WORD)[0];
  const shownTyped = typed.length > 24 ? `…${typed.slice(-23)}` : typed;
  const max = completions.length ? completions[0].prob : 1;
  const items = completions.map((c, i) => {
    const button = el('button', 'suggestion completion');
    button.type = 'button';
    button.dataset.text = c.text;
    button.dataset.prob = String(c.prob);
    button.setAttribute('aria-label', `${tokenWords(typed + c.text, -1)}, ${percent(c.prob)}${i === 0 ? ', Tab inserts it' : ''}`);
    const bar = el('span', 'bar');
    bar.style.width = `${(c.prob / max) * 100}%`;
    const word = el('span', 'token-cell');
    const tok = el('span', 'tok', el('span', 'typed', shownTyped));
    tok.append(el('span', 'rest', tokenNode(c.text, -1)));
    word.append(tok);
    button.append(word, el('span', 'bar-track', bar), el('span', 'pct', percent(c.prob)));
    if (i === 0) button.append(el('kbd', 'tab-hint', 'Tab'));
    button.tabIndex = i === 0 ? 0 : -1;
    button.addEventListener('click', () => accept(c.text));
    return el('li', null, button);
  });
  ui.completions.replaceChildren(...items);
  if (state.acceptWhenFresh && text === ui.text.value) {
    state.acceptWhenFresh = false;
    if (completions.length) accept(completions[0].text);
  }
}

async function predict() {
  const machine = state.machine;
  if (!machine || state.generating) return;
  const text = ui.text.value;
  const seq = ++state.predictSeq;
  const memory = memorySlots(machine);
  if (text === '') {
    state.shownSeq = seq;
    showPredictions([], text, null, memory);
    scheduleTrace();
    return;
  }
  const started = performance.now();
  try {
    const top = await machine.predict(text, { topK: TOP_K });
    if (machine !== state.machine || seq < state.shownSeq) return;
    state.shownSeq = seq;
    showPredictions(top, text, performance.now() - started, memory);
    scheduleTrace();
  } catch (error) {
    if (machine === state.machine) reportError(error, 'Could not predict');
  }
}

function showPredictions(top, text, ms, memory) {
  state.top = top;
  ui.next.dataset.text = text;
  ui.next.dataset.memory = String(memory);
  ui.nextEmpty.hidden = text !== '';
  ui.nextTiming.textContent = ms === null ? '' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const max = top.length ? top[0].prob : 1;
  const items = top.map((p, i) => {
    const button = el('button', 'suggestion');
    button.type = 'button';
    button.dataset.id = String(p.id);
    button.dataset.prob = String(p.prob);
    button.dataset.token = p.token;
    button.setAttribute('aria-label', `${tokenWords(p.token, p.id)}, ${percent(p.prob)}`);
    const bar = el('span', 'bar');
    bar.style.width = `${(p.prob / max) * 100}%`;
    button.append(
      el('span', 'token-cell', tokenNode(p.token, p.id)),
      el('span', 'bar-track', bar),
      el('span', 'pct', percent(p.prob)),
    );
    button.tabIndex = i === 0 ? 0 : -1;  // one Tab stop for the list; arrow keys move within it
    button.addEventListener('click', () => accept(p.token));
    return el('li', null, button);
  });
  ui.next.replaceChildren(...items);
}

/** Appends a completion or a token to the text, keeps the focus in the text box, and reads again. */
function accept(token) {
  if (state.generating) return;
  ui.text.value += token;
  ui.text.focus();
  const end = ui.text.value.length;
  ui.text.setSelectionRange(end, end);
  ui.text.scrollTop = ui.text.scrollHeight;
  textChanged();
}

// Tab appends a token while you type; arriving in the text box by Tab (or after Esc), Tab moves on,
// so the keyboard is never trapped in the text box.
let tabbing = false;
document.addEventListener('keydown', (event) => { tabbing = event.key === 'Tab'; }, true);
document.addEventListener('pointerdown', () => { tabbing = false; }, true);
ui.text.addEventListener('focus', () => {
  if (tabbing) state.tabLeaves = true;
});
ui.text.addEventListener('input', textChanged);
ui.text.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    if (!state.generating) state.tabLeaves = true;  // (during a generation, Esc stops it: below)
    return;
  }
  if (event.key !== 'Tab' || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
  if (state.tabLeaves || !state.machine || state.generating || ui.text.value === '') return;  // Tab moves on
  event.preventDefault();
  if (ui.completions.dataset.text === ui.text.value) {
    if (state.completions.length) accept(state.completions[0].text);
  } else {
    state.acceptWhenFresh = true;  // the completions for this text are on their way
  }
});

/** Arrow keys, Home and End move the focus between the buttons of a list (roving tabindex). */
function arrowKeys(container, selector, listSelector) {
  container.addEventListener('keydown', (event) => {
    const keys = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
    if (!(event.key in keys) || event.altKey || event.ctrlKey || event.metaKey) return;
    const current = event.target.closest(selector);
    const list = current?.closest(listSelector);
    if (!current || !list) return;
    const buttons = [...list.querySelectorAll(selector)];
    const at = buttons.indexOf(current);
    const step = keys[event.key];
    const to = Number.isFinite(step) ? Math.min(buttons.length - 1, Math.max(0, at + step)) : (step < 0 ? 0 : buttons.length - 1);
    event.preventDefault();
    buttons.forEach((b, i) => { b.tabIndex = i === to ? 0 : -1; });
    buttons[to].focus();
  });
}

arrowKeys(ui.next, 'button.suggestion', 'ol');
arrowKeys(ui.completions, 'button.suggestion', 'ol');

// ---- What the model read ----------------------------------------------------------------------------

function scheduleTrace() {
  clearTimeout(state.traceTimer);
  state.traceTimer = setTimeout(runTrace, TRACE_DELAY);
}

async function runTrace() {
  if (state.traceBusy) {
    state.traceAgain = true;
    return;
  }
  const machine = state.machine;
  if (!machine || state.generating) return;
  const text = ui.text.value;
  if (text === '') {
    state.lastTrace = null;
    ui.trace.dataset.text = '';
    ui.trace.dataset.memory = String(memorySlots(machine));
    ui.trace.replaceChildren(el('p', 'help', 'Type something to see what the model reads.'));
    return;
  }
  state.traceBusy = true;
  const memory = machine.memory;
  try {
    const trace = await machine.trace(text, { topSlots: TOP_SLOTS });
    const recalls = await recalledPassages(machine, trace.memory);
    if (machine !== state.machine) return;
    if (text !== ui.text.value || memory !== machine.memory) {
      state.traceAgain = true;  // stale: the text (or the memory) moved on while it was computed
      return;
    }
    state.lastTrace = { text, trace };
    showTrace(trace, text, machine.info.config);
    ui.trace.prepend(memoryCard(recalls, trace.memory.length, memory));
    ui.trace.dataset.memory = String(memory?.slots ?? 0);
    await showSlot();
  } catch (error) {
    if (machine === state.machine && error?.code !== 'EMPTY_TEXT') reportError(error, 'Could not trace');
  } finally {
    state.traceBusy = false;
    if (state.traceAgain) {
      state.traceAgain = false;
      scheduleTrace();
    }
  }
}

/** Chips of tokens, each shaded by its weight (darkest = the heaviest); data-weight is exact. */
function weightChips(container, tokens, ids, weights, { current = -1, offset = 0 } = {}) {
  let max = 0;
  for (const w of weights) max = Math.max(max, w);
  const chips = [];
  for (let i = 0; i < tokens.length; i++) {
    const chip = el('span', 'chip', tokenNode(tokens[i], ids[i]));
    chip.setAttribute('role', 'listitem');
    if (i === current) {
      chip.classList.add('current');
      chip.title = `${tokenWords(tokens[i], ids[i])}: the position being read from`;
      chip.setAttribute('aria-label', `${tokenWords(tokens[i], ids[i])}, the position reading`);
    } else {
      const w = weights[i - offset] ?? 0;
      chip.dataset.weight = String(w);
      chip.style.backgroundColor = heat(max > 0 ? w / max : 0);
      chip.title = `${tokenWords(tokens[i], ids[i])}: ${percent(w)}`;
      chip.setAttribute('aria-label', chip.title);
    }
    chips.push(chip);
  }
  container.replaceChildren(...chips);
  return max;
}

function slotList(layerIndex, read, slots, totalSlots) {
  const list = el('ol', 'slots');
  list.dataset.read = read;
  const max = slots.length ? slots[0].weight : 1;
  let shown = 0;
  for (const s of slots) {
    shown += s.weight;
    const button = el('button', 'slot');
    button.type = 'button';
    button.dataset.layer = String(layerIndex);
    button.dataset.read = read;
    button.dataset.slot = String(s.slot);
    button.dataset.weight = String(s.weight);
    const selected = state.selected && state.selected.layer === layerIndex && state.selected.read === read
      && state.selected.slot === s.slot;
    button.setAttribute('aria-pressed', selected ? 'true' : 'false');
    button.setAttribute('aria-label',
      `slot ${s.slot}, key ${tokenWords(s.key.token, s.key.id)}, value ${tokenWords(s.value.token, s.value.id)}, ${percent(s.weight)}`);
    const bar = el('span', 'bar');
    bar.style.width = `${(s.weight / max) * 100}%`;
    button.append(
      el('span', 'slot-id', `#${s.slot}`),
      el('span', 'slot-label', tokenNode(s.key.token, s.key.id), el('span', 'arrow', '→'), tokenNode(s.value.token, s.value.id)),
      el('span', 'bar-track', bar),
      el('span', 'pct', percent(s.weight)),
    );
    button.addEventListener('click', () => selectSlot({ layer: layerIndex, read, slot: s.slot, key: s.key, value: s.value }));
    list.append(el('li', null, button));
  }
  // One Tab stop per list (the selected slot, else the first); arrow keys move within it.
  const buttons = [...list.querySelectorAll('button.slot')];
  const pressed = buttons.findIndex((b) => b.getAttribute('aria-pressed') === 'true');
  buttons.forEach((b, i) => { b.tabIndex = i === Math.max(0, pressed) ? 0 : -1; });
  const rest = totalSlots - slots.length;
  if (rest > 0) {
    const other = el('li', 'slot-rest', `the other ${rest} slots: ${percent(Math.max(0, 1 - shown))}`);
    other.dataset.weight = String(Math.max(0, 1 - shown));
    list.append(other);
  }
  return list;
}

function showTrace(trace, text, config) {
  ui.trace.dataset.text = text;
  const n = trace.tokens.length;
  const parts = [];
  if (trace.windowStart > 0) {
    parts.push(el('p', 'help', config.window === 'rolling'
      ? `The text is longer than the bank's window of ${config.maxContext} tokens: the last position's context read sees the last ${config.maxContext}; earlier tokens reach it through the layers below (up to ${config.layers * config.maxContext} tokens back).`
      : `The text is longer than this bank's window of ${config.maxContext} tokens: the model reads its last ${n} tokens.`));
  }
  trace.layers.forEach((layer, l) => {
    const card = el('section', 'layer');
    card.dataset.layer = String(l);
    const heading = el('h3', null, `Layer ${l + 1}`, el('span', 'layer-of', ` of ${trace.layers.length}`));
    card.append(heading);

    const ctxHead = el('h4', null, 'Context read');
    const chips = el('div', 'chips context');
    chips.setAttribute('role', 'list');
    chips.setAttribute('aria-label', `Layer ${l + 1}: the context read's weight of each earlier token`);
    chips.dataset.read = 'context';
    if (n > 1) {
      const max = weightChips(chips, trace.tokens, trace.ids, layer.context, { current: n - 1 });
      ctxHead.append(el('span', 'read-note', ` · darkest = ${percent(max)}`));
    } else {
      chips.replaceChildren(el('span', 'help', 'The first token has no earlier token to read.'));
    }
    card.append(ctxHead, chips);

    const reads = el('div', 'reads');
    const assoc = el('div', 'read-col',
      el('h4', null, 'Associative read ', el('span', 'read-note', `top ${layer.assoc.length} of ${config.slots} slots`)),
      slotList(l, 'assoc', layer.assoc, config.slots));
    const mlp = el('div', 'read-col',
      el('h4', null, '“MLP” read ', el('span', 'read-note', 'same bank, keys ⇄ values')),
      slotList(l, 'mlp', layer.mlp, config.slots));
    reads.append(assoc, mlp);
    card.append(reads);
    parts.push(card);
  });
  ui.trace.replaceChildren(...parts);
}

arrowKeys(ui.trace, 'button.slot', 'ol.slots');

// ---- What the model recalled from the memory --------------------------------------------------------

/**
 * The recalled slots to show (the heaviest), each with the token it predicts: the first token of
 * the passage from its offset on, as the bank tokenizes that passage (the memory records where
 * the token starts, not where it ends).
 */
function recalledPassages(machine, memory) {
  return Promise.all(memory.slice(0, TOP_RECALLS).map(async (recall) => {
    const ids = recall.after ? await machine.tokenize(recall.after) : [];
    const first = ids.length ? await machine.detokenize([ids[0]]) : '';
    // A token that is a lone byte of a character decodes as U+FFFD: then nothing is marked.
    return { ...recall, predicted: recall.after.startsWith(first) ? first : '' };
  }));
}

const utf8Length = (text) => new TextEncoder().encode(text).length;

/**
 * One recalled passage: the taught text before the token the slot predicts, that token marked,
 * and the text after it; … where the passage goes on beyond what the memory gave.
 */
function passageNode(recall) {
  // The memory cuts its passages at byte counts: a character cut in two shows as U+FFFD at the edge.
  const before = recall.before.replace(/^\uFFFD+/, '');
  const after = recall.after.replace(/\uFFFD+$/, '');
  const rest = after.slice(recall.predicted.length);
  const passage = el('span', 'passage');
  if (recall.offset > utf8Length(recall.before)) passage.append(el('span', 'elided', '…'));
  passage.append(el('span', 'passage-before', before));
  const mark = el('mark', 'predicted', tokenNode(recall.predicted, -1));
  mark.title = `the token this passage taught it to predict here: ${tokenWords(recall.predicted, -1)}`;
  passage.append(mark, el('span', 'passage-after', rest));
  if (utf8Length(recall.after) >= 32) passage.append(el('span', 'elided', '…'));
  return passage;
}

/**
 * The memory's part of the trace: the passages of the taught text that the last position's read
 * recalled, heaviest first, each with its weight; or that nothing was recalled.
 * @param {Array} recalls the heaviest recalls, with `predicted` (recalledPassages)
 * @param {number} total how many slots the read recalled in all
 * @param {object|null} memory the memory's info, or null when there is none
 */
function memoryCard(recalls, total, memory) {
  const card = el('section', 'memory-read');
  card.dataset.recalled = String(total);
  card.append(el('h3', null, 'Your memory', el('span', 'layer-of', ' · read last, after the layers')));
  if (!memory) {
    card.append(el('p', 'help recall-none', 'Nothing recalled: there is no memory. Teach it a text (“Teach it”), and the passages it recalls show here.'));
    return card;
  }
  if (total === 0) {
    card.append(el('p', 'help recall-none', `Nothing recalled: no passage of what you taught it (${memory.slots.toLocaleString('en')} slots) is close enough to this position, so this prediction is the bank's alone.`));
    return card;
  }
  card.append(el('p', 'help', `Recalled from what you taught it: ${total === 1 ? 'one passage' : `${total} passages`}, each with the token it predicts marked and its weight in the memory's read.`));
  const list = el('ol', 'recalls');
  for (const recall of recalls) {
    const item = el('li', 'recall', el('span', 'pct', percent(recall.weight)), passageNode(recall));
    item.dataset.weight = String(recall.weight);
    item.dataset.offset = String(recall.offset);
    item.dataset.slot = String(recall.slot);
    item.dataset.predicted = recall.predicted;
    list.append(item);
  }
  if (total > recalls.length) list.append(el('li', 'slot-rest', `and ${total - recalls.length} more`));
  card.append(list);
  return card;
}

function selectSlot(selection) {
  const same = state.selected && state.selected.layer === selection.layer
    && state.selected.read === selection.read && state.selected.slot === selection.slot;
  state.selected = same ? null : selection;  // selecting the selected slot again clears it
  for (const button of ui.trace.querySelectorAll('button.slot')) {
    const on = state.selected !== null && Number(button.dataset.layer) === state.selected.layer
      && button.dataset.read === state.selected.read && Number(button.dataset.slot) === state.selected.slot;
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  showSlot();
}

/** The selected slot's weight at every position of the text, as a strip of shaded tokens. */
async function showSlot() {
  const selection = state.selected;
  const machine = state.machine;
  if (!selection || !machine || !state.lastTrace) {
    ui.slotDetail.hidden = true;
    ui.slotStrip.replaceChildren();
    return;
  }
  const { text, trace } = state.lastTrace;
  const readName = selection.read === 'assoc' ? 'associative read' : '“MLP” read';
  ui.slotLabel.replaceChildren(
    `Layer ${selection.layer + 1}, ${readName}, slot #${selection.slot}: `,
    tokenNode(selection.key.token, selection.key.id), el('span', 'arrow', ' → '),
    tokenNode(selection.value.token, selection.value.id));
  // Shown inside the card of the slot's layer, right under the slot lists.
  const card = ui.trace.querySelector(`.layer[data-layer="${selection.layer}"]`);
  if (card && ui.slotDetail.parentNode !== card) card.append(ui.slotDetail);
  ui.slotDetail.hidden = false;
  if (typeof machine.slotWeights !== 'function') {
    ui.slotStrip.replaceChildren(el('span', 'help', 'This build of memread cannot read one slot across the text.'));
    return;
  }
  try {
    const weights = await machine.slotWeights(text, selection);
    if (machine !== state.machine || selection !== state.selected || state.lastTrace?.text !== text) return;
    const max = weightChips(ui.slotStrip, trace.tokens, trace.ids, weights);
    ui.slotStrip.dataset.text = text;
    ui.slotLabel.append(el('span', 'read-note', ` · darkest = ${percent(max)}`));
  } catch (error) {
    if (machine === state.machine) reportError(error, 'Could not read the slot');
  }
}

// ---- Generation -------------------------------------------------------------------------------------

function numberFrom(input, fallback, min, max, whole = false) {
  let value = Number(input.value);
  if (input.value === '' || !Number.isFinite(value)) value = fallback;
  if (whole) value = Math.round(value);
  value = Math.min(max, Math.max(min, value));
  input.value = String(value);
  return value;
}

function setGenStatus(text, stateName, pieces) {
  ui.genStatus.textContent = text;
  ui.genStatus.dataset.state = stateName;
  ui.genStatus.dataset.pieces = String(pieces);
}

async function generate() {
  const machine = state.machine;
  if (!machine || state.generating) return;
  if (ui.text.value === '') {
    setGenStatus('Type a beginning first: the model continues your text.', 'idle', 0);
    ui.text.focus();
    return;
  }
  const options = {
    temperature: numberFrom(ui.temperature, 0.8, 0, 5),
    topP: numberFrom(ui.topP, 0.95, 0.05, 1),
    seed: numberFrom(ui.seed, 1, 0, 4294967295, true),
    repetitionPenalty: numberFrom(ui.repetitionPenalty, 1.3, 1, 3),
    noRepeatNgramSize: numberFrom(ui.noRepeatNgram, 3, 0, 10, true),
    maxTokens: numberFrom(ui.maxTokens, 80, 1, 2000, true),
  };
  const controller = new AbortController();
  state.generating = { controller };
  ui.text.readOnly = true;
  ui.text.setAttribute('aria-busy', 'true');
  setControlsEnabled();
  const focusWasOnGenerate = document.activeElement === ui.generate;
  if (focusWasOnGenerate) ui.stop.focus();  // Enter, then Enter again, stops
  let pieces = 0;
  let added = 0;  // characters
  const chars = (n) => `${n} character${n === 1 ? '' : 's'}`;
  setGenStatus('Generating… (Esc or Stop ends it)', 'generating', 0);
  try {
    const stream = machine.generate(ui.text.value, { ...options, signal: controller.signal });
    for await (const piece of stream) {
      ui.text.value += piece;
      ui.text.scrollTop = ui.text.scrollHeight;
      pieces++;
      added += [...piece].length;
      setGenStatus(`Generating… ${chars(added)} (Esc or Stop ends it)`, 'generating', pieces);
    }
    setGenStatus(`Done: added ${chars(added)}.`, 'done', pieces);
  } catch (error) {
    if (error?.name === 'AbortError') setGenStatus(`Stopped after ${chars(added)}.`, 'stopped', pieces);
    else if (isQuiet(error)) setGenStatus(`Stopped (the bank changed) after ${chars(added)}.`, 'stopped', pieces);
    else {
      setGenStatus('', 'error', pieces);
      reportError(error, 'Could not generate');
    }
  } finally {
    state.generating = null;
    ui.text.readOnly = false;
    ui.text.removeAttribute('aria-busy');
    const focusWasOnStop = document.activeElement === ui.stop;
    setControlsEnabled();
    if (focusWasOnStop) ui.generate.focus();
    textChanged();
  }
}

ui.genForm.addEventListener('submit', (event) => {
  event.preventDefault();
  generate();
});
ui.stop.addEventListener('click', () => state.generating?.controller.abort());
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && state.generating) state.generating.controller.abort();
});

// ---- Banks ----------------------------------------------------------------------------------------

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

function parameterCount(c) {
  const perLayer = 2 * c.slots * c.dim + 3 + (c.position === 'learned' ? c.maxContext : 0);
  return c.vocabSize * c.dim + c.layers * perLayer + 1;
}

/** A number as a person reads it: 0.009999999776 → "0.01", 43675 → "43,675". */
function plainNumber(x) {
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en');
  return String(Number(x.toPrecision(4)));
}

function duration(seconds) {
  if (seconds < 1) return 'under a second';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  const h = Math.floor(seconds / 3600);
  const min = Math.round((seconds - h * 3600) / 60);
  return `${h} h ${min} min`;
}

/**
 * The bank's training metadata (what `memread train` records: corpus, split, tokenizer, steps,
 * validation and test bits per byte, options) as rows of plain words. Keys it does not know are
 * shown as they are; metadata that is not JSON is shown as text.
 */
function trainingFacts(training) {
  if (!training) return null;
  let t;
  try {
    t = JSON.parse(training);
  } catch { /* not JSON: shown as it is */ }
  if (!t || typeof t !== 'object' || Array.isArray(t)) return [['Training', training]];
  const known = new Set();
  const take = (key) => {
    if (t[key] !== undefined) known.add(key);
    return t[key];
  };
  const bpb = (x) => (typeof x === 'number' ? x.toFixed(3) : String(x));
  const facts = [];

  const corpus = take('corpus');
  if (corpus !== undefined) facts.push(['Trained on', String(corpus)]);

  const steps = take('steps');
  if (steps !== undefined) {
    const perStep = take('tokens_per_step');
    const seconds = take('training_seconds');
    const speed = take('training_tokens_per_second');
    let text = `${plainNumber(steps)} steps`;
    if (typeof steps === 'number' && typeof perStep === 'number') {
      text += ` of ${plainNumber(perStep)} tokens (${plainNumber(steps * perStep)} tokens in all)`;
    }
    const took = [];
    if (typeof seconds === 'number') took.push(duration(seconds));
    if (typeof speed === 'number') took.push(`${plainNumber(Math.round(speed))} tokens per second`);
    if (took.length) text += `; ${took.join(', ')}`;
    facts.push(['Training', text]);
  }

  const measured = [
    [take('test_bits_per_byte'), 'on the test text'],
    [take('validation_bits_per_byte'), 'on the validation text'],
    [take('bits_per_byte'), ''],
  ].filter(([x]) => x !== undefined).map(([x, where]) => `${bpb(x)}${where ? ` ${where}` : ''}`);
  if (measured.length) {
    facts.push(['Bits per byte', `${measured.join(', ')} (text held out from training; the fewer bits the model needs per byte, the better it predicts)`]);
  }

  const tokenizer = take('tokenizer');
  if (tokenizer !== undefined) facts.push(['Tokenizer', String(tokenizer)]);
  const split = take('split');
  if (split !== undefined) facts.push(['Training, validation and test text', String(split)]);
  const options = t.options;
  if (options && typeof options === 'object' && !Array.isArray(options)) {
    known.add('options');
    const parts = Object.entries(options).map(([key, value]) => `${key.replaceAll('_', ' ')} ${plainNumber(value)}`);
    facts.push(['Training options', parts.join(', ')]);
  }

  for (const [key, value] of Object.entries(t)) {
    if (known.has(key)) continue;
    facts.push([`Training: ${key.replaceAll('_', ' ')}`, typeof value === 'object' ? JSON.stringify(value) : String(value)]);
  }
  return facts;
}

/** The test bits per byte the training metadata records, or null. */
function testBitsPerByte(training) {
  try {
    const bpb = JSON.parse(training || 'null')?.test_bits_per_byte;
    return typeof bpb === 'number' ? bpb : null;
  } catch {
    return null;
  }
}

function showInfo(info, bank) {
  const c = info.config;
  const rows = [
    ['Bank', bank.label],
  ];
  if (bank.entry?.description) rows.push(['About', bank.entry.description]);
  rows.push(['Name in the file', info.name || '—']);
  if (info.description) rows.push(['Description in the file', info.description]);
  rows.push(
    ['Model', `d = ${c.dim} · ${c.layers} layer${c.layers === 1 ? '' : 's'} · ${c.slots} slots per layer · ${c.vocabSize} tokens`],
    ['Context', `${c.context === 'hidden' ? 'hidden (each layer reads the previous tokens at its own depth)' : 'input (every layer reads the previous tokens\' embeddings)'}; ${c.position === 'none' ? 'position none (no position information: the context read is order-blind)' : `position ${c.position}`}; window ${c.maxContext} tokens${c.window === 'rolling' ? ' (rolling: each row is computed once, from the tokens before it)' : ' (version 1: the last tokens read as a text of their own)'}`],
    ['Parameters', parameterCount(c).toLocaleString('en')],
    ['File size', `${formatBytes(info.bytes)} (${info.bytes.toLocaleString('en')} bytes)`],
  );
  const facts = trainingFacts(info.training);
  if (facts) rows.push(...facts);
  else rows.push(['Training', 'none recorded in the file (no measured bits per byte)']);
  ui.bankInfo.replaceChildren(...rows.flatMap(([term, value]) => [el('dt', null, term), el('dd', null, value)]));
}

function fileOption(label) {
  let option = ui.bankSelect.querySelector(`option[value="${FILE_OPTION}"]`);
  if (!option) {
    option = document.createElement('option');
    option.value = FILE_OPTION;
    ui.bankSelect.append(option);
  }
  option.textContent = `Your file: ${label}`;
  return option;
}

/**
 * Loads a bank in a new worker; on success it replaces the one in use, on failure the one in use
 * stays and the error is shown.
 * @param {string|Blob} source a URL or a File
 * @param {{label: string, value: string, file: string, entry?: object}} bank
 */
async function loadBank(source, bank) {
  state.loading?.abort();
  const controller = new AbortController();
  state.loading = controller;
  clearError();
  ui.bankProgress.hidden = false;
  ui.bankProgress.removeAttribute('value');  // indeterminate until the first progress
  setBankStatus(`Loading ${bank.label}…`, 'loading');
  // The bank's identity for the memory kept with it; a file's SHA-256 is read alongside the load.
  const identity = bankKey(source).catch(() => `name:${bank.label}`);
  try {
    const machine = await loadMachineInWorker(source, {
      signal: controller.signal,
      onProgress: ({ loaded, total }) => {
        if (total) ui.bankProgress.value = loaded / total;
        setBankStatus(`Loading ${bank.label}… ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}`, 'loading');
      },
    });
    if (state.loading !== controller) {
      machine.terminate();
      return;
    }
    state.generating?.controller.abort();
    const old = state.machine;
    state.machine = machine;
    state.bank = bank;
    state.selected = null;
    state.lastTrace = null;
    old?.terminate();
    if (bank.value === FILE_OPTION) fileOption(bank.label);
    ui.bankSelect.value = bank.value;
    const about = bank.entry?.description ?? `${machine.info.name || 'Your bank'}${machine.info.description ? `: ${machine.info.description}` : ''}`;
    const measured = testBitsPerByte(machine.info.training);
    ui.bankNote.textContent = measured === null ? about
      : `${about} Measured on held-out text: ${measured.toFixed(3)} bits per byte (lower is better).`;
    ui.bankNote.hidden = false;
    showInfo(machine.info, bank);
    // The memory kept for this bank, loaded before the bank is said ready.
    await bankLoaded(machine, { key: await identity, name: bank.file.replace(/\.safetensors$/i, '') });
    if (state.machine !== machine) return;
    setBankStatus(`Ready: ${bank.label}`, 'ready');
    showSlot();
    setControlsEnabled();
    complete();
    predict();
  } catch (error) {
    if (state.loading !== controller || error?.name === 'AbortError') return;
    const keep = state.bank ? ` Still reading with ${state.bank.label}.` : '';
    const message = String(error?.message ?? error).replace(/\.$/, '');
    showError(`Could not load ${bank.label}: ${message}.${keep}`);
    if (state.bank) {
      ui.bankSelect.value = state.bank.value;
      setBankStatus(`Ready: ${state.bank.label}`, 'ready');
    } else {
      setBankStatus('No bank loaded', 'error');
    }
  } finally {
    if (state.loading === controller) {
      state.loading = null;
      ui.bankProgress.hidden = true;
    }
  }
}

function loadFile(file) {
  if (!file) return;
  loadBank(file, { label: `“${file.name}”`, value: FILE_OPTION, file: file.name });
}

let shipped = [];

async function loadBankList() {
  let list;
  try {
    const response = await fetch('/banks/index.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    list = await response.json();
    if (!Array.isArray(list)) throw new Error('not a list');
  } catch (error) {
    ui.bankSelect.replaceChildren(new Option('No shipped banks', ''));
    setBankStatus('No bank loaded: open a bank file', 'error');
    showError(`Could not read the list of banks (/banks/index.json): ${error.message}. You can still open a bank file.`);
    return;
  }
  shipped = list.filter((entry) => entry && typeof entry.file === 'string');
  ui.bankSelect.replaceChildren(...shipped.map((entry, i) => new Option(entry.name || entry.file, String(i))));
  ui.bankSelect.disabled = false;
  if (shipped.length > 0) loadShipped(0);
  else setBankStatus('No bank loaded: open a bank file', 'error');
}

function loadShipped(index) {
  const entry = shipped[index];
  const url = new URL(entry.file, new URL('/banks/', location.href)).href;
  loadBank(url, { label: entry.name || entry.file, value: String(index), entry, file: entry.file });
}

ui.bankSelect.addEventListener('change', () => {
  const value = ui.bankSelect.value;
  if (value === FILE_OPTION || value === '' || value === state.bank?.value) return;
  loadShipped(Number(value));
});

ui.bankFile.addEventListener('change', () => {
  loadFile(ui.bankFile.files?.[0]);
  ui.bankFile.value = '';  // the same file may be opened again
});

// Dropping a file anywhere on the page.
let dragDepth = 0;
const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return;
  dragDepth++;
  ui.dropOverlay.hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) ui.dropOverlay.hidden = true;
});
document.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  if (dragDepth > 0) ui.dropOverlay.hidden = isOverPanel(event);  // over "Teach it", files are to teach
});
document.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  ui.dropOverlay.hidden = true;
  if (isOverPanel(event)) return;  // the panel takes them (teach.js)
  loadFile(event.dataTransfer.files[0]);
});

// A memory that changed (taught, off, on, forgotten, opened) changes what the model reads.
startTeachPanel({ onChange: () => { complete(); predict(); } });
setControlsEnabled();
loadBankList();
