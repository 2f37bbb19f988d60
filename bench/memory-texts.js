// The texts bench:memory teaches a bank (docs/memory.md): ones the Brown corpus has never seen.
//
//   templated  an order log of a made-up shop, generated here from a seed: names, products, towns
//              and carriers invented for it, so every repeat is one only the memory can know
//   free-form  the GNU General Public License, version 3 (/usr/share/common-licenses/GPL-3, in
//              Debian's base-files on every machine): real modern English prose, read at run time
//              and never copied into this repository (its licence allows verbatim copies; we keep none)
//
// The gate and the other constants are chosen on a second pair of the same kinds (an order log of
// another seed, and the GPL version 2), so the figures reported are of texts the choice never saw.
import { readFileSync } from 'node:fs';
import { mulberry32 } from './suite.js';

const FIRST = ['Quenby', 'Oyelaran', 'Tamsin', 'Ravik', 'Ilse', 'Bartholomew', 'Ngozi', 'Caspian', 'Wren', 'Dmitra',
  'Emrys', 'Solveig', 'Kaito', 'Marisol', 'Anouk', 'Teodor'];
const LAST = ['Vantreece', 'Ashdown', 'Kilbride', 'Morwenna', 'Szabo', 'Okonkwo', 'Pellerin', 'Dunmore', 'Halloran',
  'Ferreira', 'Lindqvist', 'Achterberg'];
const PRODUCTS = [
  ['Larkspur kettle', 'KT-204'], ['Brambleton mug', 'MG-118'], ['Fenwick teapot', 'TP-330'],
  ['Ostrander lamp', 'LP-072'], ['Quillfeather notebook', 'NB-515'], ['Harrowgate scarf', 'SC-640'],
  ['Tindall backpack', 'BP-221'], ['Corvino espresso cups', 'EC-909'], ['Maplewhite candle', 'CD-387'],
  ['Zephyrine umbrella', 'UM-456'],
];
const TOWNS = ['Penzance', 'Aberystwyth', 'Tromsø', 'Ljubljana', 'Valparaíso', 'Kraków', 'Oaxaca', 'Dunedin'];
const CARRIERS = ['Parcelway', 'SwiftCrate', 'Northlink Post'];

/** An order log of `orders` lines from `seed`: the same seed gives the same text. */
export function orderLog(seed, orders = 400) {
  const random = mulberry32(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const lines = [];
  for (let i = 0; i < orders; i++) {
    const [product, sku] = pick(PRODUCTS);
    const quantity = 1 + Math.floor(random() * 4);
    const day = String(1 + Math.floor(random() * 28)).padStart(2, '0');
    const month = String(1 + Math.floor(random() * 12)).padStart(2, '0');
    lines.push(`Order ${10400 + i} on 2026-${month}-${day}: ${quantity} x ${product} (SKU ${sku}) for ` +
      `${pick(FIRST)} ${pick(LAST)} of ${pick(TOWNS)}, shipped by ${pick(CARRIERS)}.`);
  }
  return lines.join('\n') + '\n';
}

/** A licence text from Debian's base-files, as prose: its paragraphs with their line breaks joined. */
export function licenceProse(path) {
  const raw = readFileSync(path, 'utf8');
  return raw.split(/\n\s*\n/).map((p) => p.trim().replace(/\s+/g, ' ')).filter((p) => p.length > 0).join('\n') + '\n';
}

/** The reported texts and the texts the constants were chosen on. */
export function memoryTexts() {
  return {
    reported: [
      { name: 'order-log', kind: 'templated', text: orderLog(1) },
      { name: 'gpl-3', kind: 'free-form', text: licenceProse('/usr/share/common-licenses/GPL-3') },
    ],
    tuning: [
      { name: 'order-log-tuning', kind: 'templated', text: orderLog(2) },
      { name: 'gpl-2', kind: 'free-form', text: licenceProse('/usr/share/common-licenses/GPL-2') },
    ],
  };
}
