// The "Teach it" panel: the person teaches the bank their own text (DESIGN §10) without training.
//
//   - Teach writes the pasted text and each added .txt file into the machine's memory, one
//     remember per text (so each text starts from its own beginning, as the person typed it), with
//     a progress bar; Cancel stops it, and the memory is then as it was before Teach (all the
//     texts or none);
//   - the memory is kept in the browser (memory-store.js: the memory file's bytes, per bank) and
//     loaded back when the page opens that bank again;
//   - the switch turns it off (forget() on the machine, the bytes stay kept) and on (loaded again);
//     Forget drops it and its kept copy; Download saves the memory file; Open loads one.
// Every failure is a sentence in the panel (#teach-error); the machine keeps working.
//
// For tests, #teach[data-state] says what the panel shows: "no-bank", "none" (no memory),
// "on", "off", "teaching" or "working" (loading, opening, keeping or forgetting a memory: the
// buttons wait); #teach[data-slots] is the memory's slot count, on or off.
import {
  deleteStoredMemory, loadStoredMemory, setStoredMemoryOn, storeMemory,
} from './memory-store.js';

const $ = (id) => document.getElementById(id);

const ui = {
  panel: $('teach'),
  form: $('teach-form'),
  text: $('teach-text'),
  files: $('teach-files'),
  fileList: $('teach-file-list'),
  teach: $('teach-button'),
  cancel: $('teach-cancel'),
  progress: $('teach-progress'),
  status: $('teach-status'),
  error: $('teach-error'),
  on: $('memory-on'),
  forget: $('memory-forget'),
  download: $('memory-download'),
  open: $('memory-file'),
};

const panel = {
  machine: null,     // the WorkerMachine of the bank in use
  bank: null,        // {key, name}: the bank's identity in the store and its file's name
  stored: null,      // the record kept for this bank ({bytes, on, info}), or null
  storeProblem: '',  // why the memory could not be kept in the browser, if it could not
  teaching: null,    // {controller} while Teach runs
  working: '',       // what is being done meanwhile (loading, keeping, forgetting a memory), in words
  files: [],         // the .txt files added: {name, text}
  onChange: () => {},
};

// ---- Words --------------------------------------------------------------------------------------

function megabytes(bytes) {
  const mb = bytes / 1e6;
  return `${mb < 10 ? mb.toFixed(2) : mb.toFixed(1)} MB`;
}

function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

/** What the memory holds, in words: "63 slots, 0.09 MB (from 140 bytes of your text)". */
function describeMemory(info) {
  return `${plural(info.slots, 'slot')}, ${megabytes(info.bytes)} (from ${plural(info.sourceBytes, 'byte')} of your text)`;
}

/** A failure as a sentence for the person; `what` says what was being done. */
export function explain(error, what) {
  const detail = String(error?.message ?? error).replace(/\.$/, '');
  switch (error?.code) {
    case 'EMPTY_TEXT':
      return 'Nothing to teach: paste a text (two words at least) or add a .txt file.';
    case 'BUSY':
      return 'It is still learning another text: wait for it to finish, or cancel it.';
    case 'BAD_MEMORY':
      return `${what}: this is not a memory of the bank in use (${detail}). The model goes on as before.`;
    case 'OUT_OF_MEMORY':
      return `${what}: too much to hold in this browser (${detail}). Try a shorter text.`;
    case 'NO_MEMORY':
      return 'There is no memory yet: teach it a text first.';
    default:
      return `${what}: ${detail}.`;
  }
}

/** Answers that only mean "this is no longer wanted" (the bank changed meanwhile). */
function isQuiet(error) {
  return ['TERMINATED', 'DISPOSED'].includes(error?.code);
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

// ---- What the panel shows -------------------------------------------------------------------------

function panelState() {
  if (!panel.machine) return 'no-bank';
  if (panel.teaching) return 'teaching';
  if (panel.working) return 'working';
  if (panel.machine.memory) return 'on';
  return panel.stored ? 'off' : 'none';
}

function statusText(state) {
  const kept = panel.storeProblem ? ` It could not be kept in this browser: ${panel.storeProblem}.` : ' Kept in this browser.';
  switch (state) {
    case 'no-bank': return 'The memory can be taught once a bank is loaded.';
    case 'teaching': return 'Teaching… (the model goes on reading meanwhile)';
    case 'working': return panel.working;
    case 'on': return `Memory on: ${describeMemory(panel.machine.memory)}.${kept}`;
    case 'off': return `Memory off: the bank alone. Its ${describeMemory(panel.stored.info)} stay kept: turn it on to use them again.`;
    default: return 'No memory: the model reads with the bank alone.';
  }
}

function render() {
  const state = panelState();
  const idle = state !== 'no-bank' && state !== 'teaching' && state !== 'working';
  ui.panel.dataset.state = state;
  ui.panel.dataset.slots = String(panel.machine?.memory?.slots ?? panel.stored?.info.slots ?? 0);
  ui.status.textContent = statusText(state);
  ui.teach.disabled = !idle;
  ui.cancel.disabled = state !== 'teaching';
  ui.on.disabled = !idle || state === 'none';
  // While working, the switch shows what the person asked for (the memory follows it).
  if (state !== 'working') ui.on.checked = !!panel.machine?.memory;
  ui.forget.disabled = !idle || state === 'none';
  ui.download.disabled = !idle || state !== 'on';
  ui.open.disabled = !idle;
  ui.progress.hidden = state !== 'teaching';
}

function memoryChanged() {
  render();
  panel.onChange();
}

/**
 * Runs `work` with the panel saying `message` and its buttons disabled, then shows the memory as
 * it is (unless the bank changed meanwhile: then the new bank's panel is not touched).
 */
async function whileWorking(message, machine, work) {
  panel.working = message;
  render();
  try {
    await work();
  } finally {
    if (panel.machine === machine) {
      panel.working = '';
      memoryChanged();
    }
  }
}

/** Shows a failure unless it only means the bank changed meanwhile. */
function fails(machine, what) {
  return (error) => {
    if (panel.machine === machine && !isQuiet(error)) showError(explain(error, what));
  };
}

// ---- Keeping the memory in the browser -------------------------------------------------------------

/** Keeps the machine's memory for this bank; a failure (quota, private window) is only said. */
async function keepMemory(machine, bank) {
  try {
    const bytes = await machine.exportMemory();
    await storeMemory(bank.key, bytes, machine.memory, true);
    if (panel.bank !== bank) return;
    panel.stored = { bytes, on: true, info: machine.memory };
    panel.storeProblem = '';
  } catch (error) {
    if (panel.bank === bank && !isQuiet(error)) panel.storeProblem = String(error?.message ?? error);
  }
}

// ---- Teach --------------------------------------------------------------------------------------

/** The texts to teach: the pasted text, then each added file; blank ones left out. */
function textsToTeach() {
  return [ui.text.value, ...panel.files.map((file) => file.text)].filter((text) => text.trim() !== '');
}

/**
 * Remembers each text in turn, the progress bar spanning them all. All the texts or none: if one
 * fails or is cancelled, the memory is put back as it was before the first.
 */
async function rememberAll(machine, texts, signal) {
  const before = machine.memory ? await machine.exportMemory({ signal }) : null;
  const total = texts.reduce((sum, text) => sum + text.length, 0);
  let done = 0;  // characters of the texts already remembered
  try {
    for (const text of texts) {
      await machine.remember(text, {
        signal,
        onProgress: (p) => { ui.progress.value = (done + text.length * (p.done / p.total)) / total; },
      });
      done += text.length;
    }
  } catch (error) {
    // (A cancelled remember leaves the memory as it was: only the texts before it need undoing.)
    if (done > 0 && before) await machine.loadMemory(before).catch(() => {});
    else if (done > 0) await machine.forget().catch(() => {});
    throw error;
  }
}

async function teach() {
  const { machine, bank } = panel;
  if (panelState() !== 'none' && panelState() !== 'on' && panelState() !== 'off') return;
  clearError();
  await filesRead;  // files still being read are taught too
  if (panel.machine !== machine) return;
  const texts = textsToTeach();
  if (texts.length === 0) {
    showError(explain({ code: 'EMPTY_TEXT' }));
    return;
  }
  if (!machine.memory && panel.stored) {
    await turnOn();  // what is taught adds to the memory kept
    if (panel.machine !== machine || !machine.memory) return;  // it could not be loaded: said
  }
  const controller = new AbortController();
  panel.teaching = { controller };
  ui.progress.value = 0;
  render();
  let failure = null;
  await rememberAll(machine, texts, controller.signal).catch((error) => { failure = error; });
  if (panel.machine !== machine) return;  // the bank changed meanwhile
  panel.teaching = null;
  await whileWorking('Keeping the memory in this browser…', machine, async () => {
    if (!failure) await keepMemory(machine, bank);
  });
  if (!failure) {
    // Taught: the box and the list empty, so that the next Teach does not teach them twice.
    ui.text.value = '';
    panel.files = [];
    showFiles();
  }
  if (failure?.name === 'AbortError') ui.status.textContent = `Cancelled: the memory is as it was. ${ui.status.textContent}`;
  else if (failure) fails(machine, 'Could not teach it')(failure);
}

function cancel() {
  panel.teaching?.controller.abort();
}

// ---- The memory's switch, Forget, Download, Open -------------------------------------------------------

function turnOn() {
  const { machine, bank, stored } = panel;
  clearError();
  return whileWorking('Loading the memory…', machine, async () => {
    try {
      await machine.loadMemory(stored.bytes);
      await setStoredMemoryOn(bank.key, true).catch(() => {});
      if (panel.bank === bank) panel.stored = { ...stored, on: true };
    } catch (error) {
      fails(machine, 'Could not turn the memory on')(error);
    }
  });
}

function turnOff() {
  const { machine, bank } = panel;
  clearError();
  return whileWorking('Turning the memory off…', machine, async () => {
    try {
      // Keep what the machine holds first, if keeping it failed before: off must not lose it.
      if (!panel.stored) await keepMemory(machine, bank);
      await machine.forget();
      await setStoredMemoryOn(bank.key, false).catch(() => {});
      if (panel.bank === bank && panel.stored) panel.stored = { ...panel.stored, on: false };
    } catch (error) {
      fails(machine, 'Could not turn the memory off')(error);
    }
  });
}

function forget() {
  const { machine, bank } = panel;
  clearError();
  return whileWorking('Forgetting…', machine, async () => {
    try {
      if (machine.memory) await machine.forget();
      await deleteStoredMemory(bank.key);
      if (panel.bank === bank) panel.stored = null;
    } catch (error) {
      fails(machine, 'Could not forget the memory')(error);
    }
  });
}

/** Saves the memory file: `<bank>.memory.safetensors`. */
async function download() {
  const { machine, bank } = panel;
  clearError();
  try {
    const bytes = await machine.exportMemory();
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    link.download = `${bank.name}.memory.safetensors`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);  // the download has its bytes by then
  } catch (error) {
    fails(machine, 'Could not download the memory')(error);
  }
}

/** Opens a memory file: it replaces the memory (and is kept), or the error is said and nothing changes. */
function openMemory(file) {
  const { machine, bank } = panel;
  if (!file || !['none', 'on', 'off'].includes(panelState())) return;
  clearError();
  return whileWorking(`Opening “${file.name}”…`, machine, async () => {
    try {
      await machine.loadMemory(new Uint8Array(await file.arrayBuffer()));
      await keepMemory(machine, bank);
    } catch (error) {
      fails(machine, `Could not open “${file.name}”`)(error);
    }
  });
}

// ---- The texts to teach: pasted, added or dropped files ------------------------------------------------

function showFiles() {
  const items = panel.files.map((file, i) => {
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'file-remove';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Remove ${file.name}`);
    remove.addEventListener('click', () => {
      panel.files.splice(i, 1);
      showFiles();
    });
    const li = document.createElement('li');
    li.dataset.name = file.name;
    li.append(`${file.name} (${plural(file.text.length, 'character')}) `, remove);
    return li;
  });
  ui.fileList.replaceChildren(...items);
  ui.fileList.hidden = items.length === 0;
}

const isMemoryFile = (file) => /\.safetensors$/i.test(file.name);
const isTextFile = (file) => /\.(txt|text|md)$/i.test(file.name) || file.type.startsWith('text/');

// Files are read one batch after another, so the list keeps the order they were given in even
// when a small file dropped now would be read before a large one added a moment ago.
let filesRead = Promise.resolve();

function addFiles(files) {
  filesRead = filesRead.then(() => readFiles(files));
  return filesRead;
}

async function readFiles(files) {
  clearError();
  const refused = files.filter((file) => !isTextFile(file)).map((file) => `“${file.name}”`);
  const texts = [];
  try {
    for (const file of files.filter(isTextFile)) texts.push({ name: file.name, text: await file.text() });
  } catch (error) {
    showError(`Could not read a file: ${error?.message ?? error}.`);
    return;
  }
  panel.files.push(...texts);
  showFiles();
  if (refused.length) showError(`Only text files (.txt) can be taught; left out: ${refused.join(', ')}.`);
}

/** True when a drag or drop is over the panel: its files are for the panel, not a bank to load. */
export function isOverPanel(event) {
  return !!event.target?.closest?.('#teach');
}

function dropped(event) {
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length === 0) return;
  event.preventDefault();
  const memory = files.find(isMemoryFile);
  if (memory) openMemory(memory);
  const texts = files.filter((file) => !isMemoryFile(file));
  if (texts.length) addFiles(texts);
}

// ---- The bank ----------------------------------------------------------------------------------

/**
 * A new bank is in use: forgets the old one's state and loads the memory kept for this bank, if
 * any and if on. Never throws: a kept memory that no longer fits the bank is said in the panel.
 * @param {import('../src/js/index.js').WorkerMachine} machine
 * @param {{key: string, name: string}} bank  its identity in the store and its file's name
 */
export async function bankLoaded(machine, bank) {
  panel.teaching?.controller.abort();
  Object.assign(panel, { machine, bank, stored: null, storeProblem: '', teaching: null });
  clearError();
  await whileWorking('Looking for a memory kept for this bank…', machine, async () => {
    let stored = null;
    try {
      stored = await loadStoredMemory(bank.key);
    } catch (error) {
      if (panel.machine === machine) panel.storeProblem = String(error?.message ?? error);
    }
    if (panel.machine !== machine) return;
    panel.stored = stored;
    if (!stored?.on) return;
    try {
      await machine.loadMemory(panel.stored.bytes);
    } catch (error) {
      fails(machine, 'The memory kept for this bank could not be loaded (Forget removes it)')(error);
    }
  });
}

/** Starts the panel; `onChange` is called whenever the machine's memory changed. */
export function startTeachPanel({ onChange }) {
  panel.onChange = onChange;
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    teach();
  });
  ui.cancel.addEventListener('click', cancel);
  ui.on.addEventListener('change', () => (ui.on.checked ? turnOn() : turnOff()));
  ui.forget.addEventListener('click', forget);
  ui.download.addEventListener('click', download);
  ui.files.addEventListener('change', () => {
    addFiles([...ui.files.files]);
    ui.files.value = '';  // the same file may be added again
  });
  ui.open.addEventListener('change', () => {
    openMemory(ui.open.files?.[0]);
    ui.open.value = '';
  });
  ui.panel.addEventListener('dragover', (event) => {
    if (!event.dataTransfer?.types.includes('Files')) return;
    event.preventDefault();
    ui.panel.classList.add('dragging');
  });
  ui.panel.addEventListener('dragleave', (event) => {
    if (!ui.panel.contains(event.relatedTarget)) ui.panel.classList.remove('dragging');
  });
  ui.panel.addEventListener('drop', (event) => {
    ui.panel.classList.remove('dragging');
    dropped(event);
  });
  showFiles();
  render();
}
