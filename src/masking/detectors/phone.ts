import type { Detector, Span } from '../types.ts';
import { digitsOnly } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * National significant number lengths [min, max] for the calling codes seen most often.
 * Unknown codes fall back to a generic 7–12. The table is what lets `+44 20 7946 0958 2 times`
 * stop before the `2`.
 */
const NSN_LENGTHS: Readonly<Record<string, readonly [number, number]>> = {
  '1': [10, 10], '7': [10, 10], '20': [8, 10], '27': [9, 9], '30': [10, 10], '31': [9, 9],
  '32': [8, 9], '33': [9, 9], '34': [9, 9], '36': [8, 9], '39': [6, 11], '40': [9, 9],
  '41': [9, 9], '43': [4, 13], '44': [9, 10], '45': [8, 8], '46': [7, 13], '47': [8, 8],
  '48': [9, 9], '49': [6, 13], '51': [8, 11], '52': [10, 10], '53': [8, 8], '54': [10, 11],
  '55': [10, 11], '56': [9, 9], '57': [10, 10], '58': [10, 10], '60': [7, 10], '61': [9, 9],
  '62': [8, 12], '63': [8, 10], '64': [8, 10], '65': [8, 8], '66': [8, 9], '81': [9, 10],
  '82': [8, 10], '84': [9, 10], '86': [10, 11], '90': [10, 10], '91': [10, 10], '92': [9, 10],
  '94': [9, 9], '98': [10, 10], '212': [9, 9], '234': [8, 10], '254': [9, 9], '351': [9, 9],
  '352': [6, 11], '353': [7, 9], '354': [7, 9], '358': [5, 12], '370': [8, 8], '372': [7, 8],
  '380': [9, 9], '420': [9, 9], '421': [9, 9], '852': [8, 8], '886': [8, 9], '966': [9, 9],
  '971': [8, 9], '972': [8, 9],
};
const FALLBACK_NSN: readonly [number, number] = [7, 12];

function validInternational(digits: string): boolean {
  if (digits.length < 8 || digits.length > 15) return false;
  for (const len of [3, 2, 1]) {
    const range = NSN_LENGTHS[digits.slice(0, len)];
    if (range === undefined) continue;
    const nsn = digits.length - len;
    if (nsn < range[0] || nsn > range[1]) return false;
    return len !== 1 || digits[0] !== '1' || validNanp(digits.slice(1));
  }
  if (digits[0] === '0') return false;
  const nsn = digits.length - 2;
  return nsn >= FALLBACK_NSN[0] && nsn <= FALLBACK_NSN[1];
}

/** NANP: area code and exchange both start with 2–9. */
function validNanp(ten: string): boolean {
  return ten.length === 10 && ten[0] !== '0' && ten[0] !== '1' && ten[3] !== '0' && ten[3] !== '1';
}

// `+` then digits with at most two separators between digits, e.g. `+44 (0)20 7946 0958`.
// Run only where indexOf finds a `+`.
const INTERNATIONAL = /(?<![\w+])\+\d(?:[ .\-()]{0,2}\d){6,17}/y;
// (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199. Not the tail of a longer
// digit group sequence (`4111 1111 …`).
const NANP = /(?<![\w+\-.]|\d )(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}(?![\w]|[.-]\d)/g;
// Trunk-prefix national numbers with spaces (020 7946 0958, 06 12 34 56 78) or French dots.
// The shared `0\d` head comes first so that V8 can skip ahead to it.
const NATIONAL = /(?<![\w+\-.\/]|\d )0\d(?:\d{0,3}(?: \d{2,6}){1,4}(?![\w]|[.\/-]\d| \d)|(?:\.\d\d){4}(?![\w]|[.\/-]\d))/g;

function pushInternational(text: string, out: Span[]): void {
  for (let plus = text.indexOf('+'); plus !== -1; plus = text.indexOf('+', plus + 1)) {
    INTERNATIONAL.lastIndex = plus;
    const m = INTERNATIONAL.exec(text);
    if (m === null) continue;
    const start = m.index;
    let candidate = m[0];
    // Back off one digit group at a time until the number is valid (or too short).
    for (;;) {
      // `(0)` is the trunk hint some writers keep after the country code; it is not dialled.
      const digits = digitsOnly(candidate.replace(/\(0\)/, ''));
      if (validInternational(digits) && balancedParens(candidate)) {
        out.push({ start, end: start + candidate.length, detector: phoneDetector });
        break;
      }
      const cut = candidate.search(/[ .\-()]+\d+$/);
      if (cut <= 1) break;
      candidate = candidate.slice(0, cut);
    }
  }
}

function balancedParens(s: string): boolean {
  const open = s.indexOf('(');
  const close = s.indexOf(')');
  if (open === -1 && close === -1) return true;
  return open !== -1 && close > open && s.indexOf('(', open + 1) === -1 && s.indexOf(')', close + 1) === -1;
}

function pushAll(re: RegExp, text: string, out: Span[], accept: (value: string) => boolean): void {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (accept(m[0])) out.push({ start: m.index, end: m.index + m[0].length, detector: phoneDetector });
  }
}

const nationalLength = (value: string): boolean => {
  const n = digitsOnly(value).length;
  return n >= 9 && n <= 12;
};
const always = (): boolean => true;

export const phoneDetector: Detector = {
  type: 'phone',
  name: 'phone',
  signalled: true,
  priority: PRIORITY.phone,
  normalize: digitsOnly,
  find(text: string, out: Span[]): void {
    pushInternational(text, out);
    pushAll(NANP, text, out, always);
    pushAll(NATIONAL, text, out, nationalLength);
  },
};
