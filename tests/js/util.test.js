// nextMacrotask (src/js/util.js): what generation and the worker's queue wait on between steps.
// It must let events already queued run first, resolve waits in the order they were made, and,
// in Node, not keep a process alive once nothing waits (it keeps one channel open for speed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { nextMacrotask } from '../../src/js/util.js';

test('nextMacrotask lets a task queued before it run first', async () => {
  const order = [];
  const other = new MessageChannel();
  other.port1.onmessage = () => order.push('queued message');
  other.port2.postMessage(null);
  await nextMacrotask();
  order.push('after the wait');
  other.port1.close();
  assert.deepEqual(order, ['queued message', 'after the wait']);
});

test('waits made together resolve in the order they were made, one macrotask each', async () => {
  const order = [];
  await Promise.all([0, 1, 2, 3].map((i) => nextMacrotask().then(() => order.push(i))));
  assert.deepEqual(order, [0, 1, 2, 3]);
});

test('in Node, a process that waited exits when nothing else is pending', () => {
  const script = `import { nextMacrotask } from ${JSON.stringify(new URL('../../src/js/util.js', import.meta.url).href)};
    for (let i = 0; i < 100; i++) await nextMacrotask();
    console.log('waited');`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.error, undefined, 'the process exited by itself (no timeout)');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'waited');
});
