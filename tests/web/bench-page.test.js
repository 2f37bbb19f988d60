// The kernel benchmark page (web/bench.html), in Debian's Chromium (playwright-core): it runs
// in the browser under the strict CSP, every implementation's result checks out against the
// float64 reference, and the table fills in. Plus the dev server's rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runInChromium } from '../../bench/chromium.js';
import { CSP, startServer } from '../../scripts/serve.js';

test('the benchmark page runs every implementation in Chromium with no console errors', async () => {
  const result = await runInChromium({
    params: { quick: 1, seconds: 0.2, d: 64, n: 256, b: '1,64' },
    timeoutMs: 120_000,
    screenshot: 'test-results/bench-page.png',
  });
  assert.deepEqual(result.problems, [], 'console errors, failed requests or HTTP errors');
  const configs = result.configs;
  assert.equal(configs.length, 2, 'one row per configuration (d=64, N=256, B=1 and 64)');
  for (const config of configs) {
    for (const impl of ['membank', 'memread', 'scalar', 'plainjs', 'tfjs']) {
      const cell = config.results[impl];
      assert.ok(cell && cell.us_per_call > 0, `${impl} measured for B=${config.b}`);
      assert.ok(cell.max_abs_err <= config.tolerance,
        `${impl} agrees with the float64 reference (${cell.max_abs_err} > ${config.tolerance})`);
    }
  }
  assert.match(JSON.stringify(result.info), /wasm_simd128/);
});

test('the dev server sends the CSP and serves only the allowed parts of the repository', async () => {
  const server = await startServer({ port: 0 });
  try {
    for (const path of ['', 'web/bench.html']) {
      const page = await fetch(new URL(path, server.url));
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-security-policy'), CSP);
      assert.match(await page.text(), /memread/);
    }
    const wasm = await fetch(new URL('dist/memread-core.wasm', server.url));
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    for (const hidden of ['.git/config', 'package.json', 'src/kernels/mem_read.h', 'web/../package.json',
      'web/%2e%2e/package.json', 'node_modules/playwright-core/package.json']) {
      const res = await fetch(new URL(hidden, server.url));
      assert.equal(res.status, 404, `${hidden} must not be served`);
    }
  } finally {
    await server.close();
  }
});
