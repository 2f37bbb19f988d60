// The end-to-end benchmark page: runs bench/e2e-suite.js in this browser. bench/e2e.js drives it
// through window.__e2eRun(params) (the banks at /banks/…, or at /e2e-banks/… supplied by Playwright;
// the ONNX peer's onnxruntime-web and model from the dev server started with {bench: true}); a
// person can pick a bank file instead (then without the ONNX peer, which `npm start` does not
// serve). Nothing runs on load: the first loadMachine is then a cold start.
import { runE2E, formatTable } from '/bench/e2e-suite.js';
import { prepareTfjs } from '/bench/suite.js';
import { createTfjsTwin } from '/bench/peers/tfjs-twin.js';
import { prepareOrt, createGptOnnxPeer } from '/bench/peers/gpt-onnx/peer.js';
import { backendInfo, loadMachine } from '/src/js/index.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const resultsEl = $('results');

function say(text) {
  statusEl.textContent = text;
  console.log('[e2e] ' + text);
}

let tfPromise = null;
function startTfjs() {
  if (!tfPromise) {
    tfPromise = (async () => {
      if (!globalThis.tf?.wasm) throw new Error('TF.js scripts did not load');
      const info = await prepareTfjs(globalThis.tf, globalThis.tf.wasm, { wasmPaths: '/node_modules/@tensorflow/tfjs-backend-wasm/dist/' });
      return { tf: globalThis.tf, info };
    })();
  }
  return tfPromise;
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** onnxruntime-web (wasm, 1 thread) and the GPT-style decoder: { module, wasmPaths, model } URLs. */
async function startOnnx({ module, wasmPaths, model }) {
  const ort = await import(module);
  const info = { ...prepareOrt(ort, { wasmPaths }), entry: module };
  const peer = await createGptOnnxPeer(ort, await fetchBytes(model));
  info.threads_after_init = ort.env.wasm.numThreads;
  return { peer, info };
}

/**
 * @param params { quick, seconds, contexts, pastes, twin, onnx: {module, wasmPaths, model} | null,
 *                 banks: [{form, url}] or [{form, bytes}] }
 */
async function run(params) {
  const info = {
    environment: 'browser',
    userAgent: navigator.userAgent,
    crossOriginIsolated: self.crossOriginIsolated === true,
  };
  let tf = null;
  if (params.twin !== false) {
    const t = await startTfjs();
    tf = t.tf;
    info.tfjs = t.info;
  }
  let peer = null;
  if (params.onnx) {
    say('loading the ONNX peer (onnxruntime-web)…');
    const o = await startOnnx(params.onnx);
    peer = o.peer;
    info.onnx = o.info;
  }
  const banks = [];
  for (const b of params.banks) {
    const bytes = b.bytes ?? await fetchBytes(b.url);
    banks.push({ form: { id: b.form, label: b.label ?? b.form }, bytes });
  }
  say(`running (${params.quick ? 'quick' : 'full'})…`);
  try {
    const res = await runE2E(
      { loadMachine, backendInfo, tf, createTwin: createTfjsTwin, peer, banks, now: () => performance.now(),
        yieldFn: () => new Promise((r) => setTimeout(r, 0)) },
      { quick: !!params.quick, seconds: params.seconds ?? undefined, contexts: params.contexts ?? undefined,
        pastes: params.pastes ?? undefined, onLog: say },
    );
    const out = { info, ...res };
    resultsEl.textContent = formatTable(`Chromium/browser — crossOriginIsolated=${info.crossOriginIsolated}`, out).join('\n');
    say('done');
    return out;
  } finally {
    if (peer) await peer.dispose();
  }
}

window.__e2eRun = run;

const bankInput = $('bank');
const runBtn = $('run');
bankInput.addEventListener('change', () => { runBtn.disabled = !bankInput.files.length; });
$('controls').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = bankInput.files[0];
  if (!file) return;
  runBtn.disabled = true;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const quick = $('quick').checked;
    // A quick run by hand: the shorter contexts and one paste.
    await run({ quick, contexts: quick ? [64, 256, 1024] : undefined, pastes: quick ? [4096] : undefined,
      banks: [{ form: file.name.replace(/\.safetensors$/, ''), bytes }] });
  } catch (e) {
    say(`failed: ${e && e.message ? e.message : e}`);
  } finally {
    runBtn.disabled = false;
  }
});

window.__e2eReady = true;
say('ready: choose a bank file, or run npm run bench:e2e');
