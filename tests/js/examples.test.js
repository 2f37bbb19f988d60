// Every example output written in the README and the types is what the shipped bank gives.
//
// An example is a call on `machine` followed by `// → value`, on the same line or the next:
//   machine.complete('He walked into the ro', { topK: 2 });
//   // → [{ text: 'om', prob: 0.469, tokens: [1495] }, …]
// or, for generate, a loop that adds the pieces to `out`, then `// → out === '…'`. The call is run
// on the default bank (defaultBank(), what the package ships); the value is compared as written:
// strings exactly, numbers to the digits shown, objects on the keys shown, arrays element by
// element (a trailing … allows more). A CLI example is a line `$ build/native/memread …` and the
// line of output under it, compared exactly.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { defaultBank, loadMachine } from '../../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FILES = ['README.md', 'src/js/index.d.ts'];
const MORE = Symbol('…');

/** The examples of one file: {line, call, expected} with call the JS after `machine.`. */
export function examplesIn(text) {
  const lines = text.split('\n').map((line) => line.replace(/^\s*\*\s?/, ''));  // JSDoc's leading " * "
  const found = [];
  lines.forEach((line, i) => {
    const arrow = line.match(/\/\/ → (.*?)(?:\s{3,}\S.*)?$/);
    if (!arrow) return;
    const callLine = /machine\.\w+\(/.test(line.slice(0, arrow.index)) ? line : lines[i - 1];
    const generate = callLine.match(/machine\.generate\(\s*('[^']*')\s*,\s*(\{.*\}|\w+)\s*\)/);
    if (generate) {
      // The options may be a variable declared on the line before the loop.
      const options = generate[2].startsWith('{') ? generate[2]
        : lines.slice(0, i).reverse().map((l) => l.match(new RegExp(`const ${generate[2]} = (\\{.*\\});`))).find(Boolean)?.[1];
      found.push({ line: i + 1, kind: 'generate', text: generate[1], options, expected: arrow[1].replace(/^out === /, '') });
      return;
    }
    const call = callLine.match(/machine\.(predict|complete|evaluate|tokenize)\((.*)\);/);
    if (call) found.push({ line: i + 1, kind: 'call', method: call[1], args: call[2], expected: arrow[1] });
  });
  return found;
}

// The written value as a JS value: … becomes a marker that allows more elements.
function parseWritten(written) {
  const source = written.replace(/,?\s*…/g, (m) => (m.startsWith(',') ? ', MORE' : 'MORE'));
  return new Function('MORE', `return (${source});`)(MORE);
}

function decimals(number) {
  const text = String(number);
  return text.includes('.') ? text.length - text.indexOf('.') - 1 : 0;
}

function compare(actual, written, where) {
  if (Array.isArray(written)) {
    const open = written.at(-1) === MORE;
    const items = open ? written.slice(0, -1) : written;
    const list = Array.from(actual);
    if (open) assert.ok(list.length >= items.length, `${where}: at least ${items.length} items, got ${list.length}`);
    else assert.equal(list.length, items.length, `${where}: ${items.length} items`);
    items.forEach((item, i) => compare(list[i], item, `${where}[${i}]`));
  } else if (written !== null && typeof written === 'object') {
    for (const [key, value] of Object.entries(written)) compare(actual?.[key], value, `${where}.${key}`);
  } else if (typeof written === 'number') {
    const tolerance = 0.5 * 10 ** -decimals(written) + 1e-12;
    assert.ok(Math.abs(actual - written) <= tolerance, `${where}: ${actual} is not ${written} to the digits shown`);
  } else {
    assert.equal(actual, written, where);
  }
}

test('the example checker reads examples and compares as written', () => {
  const examples = examplesIn([
    " * machine.complete('He walked', { topK: 2 });",
    " * // → [{ text: 'om', prob: 0.469 }, …]",
    'machine.evaluate(text);  // → { tokens: 3 }',
    "const options = { seed: 1 };",
    "for await (const piece of machine.generate('The', options)) out += piece;",
    "// → out === 'x'",
  ].join('\n'));
  assert.deepEqual(examples.map((e) => e.kind), ['call', 'call', 'generate']);
  assert.equal(examples[2].options, '{ seed: 1 }');
  compare([{ text: 'om', prob: 0.4694, extra: 1 }, { text: 'x' }], parseWritten("[{ text: 'om', prob: 0.469 }, …]"), 'ok');
  assert.throws(() => compare([{ text: 'om', prob: 0.4704 }], parseWritten("[{ text: 'om', prob: 0.469 }]"), 'digits'));
  assert.throws(() => compare([{ text: 'om' }, { text: 'x' }], parseWritten("[{ text: 'om' }]"), 'length'));
  assert.throws(() => compare([{ text: 'on' }], parseWritten("[{ text: 'om' }, …]"), 'text'));
});

/** The CLI examples of one file: {line, args, expected}. */
export function cliExamplesIn(text) {
  const lines = text.split('\n');
  const found = [];
  lines.forEach((line, i) => {
    const command = line.match(/^\s*\$ build\/native\/memread (.*)$/);
    if (!command) return;
    const args = [...command[1].matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
    found.push({ line: i + 1, args, expected: lines[i + 1].trim() });
  });
  return found;
}

test('every CLI example in the README prints what it says', () => {
  const examples = cliExamplesIn(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(examples.length >= 3, `the CLI examples were found (${examples.length})`);
  for (const { line, args, expected } of examples) {
    const output = execFileSync(path.join(ROOT, 'build/native/memread'), args, { cwd: ROOT, encoding: 'utf8' }).trim();
    assert.equal(output, expected, `README.md:${line}`);
  }
});

test('every example output in the README and index.d.ts is what the shipped bank gives', async () => {
  const machine = await loadMachine(defaultBank());
  let checked = 0;
  for (const file of FILES) {
    for (const example of examplesIn(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const where = `${file}:${example.line}`;
      let actual;
      if (example.kind === 'generate') {
        actual = '';
        const options = new Function(`return (${example.options ?? '{}'});`)();
        for await (const piece of machine.generate(new Function(`return ${example.text};`)(), options)) actual += piece;
      } else {
        actual = new Function('machine', `return machine.${example.method}(${example.args});`)(machine);
      }
      compare(actual, parseWritten(example.expected), where);
      checked++;
    }
  }
  assert.ok(checked >= 6, `the examples were found (${checked})`);
  machine.dispose();
});
