import type { Detector, Span } from '../types.ts';
import { digitsOnly, luhnValid } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * Issuer ranges (IIN prefixes) with the lengths each network issues. A Luhn-valid number
 * outside these (order numbers, millisecond timestamps starting with 1) is not a card.
 */
function knownIssuer(d: string): boolean {
  const len = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  switch (d[0]) {
    case '4': // Visa
      return len === 13 || len === 16 || len === 19;
    case '2': // Mastercard 2-series, Mir
      return len === 16 && ((p4 >= 2221 && p4 <= 2720) || (p4 >= 2200 && p4 <= 2204));
    case '3':
      if (p2 === 34 || p2 === 37) return len === 15; // Amex
      if (p4 >= 3528 && p4 <= 3589) return len >= 16 && len <= 19; // JCB
      if ((p3 >= 300 && p3 <= 305) || p3 === 309 || p2 === 36 || p2 === 38 || p2 === 39) return len >= 14 && len <= 19; // Diners
      return false;
    case '5':
      if (p2 >= 51 && p2 <= 55) return len === 16; // Mastercard
      return (p2 === 50 || (p2 >= 56 && p2 <= 58)) && len >= 13 && len <= 19; // Maestro
    case '6':
      if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65) return len >= 16 && len <= 19; // Discover
      if (p2 === 62) return len >= 16 && len <= 19; // UnionPay
      if (p4 === 6304 || p4 === 6759 || (p4 >= 6761 && p4 <= 6763) || (p6 >= 676770 && p6 <= 676774)) return len >= 13 && len <= 19; // Maestro
      return false;
    default:
      return false;
  }
}

export function isPaymentCard(value: string): boolean {
  const d = digitsOnly(value);
  return d.length >= 13 && d.length <= 19 && knownIssuer(d) && luhnValid(d);
}

// Grouped 4-4-4-4(-1..3), Amex/Diners 4-6-5 / 4-6-4 with one consistent separator, or 13–19
// digits plain. The common `\d\d\d\d` head is spelled out: V8 can then skip ahead over text
// that cannot start a match, which it does not do for `\d{4}`.
const CARD = /(?<![\w.\-])\d\d\d\d(?:([ -]?)\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|([ -]?)\d{6}\2\d{4,5}|\d{9,15})(?![\w]|\.\d)/g;
const TRAILING_GROUP = /[ -]\d{1,3}$/;

export const paymentCardDetector: Detector = {
  type: 'credit_card',
  name: 'credit_card',
  signalled: true,
  priority: PRIORITY.credit_card,
  normalize: digitsOnly,
  find(text: string, out: Span[]): void {
    CARD.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = CARD.exec(text)) !== null) {
      let value = m[0];
      // `4242 4242 4242 4242 123`: the card followed by a CVV or year parses as one 19-digit run.
      if (!isPaymentCard(value) && TRAILING_GROUP.test(value)) value = value.replace(TRAILING_GROUP, '');
      if (isPaymentCard(value)) out.push({ start: m.index, end: m.index + value.length, detector: paymentCardDetector });
    }
  },
};
