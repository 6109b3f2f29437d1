import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

// Local-part characters of RFC 5322 dot-atoms that people actually use.
const LOCAL = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-\'') LOCAL[c.charCodeAt(0)] = 1;

// Labels of 1–63 chars without leading/trailing hyphen, then an alphabetic TLD.
const DOMAIN = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])/y;
// `logo@2x.png`: image density suffixes, not addresses.
const DENSITY_SUFFIX = /^\d+(?:\.\d+)?x\./;

/**
 * Emails are found from their `@` outwards: indexOf is far cheaper than a regex that would
 * have to try every position as a possible local-part start.
 */
export const emailDetector: Detector = {
  type: 'email',
  name: 'email',
  signalled: true,
  priority: PRIORITY.email,
  normalize: (v) => v.toLowerCase(),
  find(text: string, out: Span[]): void {
    let at = text.indexOf('@');
    while (at !== -1) {
      let start = at;
      while (start > 0 && start > at - 64) {
        const c = text.charCodeAt(start - 1);
        if (c >= 128 || LOCAL[c] === 0) break;
        start--;
      }
      // A local part neither starts nor ends with a dot (`..` inside is a typo, still an address).
      while (start < at && (text.charCodeAt(start) === 46 || text.charCodeAt(start) === 39)) start++;
      let next = at + 1;
      // `postgres://app@db.internal`: a URL's user, not an address.
      const inUrl = start >= 3 && text.startsWith('://', start - 3);
      if (start < at && !inUrl && text.charCodeAt(at - 1) !== 46) {
        DOMAIN.lastIndex = at + 1;
        const m = DOMAIN.exec(text);
        if (m !== null && !DENSITY_SUFFIX.test(m[0])) {
          out.push({ start, end: DOMAIN.lastIndex, detector: emailDetector });
          next = DOMAIN.lastIndex;
        }
      }
      at = text.indexOf('@', next);
    }
  },
};
