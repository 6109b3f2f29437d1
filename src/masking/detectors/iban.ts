import type { Detector, Span } from '../types.ts';
import { mod97Valid } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/** IBAN length per country (ISO 13616 registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

// Country and check digits, then the start of the BBAN (printed in groups of four, or not at all).
const CANDIDATE = /(?<![A-Za-z0-9])[A-Z][A-Z]\d\d(?: ?[A-Z0-9]){4}/g;
const ALNUM_UPPER = /[A-Z0-9]/;

/** Reads `length` IBAN characters from `start`, allowing single spaces every four; returns the end or -1. */
function readIban(text: string, start: number, length: number): number {
  let i = start;
  let n = 0;
  let spaced: boolean | null = null;
  while (n < length && i < text.length) {
    const ch = text[i]!;
    if (ch === ' ') {
      // Spaces only between complete groups of four, and either always or never.
      if (n % 4 !== 0 || spaced === false) return -1;
      spaced = true;
      i++;
      continue;
    }
    if (!ALNUM_UPPER.test(ch)) return -1;
    if (n > 0 && n % 4 === 0 && spaced === null) spaced = false;
    if (n > 0 && n % 4 === 0 && spaced === true && text[i - 1] !== ' ') return -1;
    n++;
    i++;
  }
  if (n !== length) return -1;
  const after = text.charCodeAt(i);
  const isAlnum = (after >= 48 && after <= 57) || (after >= 65 && after <= 90) || (after >= 97 && after <= 122);
  return isAlnum ? -1 : i;
}

export const ibanDetector: Detector = {
  type: 'iban',
  name: 'iban',
  signalled: true,
  priority: PRIORITY.iban,
  normalize: (v) => v.replace(/ /g, ''),
  find(text: string, out: Span[]): void {
    CANDIDATE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = CANDIDATE.exec(text)) !== null) {
      const length = IBAN_LENGTHS[m[0].slice(0, 2)];
      const end = length === undefined ? -1 : readIban(text, m.index, length);
      if (end !== -1 && mod97Valid(text.slice(m.index, end))) {
        out.push({ start: m.index, end, detector: ibanDetector });
        CANDIDATE.lastIndex = end;
      } else {
        // The candidate may have swallowed the start of a real IBAN (`AB12 GB82 WEST…`).
        CANDIDATE.lastIndex = m.index + 4;
      }
    }
  },
};
