// The npm package as a user gets it: `npm pack`, install the tarball into a fresh folder, and use
// it (1) from Node ESM, (2) from a plain page with <script type="module"> under a strict CSP, in
// Debian's Chromium, and (3) through a Vite build (the repo's own vite, nothing downloaded). Each
// must predict exactly what the repository's own entry predicts for the fixture bank; and with
// nothing copied by hand, the bank in the package loads (defaultBank()) and completes a word in
// Node, and <memread-suggest> (memread/suggest) suggests in a plain page and in a Vite build, where
// Tab inserts the completion the repository's own machine gives.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launchChromium } from '../../bench/chromium.js';
import { loadMachine as repoLoadMachine } from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'tiny-hidden.safetensors');
const TEXT = 'The jury said';
const TOP_K = 5;
const CSP = "script-src 'self' 'wasm-unsafe-eval'";

// What the tarball may hold: the package's JS and types, the Embind glue and its wasm, metadata.
const ALLOWED = /^(package\.json|README\.md|LICENSE|src\/js\/[\w.-]+\.(js|d\.ts)|dist\/memread-core\.(mjs|wasm)|banks\/en-brown\.safetensors)$/;
const REQUIRED = ['package.json', 'README.md', 'LICENSE', 'src/js/index.js', 'src/js/node.js', 'src/js/index.d.ts',
  'src/js/suggest.js', 'src/js/suggest.d.ts', 'dist/memread-core.mjs', 'dist/memread-core.wasm', 'banks/en-brown.safetensors'];
const BANK = path.join(ROOT, 'banks', 'en-brown.safetensors');  // the bank the package ships
const TYPED = 'He walked into the ro';

let tmp;
let packed;        // npm pack --json's entry
let consumer;      // the fresh project with the tarball installed
let installed;     // consumer/node_modules/memread
let expected;      // the repository's own prediction
let completed;     // the repository's own completions of TYPED with the shipped bank
let browser;

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, ...options });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed (${error.status ?? error.signal}):\n${error.stderr || error.message}`);
  }
}

function simplify(predictions) {
  return predictions.map(({ id, token, prob }) => ({ id, token, prob }));
}

function assertSamePrediction(actual, where) {
  assert.equal(actual.length, expected.length, `${where}: ${TOP_K} predictions`);
  assert.deepEqual(actual.map((p) => p.id), expected.map((p) => p.id), `${where}: the same tokens, in the same order`);
  actual.forEach((p, i) => {
    assert.equal(p.token, expected[i].token, `${where}: token text of id ${p.id}`);
    assert.ok(Math.abs(p.prob - expected[i].prob) <= 1e-6, `${where}: prob of ${p.id}: ${p.prob} vs ${expected[i].prob}`);
  });
}

/** The relative imports reachable from a module, as paths relative to `base`. */
function importGraph(entry, base) {
  const seen = new Set();
  const visit = (file) => {
    const rel = path.relative(base, file);
    if (seen.has(rel)) return;
    seen.add(rel);
    assert.ok(fs.existsSync(file), `${rel} is imported but missing from the package`);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(path.resolve(path.dirname(file), m[1]));
    }
  };
  visit(entry);
  return [...seen];
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.safetensors': 'application/octet-stream', '.json': 'application/json', '.css': 'text/css',
};

/** A tiny static server for `root` on 127.0.0.1 with the wasm MIME type and the strict CSP. */
function serve(root) {
  const server = http.createServer((req, res) => {
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      rel = '';
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, '.' + rel);
    const type = MIME[path.extname(file)];
    if (!type || !file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}/`,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    }));
  });
}

/** Open `url`; the page writes its prediction (JSON) into #out and data-status on <body>. */
async function predictInPage(url) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  try {
    await page.goto(url);
    await page.waitForSelector('body[data-status]', { timeout: 20_000 }).catch(() => {
      throw new Error(`the page did not finish: ${problems.join('; ') || 'no errors reported'}`);
    });
    const status = await page.getAttribute('body', 'data-status');
    const text = await page.textContent('#out');
    assert.equal(status, 'done', `the page failed: ${text}; ${problems.join('; ')}`);
    assert.deepEqual(problems, [], 'no page errors, console errors or failed requests');
    return JSON.parse(text);
  } finally {
    await page.close();
  }
}

// The page script: fetch the bank, load it, predict, write the result into the DOM.
const PAGE_SCRIPT = (specifier) => `import { loadMachine } from '${specifier}';
const out = document.getElementById('out');
try {
  const response = await fetch('./tiny-hidden.safetensors');
  const machine = await loadMachine(response);
  const predictions = machine.predict(${JSON.stringify(TEXT)}, { topK: ${TOP_K} });
  machine.dispose();
  out.textContent = JSON.stringify(predictions.map(({ id, token, prob }) => ({ id, token, prob })));
  document.body.dataset.status = 'done';
} catch (error) {
  out.textContent = String(error && error.stack || error);
  document.body.dataset.status = 'failed';
}
`;
const PAGE_HTML = (src) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memread consumer</title><link rel="icon" href="data:,">
<script type="module" src="${src}"></script></head>
<body><pre id="out"></pre></body></html>
`;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-pack-'));
  const json = run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT });
  [packed] = JSON.parse(json.slice(json.indexOf('[')));
  consumer = path.join(tmp, 'consumer');
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'memread-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  // No dependencies: installs offline.
  run('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(tmp, packed.filename)], { cwd: consumer });
  installed = path.join(consumer, 'node_modules', 'memread');
  fs.copyFileSync(FIXTURE, path.join(consumer, 'tiny-hidden.safetensors'));

  const machine = await repoLoadMachine(fs.readFileSync(FIXTURE));
  expected = simplify(machine.predict(TEXT, { topK: TOP_K }));
  machine.dispose();
  const shipped = await repoLoadMachine(fs.readFileSync(BANK));
  completed = shipped.complete(TYPED, { topK: 3 });
  shipped.dispose();
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  // KEEP_PACK_TMP=1 keeps the consumer folder (tarball, install, Vite app) to look into.
  if (tmp && process.env.KEEP_PACK_TMP) console.log(`# kept ${tmp}`);
  else if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the tarball holds what the package needs and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const f of REQUIRED) assert.ok(files.includes(f), `${f} is in the tarball`);
  const extra = files.filter((f) => !ALLOWED.test(f));
  assert.deepEqual(extra, [], 'files that do not belong in the package');
  // The bank is most of it: 2.03 MB of the 2.7 MB unpacked, 2.1 MB gzip.
  const bank = fs.statSync(BANK).size;
  assert.ok(packed.unpackedSize - bank < 1024 * 1024, `the package without its bank is ${packed.unpackedSize - bank} bytes, under 1 MiB`);
  assert.ok(packed.size < 4.5 * 1024 * 1024, `the tarball is ${packed.size} bytes, under 4.5 MiB`);
  importGraph(path.join(installed, 'src/js/suggest.js'), installed);
  assert.deepEqual(fs.readFileSync(path.join(installed, 'banks/en-brown.safetensors')), fs.readFileSync(BANK));
  // Every file each entry imports is there; every file the exports map names is there.
  importGraph(path.join(installed, 'src/js/index.js'), installed);
  importGraph(path.join(installed, 'src/js/node.js'), installed);
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  const targets = [pkg.main, pkg.module, pkg.types, ...Object.values(pkg.exports).flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v)))];
  assert.equal(pkg.license, 'MIT');
  for (const field of ['description', 'keywords', 'engines']) assert.ok(pkg[field], `package.json has ${field}`);
  assert.deepEqual(pkg.sideEffects, ['./src/js/suggest.js'], 'importing the element is kept by bundlers');
  for (const t of targets) assert.ok(fs.existsSync(path.join(installed, t)), `${t} (named in package.json) exists`);
  assert.deepEqual(fs.readFileSync(path.join(installed, 'dist/memread-core.wasm')), fs.readFileSync(path.join(ROOT, 'dist/memread-core.wasm')));
});

test('Node ESM: import { loadMachine } from "memread" predicts what the repository predicts', () => {
  const script = `
    import { loadMachine, MemreadError } from 'memread';
    import { readFile } from 'node:fs/promises';
    const entry = import.meta.resolve('memread');
    const machine = await loadMachine(await readFile(process.argv[1]));
    const predictions = machine.predict(${JSON.stringify(TEXT)}, { topK: ${TOP_K} });
    machine.dispose();
    let disposed = null;
    try { machine.predict('x'); } catch (e) { disposed = e instanceof MemreadError ? e.code : String(e); }
    console.log(JSON.stringify({ entry, disposed, predictions: predictions.map(({ id, token, prob }) => ({ id, token, prob })) }));
  `;
  const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script, FIXTURE], { cwd: consumer }));
  assert.ok(out.entry.endsWith('/node_modules/memread/src/js/node.js'), `Node resolves the "node" entry (${out.entry})`);
  assert.equal(out.disposed, 'DISPOSED');
  assertSamePrediction(out.predictions, 'Node');
});

test('Node: the bank in the package loads with defaultBank() and completes a word, as the repository does', () => {
  const script = `
    import { loadMachine, defaultBank } from 'memread';
    const machine = await loadMachine(defaultBank());
    console.log(JSON.stringify({ bank: defaultBank().href, completions: machine.complete(${JSON.stringify(TYPED)}, { topK: 3 }) }));
    machine.dispose();
  `;
  const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer }));
  assert.ok(out.bank.endsWith('/node_modules/memread/banks/en-brown.safetensors'), out.bank);
  assert.deepEqual(out.completions, completed);
});

// The element's page: <memread-suggest> around a textarea, no bank attribute (the package's own).
const SUGGEST_HTML = (src) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memread-suggest consumer</title><link rel="icon" href="data:,">
<script type="module" src="${src}"></script></head>
<body><memread-suggest id="suggest"><textarea id="field"></textarea></memread-suggest></body></html>
`;

/** Open `url`, type TYPED, wait for the suggestions, press Tab; → {shown, value}. */
async function suggestInPage(url) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  try {
    await page.goto(url);
    await page.waitForSelector('#suggest[state="ready"]', { timeout: 20_000 }).catch(() => {
      throw new Error(`the element did not get ready: ${problems.join('; ') || 'no errors reported'}`);
    });
    await page.focus('#field');
    await page.keyboard.type(TYPED);
    await page.waitForFunction((text) => {
      const list = document.querySelector('#suggest .memread-suggest-list');
      return list && !list.hidden && list.dataset.text === text;
    }, TYPED, { timeout: 10_000 });
    const shown = await page.$$eval('#suggest .memread-suggest-item', (items) => items.map((li) => li.dataset.text));
    await page.keyboard.press('Tab');
    const value = await page.inputValue('#field');
    assert.deepEqual(problems, [], 'no page errors, console errors or failed requests');
    return { shown, value };
  } finally {
    await page.close();
  }
}

function assertSuggested({ shown, value }, where) {
  assert.deepEqual(shown.slice(0, 3), completed.map((c) => c.text), `${where}: the completions of the repository's machine`);
  assert.equal(value, TYPED + completed[0].text, `${where}: Tab inserts the first completion`);
}

test('a plain page uses <memread-suggest> from node_modules/memread under the strict CSP; Tab inserts the completion', async () => {
  fs.writeFileSync(path.join(consumer, 'suggest.html'), SUGGEST_HTML('./node_modules/memread/src/js/suggest.js'));
  const server = await serve(consumer);
  try {
    assertSuggested(await suggestInPage(new URL('suggest.html', server.url).href), 'plain page');
  } finally {
    await server.close();
  }
});

test('a Vite build of a page importing "memread/suggest" emits the wasm and the bank and suggests the same', async () => {
  const app = path.join(consumer, 'vite-suggest');
  fs.mkdirSync(app, { recursive: true });
  fs.writeFileSync(path.join(app, 'main.js'), "import 'memread/suggest';\n");
  fs.writeFileSync(path.join(app, 'index.html'), SUGGEST_HTML('./main.js'));
  run(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: app });
  const assets = fs.readdirSync(path.join(app, 'dist', 'assets'));
  assert.equal(assets.filter((f) => f.endsWith('.wasm')).length, 1, `the wasm is an asset (${assets.join(', ')})`);
  const banks = assets.filter((f) => f.endsWith('.safetensors'));
  assert.equal(banks.length, 1, `the bank is an asset (${assets.join(', ')})`);
  assert.deepEqual(fs.readFileSync(path.join(app, 'dist', 'assets', banks[0])), fs.readFileSync(BANK));
  const server = await serve(path.join(app, 'dist'));
  try {
    assertSuggested(await suggestInPage(server.url), 'Vite build');
  } finally {
    await server.close();
  }
});

test('a plain page with <script type="module"> imports the installed package and predicts (strict CSP)', async () => {
  // No bundler, no import map (an inline map would break the CSP): the page imports the browser
  // entry the package's exports map names ("default").
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  const browserEntry = pkg.exports['.'].default;
  assert.match(browserEntry, /^\.\/.+\.js$/);
  fs.writeFileSync(path.join(consumer, 'main.js'), PAGE_SCRIPT('./node_modules/memread/' + browserEntry.slice(2)));
  fs.writeFileSync(path.join(consumer, 'index.html'), PAGE_HTML('./main.js'));
  const server = await serve(consumer);
  try {
    assertSamePrediction(await predictInPage(server.url), 'plain page');
  } finally {
    await server.close();
  }
});

test('a Vite build of a page importing "memread" emits the wasm as an asset and predicts', async () => {
  const app = path.join(consumer, 'vite-app');
  fs.mkdirSync(path.join(app, 'public'), { recursive: true });
  fs.writeFileSync(path.join(app, 'main.js'), PAGE_SCRIPT('memread'));
  fs.writeFileSync(path.join(app, 'index.html'), PAGE_HTML('./main.js'));
  fs.copyFileSync(FIXTURE, path.join(app, 'public', 'tiny-hidden.safetensors'));
  // The repository's own vite (a devDependency): nothing is downloaded.
  run(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: app });
  const assets = fs.readdirSync(path.join(app, 'dist', 'assets'));
  const wasm = assets.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1, `one .wasm asset emitted (assets: ${assets.join(', ')})`);
  assert.deepEqual(fs.readFileSync(path.join(app, 'dist', 'assets', wasm[0])), fs.readFileSync(path.join(ROOT, 'dist/memread-core.wasm')),
    'the emitted wasm is memread-core.wasm');
  const bundle = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(app, 'dist', 'assets', f), 'utf8')).join('\n');
  assert.doesNotMatch(bundle, /node:fs|readFile\(/, 'the browser bundle holds no Node code');
  const server = await serve(path.join(app, 'dist'));
  try {
    assertSamePrediction(await predictInPage(server.url), 'Vite build');
  } finally {
    await server.close();
  }
});
