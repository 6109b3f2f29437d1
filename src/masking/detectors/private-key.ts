import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

// The whole armoured block, END matching BEGIN (RSA, EC, OPENSSH, ENCRYPTED, PGP … BLOCK).
const BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END \1PRIVATE KEY\2-----/y;
// No END (cut-off paste, truncated body): mask from BEGIN through the base64 body.
const TRUNCATED = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+\/=\s:,.-]|\\[nr])*/y;

/** The header that opens a private key block; the streaming masker looks for it too. */
export const PRIVATE_KEY_HEADER = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
export const PRIVATE_KEY_FOOTER = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;

export const privateKeyDetector: Detector = {
  type: 'private_key',
  name: 'private_key',
  signalled: true,
  priority: PRIORITY.private_key,
  find(text: string, out: Span[]): void {
    let at = text.indexOf('-----BEGIN ');
    while (at !== -1) {
      BLOCK.lastIndex = at;
      let end = BLOCK.test(text) ? BLOCK.lastIndex : -1;
      if (end === -1) {
        TRUNCATED.lastIndex = at;
        end = TRUNCATED.test(text) ? TRUNCATED.lastIndex : -1;
      }
      if (end !== -1) out.push({ start: at, end, detector: privateKeyDetector });
      at = text.indexOf('-----BEGIN ', end === -1 ? at + 11 : end);
    }
  },
};
