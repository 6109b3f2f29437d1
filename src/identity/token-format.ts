import { randomBytes, randomUUID } from 'node:crypto';

/**
 * Readable prefixes let secret scanners (and our own masking) find leaked credentials:
 * gth_ short-lived agent tokens, gts_ service-account secrets, gta_ admin-API tokens.
 */
export const TOKEN_PREFIX = { agent: 'gth_', service_account: 'gts_', admin: 'gta_' } as const;
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

/**
 * Record ids are not secrets, only unique: the creation time in milliseconds (12 hex digits) then
 * 56 random bits of a v4 UUID, which draws on a cached entropy pool (every proxied request makes
 * an id, so this is on the hot path). Time first keeps new rows at the right edge of the stores'
 * primary-key indexes: an insert touches the last page instead of a random one (67 → 42 µs per
 * recorded interaction in SQLite, measured once with random ids against time-first ones).
 */
export function newId(kind: 'tok' | 'sa' | 'usr' | 'adm' | 'ses' | 'int'): string {
  const uuid = randomUUID();
  return `${kind}_${Date.now().toString(16).padStart(12, '0')}${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(15, 17)}`;
}

/** Which kind of Gatehouse secret a string claims to be, by prefix alone. */
export function secretKind(secret: string): keyof typeof TOKEN_PREFIX | null {
  for (const [kind, prefix] of Object.entries(TOKEN_PREFIX)) {
    if (secret.startsWith(prefix)) return kind as keyof typeof TOKEN_PREFIX;
  }
  return null;
}
