// The memread model (DESIGN §1) written again with TensorFlow.js ops: the end-to-end benchmark's
// peer ("the same model written with TF.js ops", DESIGN §7). Isomorphic: no imports; the caller
// passes the tfjs-core namespace with its wasm backend already selected (bench/suite.js
// prepareTfjs), in Node or in a page.
//
// It reads the SAME bank file as memread, parsing the safetensors container itself (8-byte
// little-endian header length, JSON header, tensor bytes; F32, F16, I32 and I8, the int8 matrices
// widened to floats, code × its row's scale, DESIGN §11). It does not tokenize:
// the caller gives token ids (the benchmark uses memread's machine.tokenize, so both read the same
// tokens).
//
// TF.js has no incremental cache: every call computes the whole text from the token ids (for
// `context: "hidden"` every position through every layer; for `context: "input"` only the last
// position, whose context is the raw embeddings, exactly as the model defines it). It is the
// correctness cross-check of the end-to-end benchmark, an independent implementation.
//
// Window rule (docs/model.md): the rolling window, position i reads positions i − T … i − 1 of the
// whole text (a banded causal mask); a version-1 bank (no "window" in its config) reads its last
// T tokens as a text of their own.
//
// Choices that favour the twin (so a speed-up measured against it is conservative):
//   - keys and values are kept both as given (N×d) and transposed (d×N), E transposed (d×vocab),
//     and the context rows are transposed explicitly before q·Cᵀ, so that every matMul reads its
//     right operand in TF.js's fast layout (matMul(a, b, false, true) is up to 10× slower in the
//     wasm backend at n = 1024);
//   - the causal mask + position bias matrix of a window length n is built once per n and cached
//     (a few lengths at a time), not rebuilt per call.

/** IEEE half → float. */
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Parse a safetensors file. Enough checking for a benchmark peer (memread's own loader is the
 * strict one): header length in range, JSON object, known dtypes, offsets inside the data.
 * @param {Uint8Array|ArrayBuffer} input
 * @returns {{metadata: Record<string,string>, tensors: Map<string, {dtype: string, shape: number[], data: Float32Array|Int32Array}>}}
 */
export function parseSafetensors(input) {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 10) throw new Error('safetensors: file shorter than 10 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (!(n >= 2 && n <= bytes.length - 8)) throw new Error(`safetensors: header length ${n} out of range`);
  const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error('safetensors: header is not an object');
  const dataStart = 8 + n;
  const metadata = header.__metadata__ ?? {};
  const tensors = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry;
    const count = shape.reduce((a, b) => a * b, 1);
    const size = { F32: 4, F16: 2, I32: 4, I8: 1 }[dtype];
    if (!size) throw new Error(`safetensors: ${name}: dtype ${dtype} not supported here`);
    if (end - begin !== count * size || dataStart + end > bytes.length || begin < 0) {
      throw new Error(`safetensors: ${name}: bad data_offsets [${begin}, ${end}]`);
    }
    // Copy out: the data may be unaligned for a Float32Array view. (Not bytes.slice: on a Node
    // Buffer that is a view, not a copy.)
    const raw = new Uint8Array(end - begin);
    raw.set(bytes.subarray(dataStart + begin, dataStart + end));
    let data;
    if (dtype === 'F32') data = new Float32Array(raw.buffer);
    else if (dtype === 'I32') data = new Int32Array(raw.buffer);
    else if (dtype === 'I8') data = Float32Array.from(new Int8Array(raw.buffer));  // × scale below
    else {
      const halves = new Uint16Array(raw.buffer);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(halves[i]);
    }
    tensors.set(name, { dtype, shape, data });
  }
  // An I8 matrix's rows times their scales (the F32 tensor NAME.scale, one per row).
  for (const [name, t] of tensors) {
    if (t.dtype !== 'I8') continue;
    const scale = tensors.get(`${name}.scale`);
    if (!scale || scale.data.length !== t.shape[0]) throw new Error(`safetensors: ${name}: I8 without a scale per row`);
    const cols = t.data.length / t.shape[0];
    for (let r = 0; r < t.shape[0]; r++) {
      for (let c = 0; c < cols; c++) t.data[r * cols + c] *= scale.data[r];
    }
  }
  return { metadata, tensors };
}

/**
 * Build the TF.js twin of a bank.
 * @param tf     tfjs-core namespace, backend ready
 * @param bytes  the bank file (Uint8Array or ArrayBuffer)
 */
export function createTfjsTwin(tf, bytes) {
  const { metadata, tensors } = parseSafetensors(bytes);
  const raw = JSON.parse(metadata['memread.config']);
  const cfg = {
    dim: raw.dim, layers: raw.layers, slots: raw.slots, vocabSize: raw.vocab_size,
    context: raw.context, position: raw.position, maxContext: raw.max_context,
    rolling: raw.window === 'rolling',
  };
  const get = (name) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`twin: bank has no tensor ${name}`);
    return t;
  };
  const d = cfg.dim;
  const T = cfg.maxContext;
  const owned = [];
  const keep = (t) => (owned.push(t), t);

  const E = get('embed').data;
  const embed = keep(tf.tensor2d(E, [cfg.vocabSize, d]));
  const embedT = keep(tf.transpose(embed)); // d × vocab
  const invOut = 1 / get('readout.temp').data[0];
  const layers = [];
  for (let l = 0; l < cfg.layers; l++) {
    const K = keep(tf.tensor2d(get(`layers.${l}.keys`).data, [cfg.slots, d]));
    const V = keep(tf.tensor2d(get(`layers.${l}.values`).data, [cfg.slots, d]));
    const temps = get(`layers.${l}.temps`).data;
    layers.push({
      K, V, Kt: keep(tf.transpose(K)), Vt: keep(tf.transpose(V)),
      invAssoc: 1 / temps[0], invCtx: 1 / temps[1], invMlp: 1 / temps[2],
      P: cfg.position === 'learned' ? get(`layers.${l}.position`).data : null,
      biasCache: new Map(),
    });
  }

  // Bias of the context read for a window of n tokens, cached per n (a few at a time).
  //   hidden: rows i = 1..n−1 (as i' = i − 1) against columns j = 0..n−2:
  //           B[i', j] = P[i' − j] for j ≤ i' (distance δ = i − j = i' − j + 1 → P[δ − 1]), else −∞.
  //   input:  one row (the last position i = n−1) against j = 0..n−2: b[j] = P[n − 2 − j].
  function bias(layer, n) {
    let t = layer.biasCache.get(n);
    if (t) return t;
    const m = n - 1;
    const P = layer.P;
    // Row i (position i + 1) reads columns j ≤ i at distance i + 1 − j ≤ T: P[i − j]; others −∞.
    if (cfg.context === 'hidden') {
      const b = new Float32Array(m * m);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) b[i * m + j] = j <= i && i - j < T ? (P ? P[i - j] : 0) : -Infinity;
      }
      t = tf.tensor2d(b, [m, m]);
    } else {
      const b = new Float32Array(m);
      for (let j = 0; j < m; j++) b[j] = m - 1 - j < T ? (P ? P[m - 1 - j] : 0) : -Infinity;
      t = tf.tensor2d(b, [1, m]);
    }
    if (layer.biasCache.size >= 4) {
      const [oldest, old] = layer.biasCache.entries().next().value;
      old.dispose();
      layer.biasCache.delete(oldest);
    }
    tf.keep(t); // built inside the caller's tf.tidy: keep it past the tidy
    layer.biasCache.set(n, t);
    return t;
  }

  // mem(q, K, V, τ) with K given transposed: softmax(q·Kt / τ)·V.
  const mem = (q, Kt, V, inv) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, Kt), inv)), V);

  /** Logits-free: the next-token probabilities after `ids` (a Float32Array of vocab). */
  function probs(idsIn) {
    let ids = Array.from(idsIn);
    if (ids.length === 0) throw new Error('twin: no tokens');
    if (!cfg.rolling && ids.length > T) ids = ids.slice(ids.length - T); // version 1: the last T tokens
    const n = ids.length;
    const out = tf.tidy(() => {
      const idx = tf.tensor1d(Int32Array.from(ids), 'int32');
      let h;
      if (cfg.context === 'hidden') {
        let X = tf.gather(embed, idx); // n × d
        for (const L of layers) {
          const C = n > 1 ? tf.slice(X, [0, 0], [n - 1, d]) : null; // C_l[j] = x_jˡ, the layer's input, j = 0..n−2
          X = tf.add(X, mem(X, L.Kt, L.V, L.invAssoc));
          if (C) {
            const Q = tf.slice(X, [1, 0], [n - 1, d]);  // rows 1..n−1 read them (row 0 reads zeros)
            const S = tf.add(tf.mul(tf.matMul(Q, tf.transpose(C)), L.invCtx), bias(L, n));
            const R = tf.matMul(tf.softmax(S), C);
            X = tf.add(X, tf.concat([tf.zeros([1, d]), R], 0));
          }
          X = tf.add(X, mem(X, L.Vt, L.K, L.invMlp));
        }
        h = tf.slice(X, [n - 1, 0], [1, d]);
      } else {
        const X = tf.gather(embed, idx);
        h = tf.slice(X, [n - 1, 0], [1, d]);
        const C = n > 1 ? tf.slice(X, [0, 0], [n - 1, d]) : null; // C[j] = x_j⁰ for every layer
        const Ct = C && tf.transpose(C);
        for (const L of layers) {
          h = tf.add(h, mem(h, L.Kt, L.V, L.invAssoc));
          if (C) {
            const s = tf.add(tf.mul(tf.matMul(h, Ct), L.invCtx), bias(L, n));
            h = tf.add(h, tf.matMul(tf.softmax(s), C));
          }
          h = tf.add(h, mem(h, L.Vt, L.K, L.invMlp));
        }
      }
      return tf.softmax(tf.mul(tf.matMul(h, embedT), invOut));
    });
    const p = out.dataSync();
    out.dispose();
    return p;
  }

  /** The k most probable next tokens, as [{id, prob}], most probable first (ties: lower id). */
  function predict(ids, topK = 10) {
    const p = probs(ids);
    const k = Math.min(topK, p.length);
    const best = [];
    for (let id = 0; id < p.length; id++) {
      const prob = p[id];
      if (best.length < k) {
        best.push({ id, prob });
        if (best.length === k) best.sort((a, b) => b.prob - a.prob || a.id - b.id);
      } else if (prob > best[k - 1].prob) {
        let i = k - 1;
        while (i > 0 && best[i - 1].prob < prob) i--;
        best.splice(i, 0, { id, prob });
        best.pop();
      }
    }
    if (best.length < k || k < 2) best.sort((a, b) => b.prob - a.prob || a.id - b.id);
    return best;
  }

  function dispose() {
    for (const t of owned) t.dispose();
    for (const L of layers) for (const t of L.biasCache.values()) t.dispose();
    owned.length = 0;
  }

  // An int8 bank (E, K and V all I8) is read by memread's int8 kernels, which also round the
  // queries, the weights and the context rows (docs/kernels.md, "Int8 reads"); the twin reads the
  // widened weights in float32.
  const int8 = [...Array(cfg.layers).keys()].every((l) => get(`layers.${l}.keys`).dtype === 'I8' && get(`layers.${l}.values`).dtype === 'I8') &&
    get('embed').dtype === 'I8';
  return { config: cfg, int8, probs, predict, dispose };
}
