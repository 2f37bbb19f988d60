// A short soak (bench/soak.js; `npm run soak` runs the full one): 5,000 typing-like predictions on
// each of two banks (the fixture, and a bigger random bank made by build/native/memread
// random-bank), with generations and checks against fresh reads, then 100 load/dispose cycles.
// The wasm memory and the JS heap (after gc) must not grow after the warm-up, and every Machine
// and Generation handle must have been deleted.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatReport, growthVerdict, runSoak } from '../../bench/soak.js';

test('the growth verdict: flat and noisy series pass, a leak fails', () => {
  const flat = Array.from({ length: 40 }, () => 100);
  assert.equal(growthVerdict(flat, 0).ok, true);
  const warmup = [10, 50, 90, 100, ...flat];  // growth during the first 10 % is warm-up
  assert.equal(growthVerdict(warmup, 0).ok, true);
  const noisy = flat.map((x, i) => x + (i % 3));
  assert.equal(growthVerdict(noisy, 0).ok, true);
  const leak = Array.from({ length: 40 }, (_, i) => 100 + 2 * i);
  assert.equal(growthVerdict(leak, 0).ok, false);
});

test('a short soak: no growth of wasm memory or JS heap, no Embind object left', { timeout: 120_000 }, async (t) => {
  const started = performance.now();
  const report = await runSoak({ predictions: 5_000, cycles: 100, samples: 20, log: (line) => t.diagnostic(line) });
  t.diagnostic(`soak took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const table = formatReport(report, { rows: 4 });
  for (const bank of report.banks) {
    assert.ok(bank.checks >= 5 && bank.generations >= 3, `${bank.name}: the checks and generations ran`);
    assert.equal(bank.wasm.ok, true, `${bank.name}: wasm memory grew\n${table}`);
    assert.equal(bank.js.ok, true, `${bank.name}: JS heap grew\n${table}`);
    assert.deepEqual(bank.objectsLeft, { machines: 0, generationHandles: 0, emvals: 0 }, `${bank.name}: objects left\n${table}`);
  }
  const cycles = report.cyclesPhase;
  assert.equal(cycles.wasm.ok, true, `load/dispose: wasm memory grew\n${table}`);
  assert.equal(cycles.js.ok, true, `load/dispose: JS heap grew\n${table}`);
  assert.deepEqual(cycles.objectsLeft, { machines: 0, generationHandles: 0, emvals: 0 });
  assert.equal(report.created.Machine, 2 * 2 + 100, 'two machines per bank, one per cycle');
  assert.ok(report.created.Generation >= 6, 'the generations made (and deleted) their Generation');
  assert.equal(report.ok, true);
});
