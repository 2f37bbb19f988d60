// The end-to-end benchmark's fair peer: a GPT-style decoder of en-brown's size (vocab 2048, d 192,
// 4 layers, 4 heads of 48, MLP 768; random weights; bench/peers/gpt-onnx/export.py) exported to ONNX
// with a key/value cache, run by onnxruntime-web on its wasm backend, one thread, as transformers.js
// runs decoders: one decode step per token, input_ids [1, 1], position_ids [[n]], the past keys
// and values of the n tokens before as inputs (past_key_values.{l}.key/value [1, 4, n, 48]).
//
// Isomorphic (it imports only bench/suite.js, which is too): the caller passes the onnxruntime-web
// namespace (Node: the file its exports map gives Node; a page: the wasm build from the dev
// server) and the model's bytes.
//
// The past's contents do not change the compute time, so they are seeded random floats rather than
// the keys and values of a real text: built once per context, outside the timed region, and passed
// on every call as a user's code passes the last step's `present` (with the wasm backend every
// run copies its inputs into wasm memory and its outputs out again: that is what a user pays).

import { mulberry32 } from '../../suite.js';

export const GPT = Object.freeze({ vocab: 2048, dim: 192, layers: 4, heads: 4, headDim: 48, mlp: 768 });


/**
 * Select the wasm backend, one thread, and describe it. Call before the first session.
 * @param ort        the onnxruntime-web namespace
 * @param wasmPaths  where its .wasm (and .mjs) files are, or undefined for the package's own folder
 */
export function prepareOrt(ort, { wasmPaths } = {}) {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  return {
    version: ort.env.versions?.web ?? null,
    backend: 'wasm',
    threads: ort.env.wasm.numThreads,
    // onnxruntime-web 1.31 ships only SIMD builds of its wasm (ort-wasm-simd-threaded*.wasm); with
    // numThreads = 1 it starts no worker.
    binary: 'ort-wasm-simd-threaded.wasm (SIMD)',
    wasmPaths: wasmPaths ?? null,
  };
}

/**
 * @param ort    the onnxruntime-web namespace, prepareOrt() done
 * @param model  the .onnx file's bytes (Uint8Array)
 */
export async function createGptOnnxPeer(ort, model) {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const pastNames = [];
  for (let l = 0; l < GPT.layers; l++) for (const kind of ['key', 'value']) pastNames.push(`past_key_values.${l}.${kind}`);
  for (const name of ['input_ids', 'position_ids', ...pastNames]) {
    if (!session.inputNames.includes(name)) throw new Error(`gpt-onnx: the model has no input ${name} (${session.inputNames.join(', ')})`);
  }

  /** The inputs of one decode step after n tokens (built once per context; not timed). */
  function feeds(n, seed = 0x5eed ^ n) {
    const rand = mulberry32(seed);
    const out = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(1 + (n % (GPT.vocab - 1)))]), [1, 1]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), [1, 1]),
    };
    const size = GPT.heads * n * GPT.headDim;
    for (const name of pastNames) {
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = rand() * 2 - 1;
      out[name] = new ort.Tensor('float32', data, [1, GPT.heads, n, GPT.headDim]);
    }
    return out;
  }

  /** One decode step: logits [1, 1, vocab] and present.* [1, 4, n + 1, 48], copied out to JS. */
  async function step(inputs) {
    return session.run(inputs);
  }

  /** Run a step and check the shapes of what comes back (once per context, not timed). */
  async function check(inputs, n) {
    const out = await step(inputs);
    const dims = (t) => (t ? t.dims.join('×') : 'missing');
    if (dims(out.logits) !== `1×1×${GPT.vocab}`) throw new Error(`gpt-onnx: logits are ${dims(out.logits)}`);
    const present = out['present.0.key'];
    if (dims(present) !== `1×${GPT.heads}×${n + 1}×${GPT.headDim}`) throw new Error(`gpt-onnx: present.0.key is ${dims(present)} after ${n} tokens`);
    if (!out.logits.data.every(Number.isFinite)) throw new Error('gpt-onnx: logits are not finite');
    return out;
  }

  async function dispose() {
    await session.release();
  }

  return { feeds, step, check, dispose, inputNames: session.inputNames, outputNames: session.outputNames };
}
