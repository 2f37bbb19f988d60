#!/usr/bin/env node
// How often sampled continuations of short prompts loop (`npm run bench:generation`).
//
// A person opens the page, types a few words and presses Generate: the continuation should not fall
// into "ury ury ury ury". For 12 short prompts and 5 seeds each, this samples a continuation of 48
// tokens with the npm package (Node, the real wasm module) under several settings, and counts a
// continuation as looping when it has
//   - one token 4 times in a row (the same piece 4 times: the measure), or
//   - any span of 1 to 8 tokens repeated 3 times in a row ("jury ury jury ury jury ury").
// It also reports the share of distinct tokens (pieces) per continuation. Prints a table and writes
// bench/results/generation.json.
//
//   node bench/generation.js [--bank FILE] [--tokens N] [--out FILE]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadMachine } from '../src/js/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PROMPTS = [
  'The jury said', 'The jury said ', 'It was', 'She', 'In the morning', 'The president of the',
  'We', 'He said that', 'The city of', 'There is no', 'I think', 'The new',
];
export const SEEDS = [1, 2, 3, 4, 5];

// The settings compared: the page's defaults before this round, each penalty alone, and both.
export const SETTINGS = [
  { name: 'temperature 0.8, top-p 0.95', options: { temperature: 0.8, topP: 0.95 } },
  { name: '+ repetitionPenalty 1.3', options: { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.3 } },
  { name: '+ noRepeatNgramSize 3', options: { temperature: 0.8, topP: 0.95, noRepeatNgramSize: 3 } },
  { name: '+ both (the page)', options: { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.3, noRepeatNgramSize: 3 } },
];

/** Whether `pieces` has one piece 4 times in a row. */
export function repeatsATokenFourTimes(pieces) {
  for (let i = 3; i < pieces.length; i++) {
    if (pieces[i] === pieces[i - 1] && pieces[i] === pieces[i - 2] && pieces[i] === pieces[i - 3]) return true;
  }
  return false;
}

/** Whether `pieces` has a span of 1 to 8 pieces repeated 3 times in a row. */
export function repeatsASpanThreeTimes(pieces) {
  for (let span = 1; span <= 8; span++) {
    for (let start = 0; start + 3 * span <= pieces.length; start++) {
      let same = true;
      for (let k = 0; k < 2 * span && same; k++) same = pieces[start + k] === pieces[start + span + k];
      if (same) return true;
    }
  }
  return false;
}

function parseArgs(argv) {
  const options = { bank: path.join(ROOT, 'banks/en-brown.safetensors'), tokens: 48, out: path.join(ROOT, 'bench/results/generation.json') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--bank') options.bank = value, i++;
    else if (argv[i] === '--tokens') options.tokens = Number(value), i++;
    else if (argv[i] === '--out') options.out = value, i++;
    else throw new Error(`unknown option ${argv[i]} (--bank FILE, --tokens N, --out FILE)`);
  }
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const machine = await loadMachine(new Uint8Array(fs.readFileSync(options.bank)));
  const rows = [];
  for (const setting of SETTINGS) {
    let fourInARow = 0, spans = 0, distinct = 0, runs = 0;
    const examples = [];
    for (const prompt of PROMPTS) {
      for (const seed of SEEDS) {
        const pieces = [];
        for await (const piece of machine.generate(prompt, { maxTokens: options.tokens, seed, ...setting.options })) pieces.push(piece);
        runs++;
        if (repeatsATokenFourTimes(pieces)) fourInARow++;
        if (repeatsASpanThreeTimes(pieces)) spans++;
        distinct += new Set(pieces).size / Math.max(1, pieces.length);
        if (seed === 1 && examples.length < 3) examples.push({ prompt, text: pieces.join('') });
      }
    }
    rows.push({ setting: setting.name, options: setting.options, runs, fourInARow, spans, distinctShare: distinct / runs, examples });
  }
  console.log(`# Loops in sampled continuations: ${machine.info.name}, ${PROMPTS.length} prompts × ${SEEDS.length} seeds, ${options.tokens} tokens each\n`);
  console.log('| setting | one token 4× in a row | a span 3× in a row | distinct tokens |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.setting} | ${r.fourInARow} of ${r.runs} | ${r.spans} of ${r.runs} | ${(100 * r.distinctShare).toFixed(0)}% |`);
  }
  for (const r of rows) {
    console.log(`\n${r.setting}:`);
    for (const e of r.examples) console.log(`  ${JSON.stringify(e.prompt)} → ${JSON.stringify(e.text.slice(0, 100))}`);
  }
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify({ bank: machine.info.name, bankBytes: machine.info.bytes, tokens: options.tokens,
    prompts: PROMPTS, seeds: SEEDS, rows, date: new Date().toISOString() }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), options.out)}`);
  machine.dispose();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`bench:generation: ${error.message}`);
    process.exit(1);
  });
}
