import type { Detector, Span } from '../types.ts';
import { shannonEntropy } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * A secret access key is 40 base64 characters with nothing to recognise it by, so it only
 * counts after an AWS-ish word (`aws_secret_access_key =`, `"SecretAccessKey": `) and only
 * when it looks random: both letter cases and a digit or `/`/`+`. Git SHAs (hex, lower
 * case) and hashes therefore never match, even next to the word "secret".
 */
const CONTEXT = /aws|secret|access[_ -]?key/gi;
const CANDIDATE = /(?<![A-Za-z0-9\/+])[A-Za-z0-9\/+]{40}(?![A-Za-z0-9\/+=])/y;
const LOOKAHEAD = 120;

function looksRandom(v: string): boolean {
  return /[a-z]/.test(v) && /[A-Z]/.test(v) && /[0-9\/+]/.test(v) && shannonEntropy(v) >= 3.8;
}

export const awsSecretKeyDetector: Detector = {
  type: 'aws_secret_key',
  name: 'aws_secret_key',
  signalled: true,
  priority: PRIORITY.aws_secret_key,
  find(text: string, out: Span[]): void {
    CONTEXT.lastIndex = 0;
    let scannedTo = 0;
    let ctx: RegExpExecArray | null;
    while ((ctx = CONTEXT.exec(text)) !== null) {
      const from = Math.max(scannedTo, ctx.index + ctx[0].length);
      const to = Math.min(text.length, ctx.index + ctx[0].length + LOOKAHEAD);
      for (let i = from; i + 40 <= to; i++) {
        CANDIDATE.lastIndex = i;
        const m = CANDIDATE.exec(text);
        if (m === null) continue;
        if (looksRandom(m[0])) out.push({ start: i, end: i + 40, detector: awsSecretKeyDetector });
        i += 40;
      }
      scannedTo = Math.max(scannedTo, to);
    }
  },
};
