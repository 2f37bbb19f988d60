// memread end-to-end benchmark — the isomorphic part (no Node imports; runs in Node and in a page).
//
// For the shipped banks (DESIGN §7), in one environment:
//   keystroke   predict(text) when the machine already read the text minus its last token
//               (what a user typing sees: one more token, one row per layer)
//   reread      predict(text) of a text the machine has not read: alternately two texts of n tokens
//               whose first token differs, so every row is computed again
//   complete    complete(text, {topK: 3}) of the text followed by a half-typed word, when the machine
//               has just completed it one letter shorter (a keystroke inside a word: the context is
//               read, the search reads its branch rows)
//   twin        the same model written with TF.js ops (bench/peers/tfjs-twin.js) on the same token
//               ids: the whole window on every call (TF.js has no incremental cache)
// at contexts of n = 64, 256 and 1024 tokens (those that fit the bank's window, plus one token past
// it when the contexts reach it); tokens per second of generate (greedy), memread vs
// the twin; time to first prediction (loadMachine(bytes) → first predict). Samples are interleaved
// (every round times each of the three once, rotating which goes first) and reported as medians.
// A cross-check compares every token's probability, memread vs the twin, and fails the run when
// they differ by more than 1e-4.
import { mulberry32 } from './suite.js';

export const CONTEXTS = Object.freeze([64, 256, 1024]);

/** The two forms, each measured on the shipped bank of that form (bench/e2e.js reads banks/FILE). */
export const FORMS = Object.freeze([
  { id: 'hidden-learned', bank: 'en-brown.safetensors', context: 'hidden', position: 'learned',
    label: 'en-brown: context hidden, position learned' },
  { id: 'input-none', bank: 'en-brown-seed.safetensors', context: 'input', position: 'none',
    label: 'en-brown-seed: context input, position none (the literal form)' },
]);

export const CROSS_CHECK_TOLERANCE = 1e-4;

export const DEFAULTS = Object.freeze({
  full: { seconds: 1.5, minRounds: 7, maxRounds: 400, sampleMs: 3, genTokens: 32, genSeconds: 1.5, genMinSamples: 2, loadReps: 5 },
  quick: { seconds: 0.3, minRounds: 3, maxRounds: 100, sampleMs: 2, genTokens: 8, genSeconds: 0.3, genMinSamples: 1, loadReps: 2 },
});

export const TARGETS = Object.freeze([
  { id: 'keystroke-1ms', env: 'chromium', n: 256, label: 'keystroke at context 256 in Chromium ≤ 1 ms' },
  { id: 'complete-8ms', env: 'chromium', n: 256, label: 'complete (topK 3) per keystroke at context 256 in Chromium ≤ 8 ms' },
  { id: 'vs-twin-10x', env: 'chromium', n: 256, label: 'keystroke at context 256 in Chromium ≥ 10× faster than the TF.js twin' },
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

/** Deterministic English-like text (a word salad of common words in sentences) of ≥ minBytes. */
export function makeText(seed, minBytes) {
  const rand = mulberry32(seed);
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)];
  let out = '';
  while (out.length < minBytes) {
    const len = 5 + Math.floor(rand() * 14);
    const words = [];
    for (let i = 0; i < len; i++) words.push(pick());
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    if (len > 8 && rand() < 0.5) words[Math.floor(len / 2)] += ',';
    out += words.join(' ') + (rand() < 0.15 ? '.\n' : '. ');
  }
  return out;
}

const sameIds = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Texts of exactly n tokens for the benchmark, checked by re-tokenising (BPE is not always stable
 * at a cut): `text` (n tokens), `prefix` (its first n−1 tokens), `alt` (n tokens, token `changeAt`
 * different, the others the same: give the first token of the window), `prompt` (n − genTokens
 * tokens, for generate).
 */
export function prepareTexts(machine, source, n, genTokens, changeAt = 0) {
  const all = Array.from(machine.tokenize(source));
  if (all.length < n + 64) throw new Error(`source text has ${all.length} tokens; need more than ${n + 64}`);
  const roundTrip = (ids) => {
    const t = machine.detokenize(ids);
    return sameIds(Array.from(machine.tokenize(t)), ids) ? t : null;
  };
  for (let s = 0; s < 64; s++) {
    const ids = all.slice(s, s + n);
    const text = roundTrip(ids);
    const prefix = text && roundTrip(ids.slice(0, n - 1));
    const prompt = prefix && roundTrip(ids.slice(0, Math.max(1, n - genTokens)));
    if (!prompt) continue;
    const head = machine.detokenize(ids.slice(0, changeAt));
    const rest = machine.detokenize(ids.slice(changeAt + 1));
    for (const lead of ['#', '@', 'Q', 'Z', '~', '%', '^', 'X', '7', '$']) {
      const alt = head + lead + rest;
      const altIds = Array.from(machine.tokenize(alt));
      const others = (xs) => [...xs.slice(0, changeAt), ...xs.slice(changeAt + 1)];
      if (altIds.length === n && altIds[changeAt] !== ids[changeAt] && sameIds(others(altIds), others(ids))) {
        // The text and the first letters of a word: what a person has typed mid-word.
        const typing = text + (/\s$/.test(text) ? '' : ' ') + 'mor';
        return { n, ids, text, prefix, alt, prompt, typing, promptTokens: Math.max(1, n - genTokens) };
      }
    }
  }
  throw new Error(`could not cut a text of exactly ${n} tokens that re-tokenises to itself`);
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
    if (!(absDiff <= CROSS_CHECK_TOLERANCE)) {
      throw new Error(
        `CROSS-CHECK FAILED (${label}, ${ids.length} tokens): memread and the TF.js twin disagree: ` +
          `|p_memread − p_twin| = ${absDiff} for token ${where} (memread ${ours[where]}, twin ${theirs[where]}), ` +
          `tolerance ${CROSS_CHECK_TOLERANCE}`,
      );
    }
  }
  return { maxAbsDiff, maxLogDiff, checks };
}

// ---------------------------------------------------------------------------------------------
// Measurement

/**
 * Run the end-to-end benchmark in this environment.
 * @param ctx.loadMachine  memread's loadMachine (its init() not yet called: the first load is cold)
 * @param ctx.tf           tfjs-core with the wasm backend ready, or null to skip the twin
 * @param ctx.createTwin   bench/peers/tfjs-twin.js createTfjsTwin
 * @param ctx.banks        [{form, bytes: Uint8Array}] one per form
 * @param ctx.now          () => ms
 * @param ctx.yieldFn      () => Promise, lets the event loop run between rounds
 * @param opts             { quick, seconds, contexts, onLog }
 */
export async function runE2E(ctx, opts = {}) {
  const settings = { ...(opts.quick ? DEFAULTS.quick : DEFAULTS.full), quick: !!opts.quick };
  if (opts.seconds != null) settings.seconds = settings.genSeconds = Number(opts.seconds);
  const contexts = opts.contexts ?? CONTEXTS;
  const log = opts.onLog ?? (() => {});
  const { now, tf } = ctx;
  const yieldFn = ctx.yieldFn ?? (() => Promise.resolve());
  const source = makeText(20240611, 6 * Math.max(...contexts) + 2048);
  const results = { settings, contexts, forms: [] };

  let cold = true;
  for (const { form, bytes } of ctx.banks) {
    log(`${form.id}: loading (${bytes.length} bytes)`);
    const rec = { form: form.id, label: form.label, bank_bytes: bytes.length, contexts: [] };

    // Time to first prediction: loadMachine(bytes) → first predict of a 64-token text. The very
    // first load in the environment includes init() (compiling the wasm module).
    let machine = null;
    let firstText = null;
    const loadSamples = [];
    for (let r = 0; r < settings.loadReps + 1; r++) {
      const a = now();
      const m = await ctx.loadMachine(bytes);
      const b = now();
      if (!firstText) firstText = prepareTexts(m, source, 64, 8).text; // (not timed)
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

    let twin = null;
    if (tf) {
      const twinLoad = [];
      for (let r = 0; r < Math.max(1, settings.loadReps - 2); r++) {
        const a = now();
        const t = ctx.createTwin(tf, bytes);
        t.predict(machine.tokenize(firstText));
        twinLoad.push(now() - a);
        if (twin) twin.dispose();
        twin = t;
      }
      rec.twin_first_prediction_ms = summary(twinLoad);
    }

    // Texts, and the cross-check (all contexts, a 1-token text, and one past the window).
    // Contexts beyond the bank's window would slide it (a bank a person picks on the page may be small).
    const T = machine.info.config.maxContext;
    const fits = contexts.filter((n) => n <= T);
    // One more token than the window holds: every keystroke slides the window (docs/model.md), so
    // the hidden form recomputes all T rows. Measured when the contexts reach T.
    if (opts.pastWindow !== false && fits.includes(T)) fits.push(T + 1);
    const texts = fits.map((n) => prepareTexts(machine, source, n, n > T ? 1 : settings.genTokens, Math.max(0, n - T)));
    if (twin) {
      const long = machine.detokenize(Array.from(machine.tokenize(source)).slice(0, T + 77));
      const cc = crossCheck(machine, twin, ['T', ...texts.map((t) => t.text), ...texts.map((t) => t.alt), long], form.id);
      rec.cross_check = cc;
      log(`${form.id}: cross-check vs the TF.js twin: max |Δp| = ${cc.maxAbsDiff.toExponential(2)} over ${cc.checks.length} texts (tolerance ${CROSS_CHECK_TOLERANCE})`);
    }

    for (const t of texts) {
      const row = { n: t.n, prompt_tokens: t.promptTokens, past_window: t.n > T };
      // --- latency: keystroke, reread, twin, interleaved. `read` is what the machine last read:
      // a re-read always predicts the one of text / alt the machine does not hold.
      let read = null;
      const impls = [
        {
          id: 'keystroke',
          call: () => {
            machine.predict(t.prefix);
            const a = now();
            machine.predict(t.text);
            const ms = now() - a;
            read = t.text;
            return ms;
          },
        },
        {
          id: 'reread',
          call: () => {
            const next = read === t.alt ? t.text : t.alt;
            const a = now();
            machine.predict(next);
            const ms = now() - a;
            read = next;
            return ms;
          },
        },
        {
          id: 'complete',
          call: () => {
            machine.complete(t.typing.slice(0, -1), { topK: 3 });
            const a = now();
            machine.complete(t.typing, { topK: 3 });
            const ms = now() - a;
            read = t.text;  // the machine holds the text (its context): a re-read must take the other
            return ms;
          },
        },
      ];
      if (twin) {
        impls.push({
          id: 'twin',
          call: () => {
            const a = now();
            twin.predict(machine.tokenize(t.text), 10);
            return now() - a;
          },
        });
      }
      // The keystroke and the twin must see the same distribution (their top tokens agree).
      machine.predict(t.prefix);
      const ks = machine.predict(t.text);
      read = t.text;
      if (twin) {
        const tw = twin.predict(machine.tokenize(t.text), 10);
        if (tw[0].id !== ks[0].id && Math.abs(tw[0].prob - ks[0].prob) > CROSS_CHECK_TOLERANCE) {
          throw new Error(`CROSS-CHECK FAILED (${form.id}, n=${t.n}): top token memread ${ks[0].id} vs twin ${tw[0].id}`);
        }
      }
      // Warm up, calibrate calls per sample (a sample lasts ≥ sampleMs of wall time).
      for (const impl of impls) {
        const a = now();
        let calls = 0;
        while (calls < 3 || (now() - a < 50 && calls < 200)) { impl.call(); calls++; }
        const per = (now() - a) / calls;
        impl.reps = Math.max(1, Math.ceil(settings.sampleMs / Math.max(per, 1e-3)));
        impl.samples = [];
      }
      const start = now();
      let rounds = 0;
      while (rounds < settings.maxRounds && (rounds < settings.minRounds || now() - start < settings.seconds * 1000)) {
        for (let k = 0; k < impls.length; k++) {
          const impl = impls[(k + rounds) % impls.length];
          let acc = 0;
          for (let r = 0; r < impl.reps; r++) acc += impl.call();
          impl.samples.push((acc * 1000) / impl.reps); // µs per call
        }
        rounds++;
        await yieldFn();
      }
      row.rounds = rounds;
      for (const impl of impls) row[impl.id] = { ...summary(impl.samples), unit: 'µs', reps: impl.reps };
      if (twin) {
        row.twin_over_keystroke = row.twin.median / row.keystroke.median;
        row.twin_over_reread = row.twin.median / row.reread.median;
      }

      // --- generate: greedy, genTokens tokens after a prompt of n − genTokens tokens (so the
      // context ends at n and never slides; past the window: after a prompt of T tokens, so every
      // token slides it). memread: the machine has read the prompt.
      const G = settings.genTokens;
      const ourGen = [];
      const twinGen = [];
      let ourIds = null;
      let twinIds = null;
      const genStart = now();
      let g = 0;
      while (g < settings.genMinSamples || now() - genStart < settings.genSeconds * 1000) {
        const order = g % 2 === 0 ? ['ours', 'twin'] : ['twin', 'ours'];
        for (const who of order) {
          if (who === 'ours') {
            machine.predict(t.prompt);
            let out = '';
            const a = now();
            for await (const piece of machine.generate(t.prompt, { maxTokens: G, temperature: 0 })) out += piece;
            const ms = now() - a;
            ourGen.push((G * 1000) / ms);
            ourIds = out;
          } else if (twin) {
            const ids = Array.from(machine.tokenize(t.prompt));
            const a = now();
            for (let i = 0; i < G; i++) {
              const p = twin.probs(ids);
              let best = 0;
              for (let id = 1; id < p.length; id++) if (p[id] > p[best]) best = id;
              ids.push(best);
            }
            const ms = now() - a;
            twinGen.push((G * 1000) / ms);
            twinIds = machine.detokenize(ids.slice(ids.length - G));
          }
        }
        g++;
        await yieldFn();
      }
      row.generate = { tokens: G, ours_tokens_per_s: summary(ourGen) };
      if (twin) {
        row.generate.twin_tokens_per_s = summary(twinGen);
        row.generate.same_greedy_text = ourIds === twinIds;
      }
      rec.contexts.push(row);
      log(`${form.id} n=${t.n}: keystroke ${fmt(row.keystroke.median)} µs, reread ${fmt(row.reread.median)} µs` +
        (twin ? `, twin ${fmt(row.twin.median)} µs` : '') +
        `; generate ${fmt(row.generate.ours_tokens_per_s.median)} tok/s` +
        (twin ? ` (twin ${fmt(row.generate.twin_tokens_per_s.median)})` : '') + `  [${rounds} rounds]`);
    }
    machine.dispose();
    if (twin) twin.dispose();
    results.forms.push(rec);
  }
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
  const W = 11;
  const pad = (s, w = W) => String(s).padStart(w);
  lines.push('latency in µs per predict, and per complete (topK 3) of a keystroke mid-word (median); generate in tokens/s (greedy)');
  let head = `${'form'.padEnd(15)}${pad('context', 8)} |${pad('keystroke')}${pad('re-read')}${pad('complete')}${pad('TF.js twin')}${pad('twin/keys', 10)}${pad('twin/re-rd', 11)} |${pad('gen tok/s', 10)}${pad('twin tok/s', 11)}`;
  lines.push(head);
  lines.push('-'.repeat(head.length));
  for (const f of env.forms) {
    for (const r of f.contexts) {
      lines.push(`${f.form.padEnd(15)}${pad(r.past_window ? r.n + '*' : r.n, 8)} |${pad(fmt(r.keystroke.median))}${pad(fmt(r.reread.median))}${pad(fmt(r.complete?.median))}` +
        `${pad(fmt(r.twin?.median))}${pad(r.twin_over_keystroke ? fmt(r.twin_over_keystroke) + '×' : '—', 10)}` +
        `${pad(r.twin_over_reread ? fmt(r.twin_over_reread) + '×' : '—', 11)} |` +
        `${pad(fmt(r.generate.ours_tokens_per_s.median), 10)}${pad(fmt(r.generate.twin_tokens_per_s?.median), 11)}`);
    }
  }
  if (env.forms.some((f) => f.contexts.some((r) => r.past_window))) {
    lines.push('* one token more than the window (max_context): each new token slides the window, so the');
    lines.push('  hidden form recomputes every row (docs/model.md); generate there starts from a full window');
  }
  lines.push('');
  lines.push('time to first prediction (loadMachine(bytes) → first predict of 64 tokens), ms:');
  for (const f of env.forms) {
    const fp = f.first_prediction;
    lines.push(`  ${f.form.padEnd(15)} first ${fmt(fp.ms)}${fp.includes_init ? ' (includes wasm init)' : ''}` +
      `, warm median ${fmt(fp.warm_ms.median)}` +
      (f.twin_first_prediction_ms ? `; TF.js twin (tensors from the file → first predict) ${fmt(f.twin_first_prediction_ms.median)}` : ''));
  }
  if (env.forms.some((f) => f.cross_check)) {
    lines.push('');
    lines.push('cross-check, every token\'s probability, memread vs the TF.js twin:');
    for (const f of env.forms) {
      if (!f.cross_check) continue;
      lines.push(`  ${f.form.padEnd(15)} max |Δp| ${f.cross_check.maxAbsDiff.toExponential(2)}, max |Δ log p| (p > 1e-6) ` +
        `${f.cross_check.maxLogDiff.toExponential(2)}, ${f.cross_check.checks.length} texts` +
        `; greedy generations identical: ${f.contexts.every((r) => r.generate.same_greedy_text !== false) ? 'yes' : 'no'}`);
    }
  }
  return lines;
}
