// Shared by the browser tests: the dev server with the test routes, Debian's Chromium with the
// harness page open, and a second server (another origin) that answers badly on purpose.
import http from 'node:http';

import { launchChromium } from '../../bench/chromium.js';
import { startServer } from '../../scripts/serve.js';

export const FIXTURE = '/tests/fixtures/tiny-hidden.safetensors';

/**
 * Serves the repository (with the test routes), opens the harness page in Chromium, and counts
 * the requests the server receives per path (`hits.get(path)`).
 */
/**
 * The dev server (on a free port, counting the requests it receives per path in `hits`) and
 * Debian's Chromium: what every browser test file starts in `before` and ends in `after`.
 */
export async function startServerAndBrowser({ tests = false } = {}) {
  const server = await startServer({ port: 0, tests });
  const hits = new Map();
  server.server.on('request', (req) => {
    const path = new URL(req.url, 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
  });
  let browser;
  try {
    browser = await launchChromium();
  } catch (error) {
    await server.close();
    throw error;
  }
  return {
    server,
    browser,
    hits,
    url: server.url,
    async close() {
      await browser.close().catch(() => {});
      await server.close();
    },
  };
}

export async function openHarness() {
  const { server, browser, hits, close } = await startServerAndBrowser({ tests: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    // The tests ask for missing banks on purpose: the browser logs each 404 ("Failed to load").
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  await page.goto(new URL('tests/web/pages/harness.html', server.url).href);
  await page.waitForFunction(() => window.__ready !== undefined, null, { timeout: 20_000 });
  const ready = await page.evaluate(() => window.__ready);
  if (ready !== true) throw new Error(`${ready}\n${problems.join('\n')}`);
  return {
    page,
    hits,
    problems,
    url: server.url,
    close,
  };
}

/**
 * Another origin (another port) that answers every request for a bank wrongly, with the CORS
 * headers a page needs to read its answers:
 *   /page.safetensors      200, an HTML page (a server's "not found" page or an SPA fallback)
 *   /junk.safetensors      200, application/octet-stream, but not a safetensors file
 *   /stalled.safetensors   200, the first `stalledPrefix` bytes of a bank, then nothing: the
 *                          download never ends (only an abort, or close(), ends it)
 *   anything else          404
 */
export function startBadServer({ stalledPrefix = new Uint8Array(0) } = {}) {
  const hits = new Map();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const headers = {
      'Access-Control-Allow-Origin': '*',
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'Cache-Control': 'no-store',
    };
    if (path === '/page.safetensors') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Welcome</title><p>This is a web page, not a bank.</p>');
    } else if (path === '/stalled.safetensors') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream',
        'Content-Length': String(stalledPrefix.length * 2) });
      res.write(stalledPrefix);
    } else if (path === '/junk.safetensors') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream' });
      res.end('these bytes are not a safetensors file at all');
    } else {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        hits,
        close: () => new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
