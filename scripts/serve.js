#!/usr/bin/env node
// Small dependency-free static server for the memread pages (`npm start`).
//
// Serves only these parts of the repository, read-only, bound to 127.0.0.1:
//   /                          → web/index.html
//   /web/…                     → web/
//   /src/js/…                  → the npm package's JS (browser entry /src/js/index.js)
//   /dist/…                    → the built Embind module (memread-core.mjs / .wasm)
//   /bench/…  (only .js)       → the isomorphic benchmark suite
//   /node_modules/@tensorflow/… → TF.js (used by the benchmark page as the comparison)
//   /banks/…  (.safetensors, .json, .md) → the shipped banks and their index (banks/index.json)
// and, only when started with startServer({tests: true}) (the browser tests; never `npm start`):
//   /tests/web/pages/…         → the test pages
//   /tests/fixtures/…          → the test banks and texts
// and, only when started with startServer({bench: true}) (bench/e2e.js; never `npm start`), the
// end-to-end benchmark's ONNX peer, which bench/peers/gpt-onnx/setup installs and exports:
//   /bench/peers/gpt-onnx/node_modules/onnxruntime-web/dist/…  (only .mjs, .wasm) → onnxruntime-web
//   /build/bench/gpt-onnx/…  (only .onnx)  → the exported decoder
//   /build/bench/memory/…  (.safetensors, .txt)  → bench:memory's memory files and texts
// Everything else is 404. Paths are decoded, '..' segments are rejected and the resolved file
// must lie inside the allowed root (symlinks are resolved too).
//
// Headers on every response:
//   Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'
//     No inline scripts and no eval anywhere. TF.js's UMD builds (tf-core.min.js,
//     tf-backend-wasm.min.js) were checked: they contain no eval/new Function and run under this
//     policy (its threaded binary would need blob: workers, but the benchmark forces 1 thread).
//     The Embind glue must be linked with -sDYNAMIC_EXECUTION=0 (Embind otherwise uses new Function).
//     onnxruntime-web 1.31's wasm-only build (dist/ort.wasm.bundle.min.mjs, the page's) has no
//     eval/new Function either (its default ort.bundle.min.mjs, WebGPU included, does), and with
//     numThreads = 1 it starts no worker.
//   Cross-Origin-Opener-Policy: same-origin + Cross-Origin-Embedder-Policy: require-corp
//     The page is then cross-origin isolated, which gives performance.now() 5 µs resolution in
//     Chromium instead of 100 µs (matters for the benchmark). Everything is same-origin here.
//   X-Content-Type-Options: nosniff, Cache-Control: no-cache.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const CSP = "script-src 'self' 'wasm-unsafe-eval'";

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

// URL prefix → { dir (relative to repo), exts (allowed extensions or null for any known type) }
const ROUTES = [
  { prefix: '/web/', dir: 'web', exts: null },
  { prefix: '/src/js/', dir: 'src/js', exts: null },
  { prefix: '/dist/', dir: 'dist', exts: null },
  { prefix: '/bench/', dir: 'bench', exts: ['.js'] },
  { prefix: '/node_modules/@tensorflow/', dir: 'node_modules/@tensorflow', exts: null },
  { prefix: '/banks/', dir: 'banks', exts: ['.safetensors', '.json', '.md'] },
];

// Served only by startServer({tests: true}).
const TEST_ROUTES = [
  { prefix: '/tests/web/pages/', dir: 'tests/web/pages', exts: null },
  { prefix: '/tests/fixtures/', dir: 'tests/fixtures', exts: null },
];

// Served only by startServer({bench: true}); before ROUTES, whose /bench/ serves only .js.
const BENCH_ROUTES = [
  { prefix: '/bench/peers/gpt-onnx/node_modules/onnxruntime-web/dist/', dir: 'bench/peers/gpt-onnx/node_modules/onnxruntime-web/dist', exts: ['.mjs', '.wasm'] },
  { prefix: '/build/bench/gpt-onnx/', dir: 'build/bench/gpt-onnx', exts: ['.onnx'] },
  { prefix: '/build/bench/memory/', dir: 'build/bench/memory', exts: ['.safetensors', '.txt'] },
];

function baseHeaders(extra = {}) {
  return {
    'Content-Security-Policy': CSP,
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
    ...extra,
  };
}

function send(res, status, body, type = 'text/plain; charset=utf-8', head = false) {
  const buf = Buffer.from(body);
  res.writeHead(status, baseHeaders({ 'Content-Type': type, 'Content-Length': buf.length }));
  res.end(head ? undefined : buf);
}

function mimeOf(file) {
  const ext = path.extname(file).toLowerCase();
  return MIME[ext] || null;
}

// Map a URL path to an absolute file path inside an allowed root, or null.
export function resolveRequest(urlPath, root = ROOT, routes = ROUTES) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\')) return null;
  if (p.split('/').some((seg) => seg === '..' || seg === '.')) return null;
  if (p === '/' || p === '/index.html') return { file: path.join(root, 'web', 'index.html'), base: path.join(root, 'web') };
  for (const r of routes) {
    if (!p.startsWith(r.prefix)) continue;
    const rel = p.slice(r.prefix.length);
    if (!rel) return null;
    if (r.exts && !r.exts.includes(path.extname(rel).toLowerCase())) return null;
    const base = path.join(root, r.dir);
    const file = path.resolve(base, rel);
    if (file !== base && !file.startsWith(base + path.sep)) return null;
    return { file, base };
  }
  return null;
}

function handler(root, routes) {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    const head = req.method === 'HEAD';
    let url;
    try {
      url = new URL(req.url, 'http://localhost');
    } catch {
      return send(res, 400, 'bad request\n', undefined, head);
    }
    const hit = resolveRequest(url.pathname, root, routes);
    if (!hit) return send(res, 404, 'not found\n', undefined, head);
    let real, realBase;
    try {
      real = fs.realpathSync(hit.file);
      realBase = fs.realpathSync(hit.base);
    } catch {
      return send(res, 404, 'not found\n', undefined, head);
    }
    if (!real.startsWith(realBase + path.sep)) return send(res, 404, 'not found\n', undefined, head);
    let st;
    try {
      st = fs.statSync(real);
    } catch {
      return send(res, 404, 'not found\n', undefined, head);
    }
    if (!st.isFile()) return send(res, 404, 'not found\n', undefined, head);
    const type = mimeOf(real);
    if (!type) return send(res, 404, 'not found\n', undefined, head);
    res.writeHead(200, baseHeaders({ 'Content-Type': type, 'Content-Length': st.size }));
    if (head) return res.end();
    const stream = fs.createReadStream(real);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
}

/**
 * Start the static server. port 0 picks a free port; tests: true also serves the test routes;
 * bench: true also serves the ONNX peer of the end-to-end benchmark.
 * @returns {Promise<{server: http.Server, url: string, close: () => Promise<void>}>}
 */
export function startServer({ port = 8080, host = '127.0.0.1', root = ROOT, tests = false, bench = false } = {}) {
  return new Promise((resolve, reject) => {
    const routes = [...(bench ? BENCH_ROUTES : []), ...ROUTES, ...(tests ? TEST_ROUTES : [])];
    const server = http.createServer(handler(root, routes));
    server.keepAliveTimeout = 2000;
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const url = `http://${host}:${addr.port}/`;
      const close = () =>
        new Promise((r) => {
          server.closeAllConnections?.();
          server.close(() => r());
        });
      resolve({ server, url, close });
    });
  });
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const port = Number(process.env.PORT || 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: PORT must be an integer 0..65535, got ${JSON.stringify(process.env.PORT)}`);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'memread-core.wasm'))) {
    console.warn('serve: dist/memread-core.wasm is missing — run `npm run build` first (the page needs it).');
  }
  startServer({ port }).then(
    ({ url }) => console.log(`memread: serving on ${url}  (kernel benchmark: ${url}web/bench.html)`),
    (err) => {
      console.error(`serve: cannot listen on 127.0.0.1:${port}: ${err.code || err.message}`);
      process.exit(1);
    },
  );
}
