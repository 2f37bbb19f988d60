// Drive the benchmark page in Debian's Chromium through playwright-core (no browser download).
import fs from 'node:fs';
import { startServer } from '../scripts/serve.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch headless Chromium, or throw an Error that says what is missing. */
export async function launchChromium() {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH, or install Debian's chromium)`);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (npm ci): ${e.message}`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Serve the repo, open the benchmark page (web/bench.html) with ?autorun=1 and the given parameters, wait for
 * window.__benchResults, and return { info, suite, browserVersion }.
 * @param params  query parameters for the page (quick, seconds, d, n, b, impls)
 * @param onLog   receives the page's "[bench] …" console lines (progress)
 * @param screenshot  optional path: save a full-page screenshot after the run
 */
export async function runInChromium({ params = {}, onLog = () => {}, timeoutMs = 30 * 60 * 1000, screenshot } = {}) {
  const srv = await startServer({ port: 0 });
  let browser;
  try {
    browser = await launchChromium();
    const browserVersion = browser.version();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench]')) onLog(text.slice(7).trim());
      else if (msg.type() === 'error') problems.push(`console error: ${text}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
    });

    const qs = new URLSearchParams({ autorun: '1' });
    for (const [k, v] of Object.entries(params)) if (v != null && v !== false) qs.set(k, String(v));
    const url = `${srv.url}web/bench.html?${qs}`;
    await page.goto(url, { waitUntil: 'load' });
    try {
      await page.waitForFunction(() => window.__benchResults || window.__benchError, null, {
        timeout: timeoutMs,
        polling: 500,
      });
    } catch (e) {
      throw new Error(`the page did not finish within ${timeoutMs / 1000} s (${e.message})\n${problems.join('\n')}`);
    }
    const err = await page.evaluate(() => window.__benchError || null);
    if (err) throw new Error(`benchmark page failed: ${err}${problems.length ? '\n' + problems.join('\n') : ''}`);
    const results = await page.evaluate(() => window.__benchResults);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    await context.close();
    return { ...results, browserVersion, url, problems };
  } finally {
    if (browser) await browser.close().catch(() => {});
    await srv.close();
  }
}
