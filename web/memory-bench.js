// The memory benchmark page (bench/memory-chromium.js drives it through window.__memoryRun): the
// time to remember a text (main thread, as loadMachine gives it), and the median cost of a
// keystroke's predict and complete with each memory attached, typed one character at a time at
// the end of a text the machine has read.
import { loadMachine } from '/src/js/index.js';

const status = document.getElementById('status');
const say = (text) => {
  status.textContent = text;
  console.log(`[memory] ${text}`);
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Median ms of predict and of complete over `keystrokes` characters typed after `context`. */
function typingCost(machine, context, typed, keystrokes) {
  machine.predict(context);
  const predict = [], complete = [];
  let text = context;
  for (const char of typed.slice(0, keystrokes)) {
    text += char;
    let start = performance.now();
    machine.predict(text, { topK: 5 });
    predict.push(performance.now() - start);
    start = performance.now();
    machine.complete(text, { topK: 5 });
    complete.push(performance.now() - start);
  }
  return { predictMs: median(predict), completeMs: median(complete) };
}

window.__memoryRun = async ({ bank, rememberText, context, typed, keystrokes, memories }) => {
  const machine = await loadMachine(await fetchBytes(bank), { cache: false });
  const text = await (await fetch(rememberText)).text();
  say(`remembering ${text.length} characters`);
  let start = performance.now();
  let updates = 0;
  const written = await machine.remember(text, { onProgress: () => updates++ });
  const remember = { characters: text.length, bytes: new TextEncoder().encode(text).length, slots: written.slots,
    seconds: (performance.now() - start) / 1000, progressUpdates: updates };
  const cost = [];
  for (const { slots, url } of memories) {
    machine.forget();
    if (url) await machine.loadMemory(await fetchBytes(url));
    say(`typing with ${machine.memory?.slots ?? 0} slots`);
    cost.push({ slots: machine.memory?.slots ?? 0, expectedSlots: slots, ...typingCost(machine, context, typed, keystrokes) });
  }
  machine.dispose();
  say('done');
  return { remember, cost, userAgent: navigator.userAgent };
};
