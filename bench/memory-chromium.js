// bench:memory in Debian's Chromium: web/memory-bench.html, served with the benchmark's routes
// (build/bench/memory/ holds the memory files and texts bench/memory.js wrote).
import { launchChromium } from './chromium.js';
import { startServer } from '../scripts/serve.js';

/**
 * @param {{bank: string, rememberText: string, context: string, typed: string, keystrokes: number,
 *          memories: {slots: number, url: string|null}[]}} params  URLs relative to the server's root
 * @returns {Promise<{remember: object, cost: object[], userAgent: string, browserVersion: string}>}
 */
export async function runMemoryInChromium(params, { onLog = () => {}, timeoutMs = 20 * 60 * 1000 } = {}) {
  const server = await startServer({ port: 0, bench: true });
  let browser;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (message) => {
      if (message.text().startsWith('[memory]')) onLog(message.text().slice(9));
      else if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${server.url}web/memory-bench.html`, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.__memoryRun === 'function', null, { timeout: 30_000 });
    page.setDefaultTimeout(timeoutMs);
    const result = await page.evaluate((p) => window.__memoryRun(p), params);
    if (problems.length > 0) throw new Error(`the memory benchmark page reported: ${problems.join('\n')}`);
    return { ...result, browserVersion: browser.version() };
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
}
