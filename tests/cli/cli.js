// Running build/native/memread from the CLI tests: its result, its JSON, and the shape of a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// MEMREAD_CLI runs the same tests against another build of the CLI (scripts/test-sanitize).
export const MEMREAD = process.env.MEMREAD_CLI ? path.resolve(process.env.MEMREAD_CLI) : path.join(ROOT, 'build/native/memread');

export function run(...args) {
  const result = spawnSync(MEMREAD, args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, signal: result.signal };
}

export function json(...args) {
  const result = run(...args);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

// A failure is one line on stderr naming the problem, nothing on stdout, and the exit code.
export function assertFails(result, code, pattern, prefix = 'memread') {
  assert.equal(result.signal, null, 'no crash');
  assert.equal(result.code, code, `exit code (stderr: ${result.stderr})`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, new RegExp(`^${prefix}: [^\\n]+\\n$`), 'exactly one line');
  assert.match(result.stderr, pattern);
}
