#!/usr/bin/env node
// The typing benchmark (`npm run bench:typing`): how often the suggestions are right for a person
// typing a text, with `predict` (the raw next token) and with `complete` (the word being typed).
//
// A text is walked caret by caret: at every position, the text before the caret is read and the
// suggestions compared with what the text says next. A suggestion is a hit when the text after the
// caret starts with it (a token's bytes for predict; a completion's text for complete). Positions
// are mid-word (the character before the caret is not whitespace) or after a space (or the start
// of the text). Reported: top-1 and top-3 hit rates at each kind of position; and the keystroke
// savings of a person who types the text and presses Tab whenever the first suggestion is right
// (1 − keys pressed / characters), for each method.
//
// Texts: the first 3,000 characters of the Brown test split (DESIGN §6; written with
// build/native/memread-ngram-baseline --write-split), and 3,000 characters of the preamble and
// first sections of the GNU GPL version 3 (/usr/share/common-licenses/GPL-3, in every Debian
// system's base-files; verbatim copies are allowed), reflowed: lines joined by spaces, paragraphs
// by a newline, as the Brown corpus is. Prints a table and writes bench/results/typing.json.
//
//   node bench/typing.js [--bank FILE] [--chars N] [--out FILE]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadMachine } from '../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SPLITTER = path.join(ROOT, 'build/native/memread-ngram-baseline');
const GPL = '/usr/share/common-licenses/GPL-3';
const WHITESPACE = /\s/u;

function parseArgs(argv) {
  const options = { bank: path.join(ROOT, 'banks/en-brown.safetensors'), chars: 3000, out: path.join(ROOT, 'bench/results/typing.json') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[++i];
    if (argv[i - 1] === '--bank') options.bank = value;
    else if (argv[i - 1] === '--chars') options.chars = Number(value);
    else if (argv[i - 1] === '--out') options.out = value;
    else throw new Error(`unknown option ${argv[i - 1]} (--bank FILE, --chars N, --out FILE)`);
  }
  return options;
}

/** The first `chars` characters of the Brown test split. */
function brownTest(chars) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memread-typing-'));
  try {
    execFileSync(SPLITTER, ['--write-split', dir], { stdio: 'ignore' });
    return [...fs.readFileSync(path.join(dir, 'test.txt'), 'utf8')].slice(0, chars).join('');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `chars` characters of the GPL-3 from its preamble on, reflowed into paragraphs of one line. */
function gplPreamble(chars) {
  const text = fs.readFileSync(GPL, 'utf8');
  const from = text.slice(text.indexOf('Preamble') + 'Preamble'.length);
  const paragraphs = from.split(/\n\s*\n/).map((p) => p.trim().split(/\s+/).join(' ')).filter(Boolean);
  return [...paragraphs.join('\n')].slice(0, chars).join('');
}

/** The suggestions of a method for the text before the caret: strings to insert, best first. */
function suggest(machine, method, before) {
  if (before === '') return [];
  if (method === 'predict') return machine.predict(before, { topK: 3 }).map((p) => p.token);
  return machine.complete(before, { topK: 3 }).map((c) => c.text);
}

function hits(suggestions, after) {
  const right = (s) => s !== '' && after.startsWith(s);
  return { top1: suggestions.length > 0 && right(suggestions[0]), top3: suggestions.slice(0, 3).some(right) };
}

/** Hit rates at every caret position of `text`, by kind of position. */
function walk(machine, method, text) {
  const counts = { midWord: { positions: 0, top1: 0, top3: 0 }, afterSpace: { positions: 0, top1: 0, top3: 0 } };
  const started = performance.now();
  for (let at = 1; at < text.length; at++) {
    const kind = WHITESPACE.test(text[at - 1]) ? counts.afterSpace : counts.midWord;
    const { top1, top3 } = hits(suggest(machine, method, text.slice(0, at)), text.slice(at));
    kind.positions++;
    kind.top1 += top1;
    kind.top3 += top3;
  }
  const ms = (performance.now() - started) / (text.length - 1);
  const rate = (k) => ({ positions: k.positions, top1: k.top1 / k.positions, top3: k.top3 / k.positions });
  return { midWord: rate(counts.midWord), afterSpace: rate(counts.afterSpace), msPerPosition: ms };
}

/** A person typing `text`, pressing Tab whenever the first suggestion is right. */
function typeWithTab(machine, method, text) {
  let at = 0, keys = 0, accepted = 0;
  while (at < text.length) {
    const [first] = suggest(machine, method, text.slice(0, at));
    if (first && text.startsWith(first, at)) {
      at += first.length;
      accepted++;
    } else {
      at += text.codePointAt(at) > 0xffff ? 2 : 1;
    }
    keys++;
  }
  return { characters: text.length, keys, accepted, savings: 1 - keys / text.length };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const machine = await loadMachine(new Uint8Array(fs.readFileSync(options.bank)));
  const texts = [
    { name: 'Brown test split', source: 'the first characters of test.txt (DESIGN §6 split)', text: brownTest(options.chars) },
    { name: 'GNU GPL v3 preamble', source: `${GPL}, from "Preamble", reflowed`, text: gplPreamble(options.chars) },
  ];
  const rows = [];
  for (const { name, source, text } of texts) {
    for (const method of ['predict', 'complete']) {
      const rates = walk(machine, method, text);
      const typing = typeWithTab(machine, method, text);
      rows.push({ text: name, source, characters: text.length, method, ...rates, typing });
      process.stderr.write(`  ${name}, ${method}: done\n`);
    }
  }
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`# Typing: ${machine.info.name}, top-1 / top-3 hit rates and keystroke savings\n`);
  console.log('| text | method | mid-word top-1 | mid-word top-3 | after space top-1 | after space top-3 | keystroke savings | ms per position |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.text} (${r.characters} chars; ${r.midWord.positions} mid-word) | ${r.method} | ${pct(r.midWord.top1)} | ${pct(r.midWord.top3)} | ` +
      `${pct(r.afterSpace.top1)} | ${pct(r.afterSpace.top3)} | ${pct(r.typing.savings)} (${r.typing.keys} keys) | ${r.msPerPosition.toFixed(2)} |`);
  }
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify({ bank: machine.info.name, bankBytes: machine.info.bytes, node: process.version,
    rows, date: new Date().toISOString() }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), options.out)}`);
  machine.dispose();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`bench:typing: ${error.message}`);
    process.exit(1);
  });
}
