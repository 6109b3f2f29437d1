import { randomBytes } from 'node:crypto';

/**
 * Readable prefixes let secret scanners (and our own masking) find leaked credentials:
 * gth_ short-lived agent tokens, gts_ service-account secrets, gta_ admin-API tokens, gsc_ the
 * bearer token an identity provider's SCIM client sends to /scim/v2.
 */
export const TOKEN_PREFIX = { agent: 'gth_', service_account: 'gts_', admin: 'gta_', scim: 'gsc_' } as const;
export type TokenPrefix = (typeof TOKEN_PREFIX)[keyof typeof TOKEN_PREFIX];

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 from rejection sampling: 248 is the largest multiple of 62 below 256. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** 40 base62 characters: about 238 bits, far beyond guessing. */
export function generateSecret(prefix: TokenPrefix): string {
  return prefix + randomBase62(40);
}

// Record ids moved to util/ids.ts; re-exported for importers outside identity/ (audit/, api/).
export { newId } from '../util/ids.ts';

/** Which kind of Gatehouse secret a string claims to be, by prefix alone. */
export function secretKind(secret: string): keyof typeof TOKEN_PREFIX | null {
  for (const [kind, prefix] of Object.entries(TOKEN_PREFIX)) {
    if (secret.startsWith(prefix)) return kind as keyof typeof TOKEN_PREFIX;
  }
  return null;
}
