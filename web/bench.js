// The benchmark page: runs bench/suite.js in the visitor's browser.
// URL parameters: autorun=1, quick=1, seconds=S, d=64,128, n=…, b=…, impls=membank,tfjs,…, threads=1
// When done it sets window.__benchResults (or window.__benchError) for bench/run.js.
import {
  GRID, IMPLS, RATIO_VS, TARGETS, runSuite, prepareTfjs, fmtUs, fmtNum,
} from '/bench/suite.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const statusEl = $('status');
const progressEl = $('progress');
const runBtn = $('run');
const downloadBtn = $('download');
const BROWSER_IMPLS = IMPLS.filter((x) => !x.id.startsWith('native'));

let lastResults = null;
let running = false;
let setupPromise = null;

function say(text) {
  statusEl.textContent = text;
  console.log('[bench] ' + text);
}

function listParam(name, allowed) {
  const v = params.get(name);
  if (!v) return null;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (allowed) return xs.filter((x) => allowed.includes(x));
  return xs.map(Number).filter((x) => Number.isInteger(x) && x > 0);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Set-up: memread core + TF.js

async function setup(allowThreads) {
  const info = {
    environment: 'browser',
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency ?? null,
    crossOriginIsolated: self.crossOriginIsolated === true,
  };
  let mod = null;
  try {
    mod = await import('/src/js/index.js');
    await mod.init();
    if (typeof mod.backendInfo === 'function') {
      try { info.memread_backend = mod.backendInfo(); } catch (e) { info.memread_backend = { error: String(e) }; }
    }
  } catch (e) {
    info.memread_error = `memread could not be loaded: ${e && e.message ? e.message : e}`;
    mod = null;
  }
  let tf = null;
  if (globalThis.tf && globalThis.tf.wasm) {
    try {
      info.tfjs = await prepareTfjs(globalThis.tf, globalThis.tf.wasm, {
        wasmPaths: '/node_modules/@tensorflow/tfjs-backend-wasm/dist/',
        allowThreads,
      });
      tf = globalThis.tf;
    } catch (e) {
      info.tfjs_error = `TF.js wasm backend could not be started: ${e && e.message ? e.message : e}`;
    }
  } else {
    info.tfjs_error = 'TF.js scripts did not load';
  }
  return { mod, tf, info };
}

function showEnv(info) {
  const dl = $('env');
  dl.replaceChildren();
  const add = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v));
  add('Browser', info.userAgent);
  add('Logical CPUs', String(info.hardwareConcurrency ?? 'unknown'));
  add('Cross-origin isolated', info.crossOriginIsolated ? 'yes (fine-grained timer)' : 'no (timer resolution ~100 µs; samples are long enough)');
  if (info.memread_error) add('memread', info.memread_error);
  else add('memread', info.memread_backend ? JSON.stringify(info.memread_backend) : 'loaded (backendInfo() not available)');
  if (info.tfjs_error) add('TF.js', info.tfjs_error);
  else if (info.tfjs) add('TF.js', `${info.tfjs.version}, ${info.tfjs.binary}, ${info.tfjs.threads ?? '?'} thread(s) — ${info.tfjs.note}`);
}

// ---------------------------------------------------------------------------------------------
// Results table

function buildTableHead(present) {
  const thead = $('results').tHead;
  const r1 = el('tr');
  r1.append(el('th', { scope: 'col', rowspan: '2' }, 'd'), el('th', { scope: 'col', rowspan: '2' }, 'N'),
    el('th', { scope: 'col', rowspan: '2' }, 'B'));
  r1.append(el('th', { scope: 'colgroup', colspan: String(present.length), class: 'group' }, 'µs per call · GFLOP/s'));
  const ratioIds = RATIO_VS.filter((id) => present.some((p) => p.id === id));
  if (ratioIds.length && present.some((p) => p.id === 'membank')) {
    r1.append(el('th', { scope: 'colgroup', colspan: String(ratioIds.length), class: 'group' }, 'MemBank speed-up'));
  }
  const r2 = el('tr');
  for (const im of present) r2.append(el('th', { scope: 'col', title: im.label }, im.short));
  if (present.some((p) => p.id === 'membank')) {
    for (const id of ratioIds) r2.append(el('th', { scope: 'col' }, 'vs ' + IMPLS.find((x) => x.id === id).short));
  }
  thead.replaceChildren(r1, r2);
  return ratioIds;
}

function addRow(record, present, ratioIds) {
  const tr = el('tr');
  tr.append(el('th', { scope: 'row' }, String(record.d)), el('td', {}, String(record.n)), el('td', {}, String(record.b)));
  for (const im of present) {
    const r = record.results[im.id];
    if (!r) { tr.append(el('td', { class: 'na' }, '—')); continue; }
    const td = el('td', { class: 'num' + (im.id === 'membank' ? ' mine' : '') });
    td.append(el('span', { class: 'us' }, fmtUs(r.us_per_call) + ' µs'), el('span', { class: 'gf' }, fmtNum(r.gflops) + ' GF/s'));
    td.title = `${r.samples} samples × ${r.reps_per_sample} calls; IQR ${fmtUs(r.p25_us)}–${fmtUs(r.p75_us)} µs; max error ${r.max_abs_err.toExponential(1)}`;
    tr.append(td);
  }
  if (present.some((p) => p.id === 'membank')) {
    for (const id of ratioIds) {
      const v = record.ratios[id];
      tr.append(el('td', { class: 'num ratio' + (v != null && v < 1 ? ' slower' : '') }, v == null ? '—' : v.toFixed(2) + '×'));
    }
  }
  $('results').tBodies[0].append(tr);
}

function showTargets(targets) {
  const ul = $('targets');
  ul.replaceChildren();
  for (const t of targets) {
    const li = el('li', { class: t.status.toLowerCase().replace('/', '') });
    li.append(el('strong', { class: 'badge' }, t.status), ' ',
      `${t.label} — measured ${t.ratio == null ? 'n/a' : t.ratio.toFixed(2) + '×'}`);
    ul.append(li);
  }
}

// ---------------------------------------------------------------------------------------------

function readOptions() {
  const quick = $('quick').checked;
  const seconds = Number($('seconds').value);
  const grid = $('grid').value;
  const o = { quick, seconds: seconds > 0 ? seconds : undefined };
  if (grid === 'target') { o.d = [128]; o.n = [1024]; }
  if (grid === 'small') { o.n = [256]; }
  const d = listParam('d'); if (d) o.d = d;
  const n = listParam('n'); if (n) o.n = n;
  const b = listParam('b'); if (b) o.b = b;
  const impls = listParam('impls', BROWSER_IMPLS.map((x) => x.id));
  if (impls) o.impls = impls;
  return o;
}

async function run() {
  if (running) return;
  running = true;
  window.__benchError = undefined;
  window.__benchResults = undefined;
  statusEl.classList.remove('error');
  runBtn.disabled = true;
  downloadBtn.disabled = true;
  $('results').tBodies[0].replaceChildren();
  showTargets(TARGETS.map((t) => ({ ...t, ratio: null, status: 'N/A' })));
  try {
    say('Loading memread and TF.js…');
    const { mod, tf, info } = await setupPromise;
    const opts = readOptions();
    let impls = opts.impls ?? BROWSER_IMPLS.map((x) => x.id);
    const core = ['membank', 'memread', 'scalar'];
    // Driven by bench/run.js (autorun): a missing implementation is an error, not a silent gap.
    if (params.get('autorun') === '1') {
      if (!mod && impls.some((id) => core.includes(id))) throw new Error(info.memread_error);
      if (!tf && impls.includes('tfjs')) throw new Error(info.tfjs_error);
    }
    if (!mod) impls = impls.filter((id) => !core.includes(id));
    if (!tf) impls = impls.filter((id) => id !== 'tfjs');
    const present = BROWSER_IMPLS.filter((x) => impls.includes(x.id));
    const ratioIds = buildTableHead(present);
    const total = (opts.d ?? GRID.d).length * (opts.n ?? GRID.n).length * (opts.b ?? GRID.b).length;
    progressEl.max = total;
    progressEl.value = 0;
    const t0 = performance.now();
    const suite = await runSuite(
      { mod, tf, now: () => performance.now() },
      {
        ...opts,
        impls,
        yieldFn: () => new Promise((r) => setTimeout(r, 0)),
        onProgress(ev) {
          if (ev.type === 'config-start') {
            say(`Running ${ev.index + 1} of ${ev.total}: d=${ev.d} N=${ev.n} B=${ev.b}…`);
          } else if (ev.type === 'config-done') {
            progressEl.value = ev.index + 1;
            addRow(ev.record, present, ratioIds);
            const r = ev.record;
            console.log(`[bench] done d=${r.d} N=${r.n} B=${r.b}: ` +
              Object.entries(r.results).map(([id, x]) => `${id} ${fmtUs(x.us_per_call)}µs`).join(', '));
          }
        },
      },
    );
    showTargets(suite.targets);
    const seconds = (performance.now() - t0) / 1000;
    lastResults = { info, settings: suite.settings, configs: suite.configs, targets: suite.targets, seconds,
      date: new Date().toISOString() };
    window.__benchResults = lastResults;
    downloadBtn.disabled = false;
    say(`Done: ${suite.configs.length} configurations in ${seconds.toFixed(0)} s.`);
  } catch (e) {
    const msg = e && e.message ? e.message : String(e);
    say('Failed: ' + msg);
    statusEl.classList.add('error');
    window.__benchError = msg;
  } finally {
    running = false;
    runBtn.disabled = false;
  }
}

function download() {
  if (!lastResults) return;
  const blob = new Blob([JSON.stringify(lastResults, null, 2)], { type: 'application/json' });
  const a = el('a', { href: URL.createObjectURL(blob), download: 'memread-kernels-browser.json' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function init() {
  if (params.get('quick') === '1') $('quick').checked = true;
  const s = Number(params.get('seconds'));
  if (s > 0) $('seconds').value = String(s);
  else if (params.get('quick') === '1') $('seconds').value = '0.5';
  $('quick').addEventListener('change', () => {
    $('seconds').value = $('quick').checked ? '0.5' : '2';
  });
  $('controls').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run();
  });
  downloadBtn.addEventListener('click', download);
  showTargets(TARGETS.map((t) => ({ ...t, ratio: null, status: 'N/A' })));
  runBtn.disabled = true;
  setupPromise = setup(params.get('threads') === '1');
  setupPromise.then(({ mod, tf, info }) => {
    showEnv(info);
    runBtn.disabled = false;
    const missing = [!mod && 'memread', !tf && 'TF.js'].filter(Boolean);
    say(missing.length
      ? `Ready, without ${missing.join(' and ')} (see Environment). Press “Run benchmark”.`
      : 'Ready. Press “Run benchmark”.');
    if (params.get('autorun') === '1') run();
  });
}

init();
