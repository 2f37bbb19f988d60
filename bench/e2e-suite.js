// memread end-to-end benchmark — the isomorphic part (no Node imports; runs in Node and in a page).
//
// For the banks of both forms (DESIGN §7), in one environment, at contexts of n = 64, 256, 1,024,
// 4,096 and 16,384 tokens (whatever the bank's window T; a version-1 bank past its window is
// measured all the same, since that is what its user gets, and the row is marked):
//   keystroke   predict(text) when the machine already read the text minus its last token
//               (what a user typing sees: one more token)
//   reread      predict(text) of a text the machine does not hold: alternately two texts of n tokens
//               that differ in the first token the machine reads AND in the last (the machine keeps
//               the rows of a prefix or a suffix the texts share, so with only the first token
//               changed a rolling-window machine would keep every row the prediction needs once
//               n ≥ L·T; this way every needed row is computed again)
//   complete    complete(text + " mor", {topK: 3}) right after complete(text + " mo"): a keystroke
//               inside a word (the context is read, the search reads its branch rows)
//   edit        alternately predict(text) and predict(text with its token at n − 100 replaced): each
//               call recomputes the rows that depend on that token (100 per layer)
//   generate    greedy generate() of G tokens after a prompt of n − G tokens, tokens per second
//   onnx        the fair peer (bench/peers/gpt-onnx/peer.js): a GPT-style decoder of the same size in
//               onnxruntime-web (wasm, SIMD, 1 thread), one decode step with a key/value cache of n
//   tokenize    machine.tokenize(text) (part of every call above that reads a text; JSON only)
// in interleaved rounds (every round takes one sample of each, rotating which goes first), medians
// and quartiles; plus the first prediction after pasting 4,096 and 65,536 tokens (the machine holds
// a short text; predict(paste) of a text it never read, two pastes alternately) and the time to the
// first prediction after loadMachine(bytes). A cross-check compares every token's probability with
// the TF.js twin (bench/peers/tfjs-twin.js) on texts up to 1,024 + 77 tokens and fails the run when
// they differ by more than 1e-4; the twin is not timed.
import { mulberry32 } from './suite.js';

export const CONTEXTS = Object.freeze([64, 256, 1024, 4096, 16384]);
export const PASTES = Object.freeze([4096, 65536]);

/** The two forms, each measured on the shipped bank of that form (bench/e2e.js reads banks/FILE). */
export const FORMS = Object.freeze([
  { id: 'hidden-learned', bank: 'en-brown.safetensors', context: 'hidden', position: 'learned',
    label: 'en-brown: context hidden, position learned' },
  { id: 'input-none', bank: 'en-brown-seed.safetensors', context: 'input', position: 'none',
    label: 'en-brown-seed: context input, position none (the literal form)' },
]);

export const CROSS_CHECK_TOLERANCE = 1e-4;
/**
 * For an int8 bank, whose reads round to int8 and int16 what the twin reads in float32 (the query,
 * the weights, the context rows: docs/kernels.md, "Int8 reads"). en-brown as I8 differs by at most
 * 1.1e-3 (measured 2026-12-07, 8 texts up to 1,101 tokens).
 */
export const CROSS_CHECK_TOLERANCE_INT8 = 5e-3;
/** The twin checks texts up to this many tokens (its cost grows as n², and it is not timed). */
export const CROSS_CHECK_MAX_TOKENS = 1024 + 77;
/** The edit replaces the token this many tokens from the end (the first token of shorter texts). */
export const EDIT_BACK = 100;
/** What the machine holds before each paste (shares neither end with the pastes: checked). */
const SHORT_TEXTS = ['A short note.', 'Dear friend,', 'Notes for today:'];

export const DEFAULTS = Object.freeze({
  // minRounds below longFrom tokens, minRoundsLong from there (a re-read there lasts up to a second).
  full: { seconds: 1.5, minRounds: 7, minRoundsLong: 3, longFrom: 4096, maxRounds: 400, sampleMs: 3, genTokens: 32,
    loadReps: 5, pasteSeconds: 2, pasteMinRounds: 3, greedyCheckMax: 256 },
  quick: { seconds: 0.3, minRounds: 3, minRoundsLong: 3, longFrom: 4096, maxRounds: 100, sampleMs: 2, genTokens: 8,
    loadReps: 2, pasteSeconds: 0.3, pasteMinRounds: 3, greedyCheckMax: 256 },
});

export const TARGETS = Object.freeze([
  { id: 'keystroke-1ms', env: 'chromium', label: 'keystroke ≤ 1 ms at every context in Chromium' },
  { id: 'generate-1500', env: 'chromium', label: 'generation ≥ 1,500 tokens/s at every context in Chromium' },
  { id: 'keystroke-flat', env: 'chromium', n: 16384, base: 256, label: 'keystroke at 16,384 within 1.5× of keystroke at 256 in Chromium' },
  { id: 'vs-onnx-2x', env: 'chromium', label: 'keystroke ≥ 2× faster per token than the ONNX peer at every context in Chromium' },
  { id: 'complete-8ms', env: 'chromium', n: 256, label: 'complete (topK 3) per keystroke at context 256 in Chromium ≤ 8 ms' },
  { id: 'wasm-150k', label: 'dist/memread-core.wasm ≤ 150 KB gzip' },
]);

// ---------------------------------------------------------------------------------------------
// Text

const WORDS = ('the of and to a in that is was he for it with as his on be at by i had not are but from or have ' +
  'an they which one you were her all she there would their we him been has when who will more no if out so ' +
  'said what up its about into than them can only other new some could time these two may then do first any ' +
  'my now such like our over man me even most made after also did many before must through back years where ' +
  'much your way well down should because each just those people how too little state good very make world ' +
  'still own see men work long get here between both life being under never day same another know while last ' +
  'might us great old year off come since against go came right used take three jury county election city ' +
  'court report committee program house school water money public mayor judge church music family war letter ' +
  'children morning question evidence president members country president business national political').split(' ');

const TEXT_SEED = 20240611;

/** Deterministic English-like text (a word salad of common words in sentences) of ≥ minBytes. A
 * longer text of the same seed starts with the shorter one. */
export function makeText(seed, minBytes) {
  const rand = mulberry32(seed);
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)];
  const parts = [];
  let length = 0;
  while (length < minBytes) {
    const len = 5 + Math.floor(rand() * 14);
    const words = [];
    for (let i = 0; i < len; i++) words.push(pick());
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    if (len > 8 && rand() < 0.5) words[Math.floor(len / 2)] += ',';
    const sentence = words.join(' ') + (rand() < 0.15 ? '.\n' : '. ');
    parts.push(sentence);
    length += sentence.length;
  }
  return parts.join('');
}

/** The token ids of a generated text of at least minTokens tokens (in this bank's tokenizer). */
export function makeSourceTokens(machine, minTokens) {
  let bytes = 4 * minTokens + 4096;
  for (let tries = 0; tries < 20; tries++) {
    const ids = Int32Array.from(machine.tokenize(makeText(TEXT_SEED, bytes)));
    if (ids.length >= minTokens) return ids;
    bytes = Math.ceil((bytes * 1.1 * minTokens) / Math.max(1, ids.length)) + 4096;
  }
  throw new Error(`could not make a text of ${minTokens} tokens`);
}

const sameIds = (a, b) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

// A cut's ends are checked alone first (a cheap filter for long texts: tokenizing 230 KB takes
// tens of ms), then the whole text once.
const END_CHECK = 96;

/** The text whose tokenization gives back exactly `ids`, or null (BPE is not always stable at a cut). */
function roundTrip(machine, ids) {
  if (ids.length > 4 * END_CHECK) {
    const head = ids.subarray(0, 2 * END_CHECK);
    const headBack = machine.tokenize(machine.detokenize(head));
    if (!sameIds(headBack.subarray(0, END_CHECK), head.subarray(0, END_CHECK))) return null;
    const tail = ids.subarray(ids.length - 2 * END_CHECK);
    const tailBack = machine.tokenize(machine.detokenize(tail));
    if (tailBack.length < END_CHECK || !sameIds(tailBack.subarray(tailBack.length - END_CHECK), tail.subarray(END_CHECK))) return null;
  }
  const text = machine.detokenize(ids);
  return sameIds(machine.tokenize(text), ids) ? text : null;
}

const LEADS = ['#', '@', 'Q', 'Z', '~', '%', '^', 'X', '7', '$'];

/**
 * `ids` as a text with the tokens at `positions` (ascending, distinct) replaced by other ones (a
 * character each), all other tokens the same and as many: or null.
 */
function replaceTokens(machine, ids, positions) {
  const n = ids.length;
  for (let k = 0; k < LEADS.length; k++) {
    let text = '';
    let from = 0;
    positions.forEach((p, i) => {
      text += machine.detokenize(ids.subarray(from, p)) + LEADS[(k + 3 * i) % LEADS.length];
      from = p + 1;
    });
    text += machine.detokenize(ids.subarray(from));
    const back = machine.tokenize(text);
    if (back.length !== n) continue;
    let ok = true;
    let next = 0;
    for (let i = 0; i < n && ok; i++) {
      if (next < positions.length && i === positions[next]) { ok = back[i] !== ids[i]; next++; } else ok = back[i] === ids[i];
    }
    if (ok) return text;
  }
  return null;
}

/**
 * Texts of exactly n tokens for one context, checked by re-tokenising:
 *   text (n tokens); prefix (its first n − 1); prompt (its first n − G, for generate); alt (the
 *   re-read's other text: the first token the machine reads — 0, or n − T for a version-1 bank
 *   past its window — and the last token replaced); edited (the token at n − 100 replaced, or the
 *   first when n ≤ 100); typing (text + " mor": a word being typed).
 */
export function prepareTexts(machine, all, n, { genTokens, rolling }) {
  if (all.length < n + 64) throw new Error(`source text has ${all.length} tokens; need more than ${n + 64}`);
  const T = machine.info.config.maxContext;
  const first = rolling || n <= T ? 0 : n - T;
  const altAt = n > 1 && first !== n - 1 ? [first, n - 1] : [first];
  const editAt = Math.max(0, n - EDIT_BACK);
  const promptTokens = Math.max(1, n - genTokens);
  for (let s = 0; s < 64; s++) {
    const ids = all.subarray(s, s + n);
    const text = roundTrip(machine, ids);
    const prefix = text && (n === 1 ? text : roundTrip(machine, ids.subarray(0, n - 1)));
    const prompt = prefix && roundTrip(machine, ids.subarray(0, promptTokens));
    const alt = prompt && replaceTokens(machine, ids, altAt);
    const edited = alt && replaceTokens(machine, ids, [editAt]);
    if (!edited) continue;
    // The text and the first letters of a word: what a person has typed mid-word.
    const typing = text + (/\s$/.test(text) ? '' : ' ') + 'mor';
    return { n, start: s, text, prefix, prompt, alt, edited, typing, promptTokens, altAt, editAt };
  }
  throw new Error(`could not cut a text of exactly ${n} tokens that re-tokenises to itself`);
}

/** Two pastes of exactly n tokens whose first token differs, and the short text held before each. */
export function preparePaste(machine, all, n) {
  if (all.length < n + 64) throw new Error(`source text has ${all.length} tokens; need more than ${n + 64}`);
  for (let s = 0; s < 64; s++) {
    const ids = all.subarray(s, s + n);
    const text = roundTrip(machine, ids);
    const alt = text && replaceTokens(machine, ids, [0]);
    if (!alt) continue;
    const altIds = machine.tokenize(alt);
    const short = SHORT_TEXTS.find((t) => {
      const x = machine.tokenize(t);
      return [ids, altIds].every((p) => x[0] !== p[0] && x[x.length - 1] !== p[n - 1]);
    });
    if (!short) continue;
    return { n, start: s, text, alt, short };
  }
  throw new Error(`could not cut a paste of exactly ${n} tokens that re-tokenises to itself`);
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function quantile(sorted, p) {
  if (!sorted.length) return NaN;
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x);
  const hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p25: quantile(s, 0.25), p75: quantile(s, 0.75), min: s[0], samples: s.length };
}

// ---------------------------------------------------------------------------------------------
// Cross-check: every token's probability, memread vs the twin

/**
 * @returns {{maxAbsDiff: number, maxLogDiff: number, checks: object[]}}  throws when a check fails
 */
export function crossCheck(machine, twin, texts, label) {
  const vocab = machine.info.config.vocabSize;
  const tolerance = twin.int8 ? CROSS_CHECK_TOLERANCE_INT8 : CROSS_CHECK_TOLERANCE;
  const checks = [];
  let maxAbsDiff = 0;
  let maxLogDiff = 0;
  for (const text of texts) {
    const ours = new Float64Array(vocab).fill(NaN);
    const preds = machine.predict(text, { topK: vocab });
    if (preds.length !== vocab) throw new Error(`CROSS-CHECK FAILED (${label}): predict with topK = vocab gave ${preds.length} of ${vocab} tokens`);
    for (const p of preds) ours[p.id] = p.prob;
    const ids = machine.tokenize(text);
    const theirs = twin.probs(ids);
    let absDiff = 0;
    let logDiff = 0;
    let where = -1;
    for (let id = 0; id < vocab; id++) {
      const diff = Math.abs(ours[id] - theirs[id]);
      if (!(diff <= absDiff)) { absDiff = Number.isNaN(diff) ? Infinity : diff; where = id; }
      // Relative agreement where both see a probability that a float32 softmax resolves well.
      if (ours[id] > 1e-6 && theirs[id] > 1e-6) logDiff = Math.max(logDiff, Math.abs(Math.log(ours[id]) - Math.log(theirs[id])));
    }
    const top = preds[0];
    checks.push({ tokens: ids.length, absDiff, logDiff, top: top.id, topProb: top.prob });
    maxAbsDiff = Math.max(maxAbsDiff, absDiff);
    maxLogDiff = Math.max(maxLogDiff, logDiff);
    if (!(absDiff <= tolerance)) {
      throw new Error(
        `CROSS-CHECK FAILED (${label}, ${ids.length} tokens): memread and the TF.js twin disagree: ` +
          `|p_memread − p_twin| = ${absDiff} for token ${where} (memread ${ours[where]}, twin ${theirs[where]}), ` +
          `tolerance ${tolerance}`,
      );
    }
  }
  return { maxAbsDiff, maxLogDiff, tolerance, checks };
}

/** Greedy continuation by the twin: G full reads + argmax (untimed; the check of generate). */
function twinGreedy(machine, twin, prompt, G) {
  const ids = Array.from(machine.tokenize(prompt));
  for (let i = 0; i < G; i++) {
    const p = twin.probs(ids);
    let best = 0;
    for (let id = 1; id < p.length; id++) if (p[id] > p[best]) best = id;
    ids.push(best);
  }
  return ids.slice(ids.length - G);
}

// ---------------------------------------------------------------------------------------------
// Measurement

/**
 * Interleaved rounds: every round takes one sample of each impl (rotating which goes first); a
 * sample is enough calls to last ≥ sampleMs (each call times itself, its set-up untimed). impl.call
 * returns the ms of its timed part (or a promise of it); impl.value(ms per call) gives the figure
 * sampled (default µs per call).
 */
async function interleave(impls, { now, yieldFn, sampleMs, minRounds, maxRounds, seconds }) {
  for (const impl of impls) {
    const a = now();
    let calls = 0;
    let timed = 0;
    // Warm up and calibrate: one call at least, more for 50 ms (200 at most).
    while (calls < 1 || (now() - a < 50 && calls < 200)) { timed += await impl.call(); calls++; }
    const per = timed / calls;
    impl.reps = impl.single ? 1 : Math.max(1, Math.ceil(sampleMs / Math.max(per, 1e-3)));
    impl.samples = [];
  }
  const start = now();
  let rounds = 0;
  while (rounds < maxRounds && (rounds < minRounds || now() - start < seconds * 1000)) {
    for (let k = 0; k < impls.length; k++) {
      const impl = impls[(k + rounds) % impls.length];
      let acc = 0;
      for (let r = 0; r < impl.reps; r++) acc += await impl.call();
      const ms = acc / impl.reps;
      impl.samples.push(impl.value ? impl.value(ms) : ms * 1000);
    }
    rounds++;
    await yieldFn();
  }
  return rounds;
}

/**
 * Run the end-to-end benchmark in this environment.
 * @param ctx.loadMachine  memread's loadMachine (its init() not yet called: the first load is cold)
 * @param ctx.backendInfo  memread's backendInfo, or undefined: the wasm memory each loaded bank holds
 * @param ctx.banks        [{form, bytes: Uint8Array}] one per form
 * @param ctx.tf           tfjs-core with the wasm backend ready, or null to skip the cross-check
 * @param ctx.createTwin   bench/peers/tfjs-twin.js createTfjsTwin
 * @param ctx.peer         bench/peers/gpt-onnx/peer.js createGptOnnxPeer(...), or null to skip it
 * @param ctx.now          () => ms
 * @param ctx.yieldFn      () => Promise, lets the event loop run between rounds
 * @param opts             { quick, seconds, contexts, pastes, onLog }
 */
export async function runE2E(ctx, opts = {}) {
  const settings = { ...(opts.quick ? DEFAULTS.quick : DEFAULTS.full), quick: !!opts.quick };
  if (opts.seconds != null) settings.seconds = settings.pasteSeconds = Number(opts.seconds);
  const contexts = opts.contexts ?? CONTEXTS;
  const pastes = opts.pastes ?? PASTES;
  const log = opts.onLog ?? (() => {});
  const { now, tf, peer } = ctx;
  const yieldFn = ctx.yieldFn ?? (() => Promise.resolve());
  const G = settings.genTokens;
  const results = { settings, contexts, pastes, forms: [] };
  const forms = [];

  // --- 1. per bank: load, time to first prediction, texts, cross-check (nothing else is timed)
  let cold = true;
  for (const { form, bytes } of ctx.banks) {
    log(`${form.id}: loading (${bytes.length} bytes)`);
    const rec = { form: form.id, label: form.label, bank_bytes: bytes.length, contexts: [], pastes: [] };

    // Time to first prediction: loadMachine(bytes) → first predict of a 64-token text. The very
    // first load in the environment includes init() (compiling the wasm module).
    let machine = null;
    let firstText = null;
    const loadSamples = [];
    for (let r = 0; r < settings.loadReps + 1; r++) {
      // What the bank holds in wasm memory once loaded: malloc's bytes in use, before and after
      // (from the second load on: before the first, the module is not initialised).
      const heapBefore = r > 0 ? ctx.backendInfo?.().heapBytesInUse : undefined;
      const a = now();
      const m = await ctx.loadMachine(bytes);
      const b = now();
      if (heapBefore !== undefined) {
        const heapBytes = ctx.backendInfo().heapBytesInUse - heapBefore;
        rec.wasm_memory = { heap_bytes: heapBytes, file_ratio: heapBytes / bytes.length };
      }
      if (!firstText) firstText = m.detokenize(m.tokenize(makeText(TEXT_SEED, 1024)).subarray(0, 64)); // (not timed)
      const b2 = now();
      m.predict(firstText);
      const c = now();
      const ms = (b - a) + (c - b2);
      if (r === 0) {
        rec.first_prediction = { ms, load_ms: b - a, predict_ms: c - b2, includes_init: cold };
        cold = false;
      } else {
        loadSamples.push(ms);
      }
      if (r < settings.loadReps) m.dispose();
      else machine = m;
    }
    rec.first_prediction.warm_ms = summary(loadSamples);
    rec.info = machine.info;
    const T = machine.info.config.maxContext;
    const rolling = machine.info.config.window === 'rolling';
    rec.window = rolling ? 'rolling' : 'version1';

    const a = now();
    const all = makeSourceTokens(machine, Math.max(...contexts, ...pastes, CROSS_CHECK_MAX_TOKENS) + 128);
    const texts = contexts.map((n) => prepareTexts(machine, all, n, { genTokens: G, rolling }));
    const pasteTexts = pastes.map((n) => preparePaste(machine, all, n));
    rec.text_preparation_ms = now() - a;
    log(`${form.id}: window ${rec.window}, T = ${T}; texts cut (${all.length} tokens of source, ${fmt(rec.text_preparation_ms)} ms)`);

    if (tf) {
      const twin = ctx.createTwin(tf, bytes);
      try {
        const long = machine.detokenize(all.subarray(0, CROSS_CHECK_MAX_TOKENS));
        const small = texts.filter((t) => t.n <= CROSS_CHECK_MAX_TOKENS);
        const cc = crossCheck(machine, twin, ['T', ...small.map((t) => t.text), ...small.map((t) => t.alt), long], form.id);
        // Greedy generations, memread's generate vs the twin's argmax loop (small contexts: the twin
        // reads the whole text for every token). The prompt ends after a space: generate() heals a
        // prompt that ends mid-word (it continues the word as typed, DESIGN §9), the twin does not.
        cc.greedy = [];
        for (const t of texts.filter((x) => x.n <= settings.greedyCheckMax)) {
          const ids = all.subarray(t.start, t.start + t.n);
          let k = t.promptTokens;
          let prompt = machine.detokenize(ids.subarray(0, k));
          while (k > 1 && !/\s$/.test(prompt)) prompt = machine.detokenize(ids.subarray(0, --k));
          let out = '';
          for await (const piece of machine.generate(prompt, { maxTokens: G, temperature: 0 })) out += piece;
          const theirs = machine.detokenize(twinGreedy(machine, twin, prompt, G));
          cc.greedy.push({ n: t.n, prompt_tokens: machine.tokenize(prompt).length, tokens: G, identical: out === theirs });
        }
        rec.cross_check = cc;
        log(`${form.id}: cross-check vs the TF.js twin: max |Δp| = ${cc.maxAbsDiff.toExponential(2)} over ${cc.checks.length} texts ` +
          `(up to ${CROSS_CHECK_MAX_TOKENS} tokens; tolerance ${cc.tolerance}); greedy generations identical: ` +
          `${cc.greedy.length ? (cc.greedy.every((g) => g.identical) ? 'yes' : 'no') : 'not checked'}`);
      } finally {
        twin.dispose();
      }
    }
    forms.push({ form, machine, rec, texts, pasteTexts, T, rolling });
    results.forms.push(rec);
  }

  // --- 2. per context: the peer's inputs once, then each bank's interleaved rounds
  for (let c = 0; c < contexts.length; c++) {
    const n = contexts[c];
    let feeds = null;
    if (peer) {
      const a = now();
      feeds = peer.feeds(n);
      await peer.check(feeds, n);
      log(`onnx n=${n}: past built and checked (${fmt(now() - a)} ms, not timed)`);
    }
    for (const { form, machine, rec, texts, T, rolling } of forms) {
      const t = texts[c];
      const row = { n, past_window: !rolling && n > T, prompt_tokens: t.promptTokens, reread_changes: t.altAt, edit_at: t.editAt };
      // What the machine holds (null: something else): the re-read and the edit take the text
      // the machine does not hold, after an untimed read of `text` when it holds neither.
      let held = null;
      const timed = (text) => {
        const a = now();
        machine.predict(text);
        const ms = now() - a;
        held = text;
        return ms;
      };
      const alternate = (other) => () => {
        if (held !== t.text && held !== other) { machine.predict(t.text); held = t.text; }
        return timed(held === other ? t.text : other);
      };
      const impls = [
        { id: 'keystroke', call: () => { machine.predict(t.prefix); return timed(t.text); } },
        { id: 'reread', call: alternate(t.alt) },
        {
          id: 'complete',
          call: () => {
            machine.complete(t.typing.slice(0, -1), { topK: 3 });
            const a = now();
            machine.complete(t.typing, { topK: 3 });
            const ms = now() - a;
            held = null;
            return ms;
          },
        },
        { id: 'edit', call: alternate(t.edited) },
        {
          id: 'generate',
          single: true,
          value: (ms) => (G * 1000) / ms, // tokens per second
          call: async () => {
            machine.predict(t.prompt);
            const a = now();
            for await (const piece of machine.generate(t.prompt, { maxTokens: G, temperature: 0 })) void piece;
            const ms = now() - a;
            held = null;
            return ms;
          },
        },
        {
          id: 'tokenize',
          call: () => {
            const a = now();
            machine.tokenize(t.text);
            return now() - a;
          },
        },
      ];
      if (peer) {
        impls.push({
          id: 'onnx',
          call: async () => {
            const a = now();
            await peer.step(feeds);
            return now() - a;
          },
        });
      }
      const rounds = await interleave(impls, {
        now, yieldFn, sampleMs: settings.sampleMs, maxRounds: settings.maxRounds, seconds: settings.seconds,
        minRounds: n >= settings.longFrom ? settings.minRoundsLong : settings.minRounds,
      });
      row.rounds = rounds;
      for (const impl of impls) {
        if (impl.id === 'generate') row.generate = { tokens: G, ours_tokens_per_s: summary(impl.samples) };
        else row[impl.id] = { ...summary(impl.samples), unit: 'µs', reps: impl.reps };
      }
      if (row.onnx) row.onnx_over_keystroke = row.onnx.median / row.keystroke.median;
      rec.contexts.push(row);
      log(`${form.id} n=${n}${row.past_window ? '*' : ''}: keystroke ${fmt(row.keystroke.median)} µs, re-read ${fmt(row.reread.median)} µs, ` +
        `complete ${fmt(row.complete.median)} µs, edit ${fmt(row.edit.median)} µs, generate ${fmt(row.generate.ours_tokens_per_s.median)} tok/s` +
        (row.onnx ? `; ONNX ${fmt(row.onnx.median)} µs/token (${fmt(row.onnx_over_keystroke)}×)` : '') + `  [${rounds} rounds]`);
    }
    feeds = null;
  }

  // --- 3. per bank: the first prediction after a paste
  for (const { form, machine, rec, pasteTexts } of forms) {
    if (!pasteTexts.length) continue;
    const impls = pasteTexts.map((p) => {
      let flip = false;
      return {
        id: `paste_${p.n}`,
        paste: p,
        call: () => {
          machine.predict(p.short);
          const text = flip ? p.alt : p.text;
          flip = !flip;
          const a = now();
          machine.predict(text);
          return now() - a;
        },
      };
    });
    const rounds = await interleave(impls, {
      now, yieldFn, sampleMs: settings.sampleMs, maxRounds: settings.maxRounds, seconds: settings.pasteSeconds,
      minRounds: settings.pasteMinRounds,
    });
    for (const impl of impls) {
      rec.pastes.push({ n: impl.paste.n, rounds, first_prediction: { ...summary(impl.samples), unit: 'µs', reps: impl.reps } });
    }
    log(`${form.id}: first prediction after a paste: ` +
      rec.pastes.map((p) => `${p.n} tokens ${fmt(p.first_prediction.median / 1000)} ms`).join(', ') + `  [${rounds} rounds]`);
  }

  for (const { machine } of forms) machine.dispose();
  return results;
}

export function fmt(x) {
  if (x == null || !Number.isFinite(x)) return '—';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** The table of one environment, as text lines (Node prints it; the page shows it). */
export function formatTable(title, env) {
  const lines = [title];
  const pad = (s, w) => String(s).padStart(w);
  lines.push('µs per call (median): predict after one more token (keystroke), of a text not held (re-read), complete (topK 3)');
  lines.push('of a keystroke mid-word, predict after an edit 100 tokens back; greedy generate in tokens/s; the ONNX peer\'s decode step');
  const cols = [['keystroke µs', 13], ['re-read µs', 12], ['complete µs', 12], ['edit µs', 10], ['gen tok/s', 10], ['ONNX µs/token', 14], ['ONNX/keys', 10]];
  const head = `${'form'.padEnd(15)}${pad('context', 8)} |${cols.map(([h, w]) => pad(h, w)).join('')}`;
  lines.push(head);
  lines.push('-'.repeat(head.length));
  for (const f of env.forms) {
    for (const r of f.contexts) {
      const cells = [fmt(r.keystroke.median), fmt(r.reread.median), fmt(r.complete?.median), fmt(r.edit?.median),
        fmt(r.generate.ours_tokens_per_s.median), fmt(r.onnx?.median), r.onnx_over_keystroke ? fmt(r.onnx_over_keystroke) + '×' : '—'];
      lines.push(`${f.form.padEnd(15)}${pad(r.past_window ? r.n + '*' : r.n, 8)} |${cells.map((c, i) => pad(c, cols[i][1])).join('')}`);
    }
  }
  const v1 = env.forms.filter((f) => f.contexts.some((r) => r.past_window));
  if (v1.length) {
    lines.push(`* past the window of a version-1 bank (${v1.map((f) => `${f.form}: T = ${f.info.config.maxContext}`).join(', ')}): it reads the last T`);
    lines.push('  tokens as a text of their own, so every new token recomputes T rows per layer (docs/model.md)');
  }
  if (env.forms.some((f) => f.contexts.some((r) => r.edit_at === 0))) {
    lines.push('  (at contexts of 100 tokens or fewer the edit replaces the first token)');
  }
  const tok = env.forms.filter((f) => f.contexts.length && f.contexts[0].tokenize);
  if (tok.length) {
    lines.push('tokenize µs (machine.tokenize(text), part of every call that reads a text): ' +
      tok.map((f) => `${f.form} ${f.contexts.map((r) => `${r.n}: ${fmt(r.tokenize.median)}`).join(', ')}`).join('; '));
  }
  if (env.forms.some((f) => f.pastes?.length)) {
    lines.push('');
    lines.push('first prediction after a paste (the machine held a short text; predict(paste) of a text it never read), ms:');
    for (const f of env.forms) {
      if (!f.pastes?.length) continue;
      lines.push(`  ${f.form.padEnd(15)} ` + f.pastes.map((p) =>
        `${p.n.toLocaleString('en-US')} tokens ${fmt(p.first_prediction.median / 1000)} (p25 ${fmt(p.first_prediction.p25 / 1000)}, p75 ${fmt(p.first_prediction.p75 / 1000)})`).join('   '));
    }
  }
  if (env.forms.some((f) => f.wasm_memory)) {
    lines.push('');
    lines.push('wasm memory a loaded bank holds (malloc bytes in use after loadMachine, less before):');
    for (const f of env.forms) {
      if (!f.wasm_memory) continue;
      lines.push(`  ${f.form.padEnd(15)} ${f.wasm_memory.heap_bytes.toLocaleString('en-US')} bytes, ` +
        `${f.wasm_memory.file_ratio.toFixed(2)}× its file of ${f.bank_bytes.toLocaleString('en-US')} bytes`);
    }
  }
  lines.push('');
  lines.push('time to first prediction (loadMachine(bytes) → first predict of 64 tokens), ms:');
  for (const f of env.forms) {
    const fp = f.first_prediction;
    lines.push(`  ${f.form.padEnd(15)} first ${fmt(fp.ms)}${fp.includes_init ? ' (includes wasm init)' : ''}` +
      `, warm median ${fmt(fp.warm_ms.median)}`);
  }
  if (env.forms.some((f) => f.cross_check)) {
    lines.push('');
    lines.push(`cross-check, every token's probability, memread vs the TF.js twin (texts up to ${CROSS_CHECK_MAX_TOKENS} tokens):`);
    for (const f of env.forms) {
      if (!f.cross_check) continue;
      const g = f.cross_check.greedy ?? [];
      lines.push(`  ${f.form.padEnd(15)} max |Δp| ${f.cross_check.maxAbsDiff.toExponential(2)}, max |Δ log p| (p > 1e-6) ` +
        `${f.cross_check.maxLogDiff.toExponential(2)}, ${f.cross_check.checks.length} texts` +
        `; greedy generations identical: ${g.length ? (g.every((x) => x.identical) ? 'yes' : 'no') + ` (contexts ${g.map((x) => x.n).join(', ')})` : 'not checked'}`);
    }
  }
  return lines;
}
