import { createHash } from 'node:crypto';
import type { Store } from '../../store/types.ts';

const PRUNE_EVERY_MS = 60_000;

/**
 * What names an ID token for replay: its `jti` within its issuer when it has one; otherwise a hash
 * of the signed part (header and claims). Not of the whole token: the signature can be written
 * several ways that all verify (spare bits in the last base64url character, an ECDSA signature's
 * other `s`), and each would pass for a new token.
 */
export function idTokenKey(token: string, iss: string, jti: unknown): string {
  const named = typeof jti === 'string' && jti !== '' ? `jti\n${iss}\n${jti}` : `jws\n${token.slice(0, token.lastIndexOf('.'))}`;
  return createHash('sha256').update(named).digest('hex');
}

/** ID tokens sign-ins used up, in the store so that every replica and every restart sees them. */
export class UsedIdTokens {
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly onPruneError: (err: unknown) => void,
  ) {}

  /** False when the token was used before: the caller refuses it as a replay. */
  async useOnce(key: string, expiresAt: number): Promise<boolean> {
    const now = this.now();
    this.pruneNow(now);
    return this.store.insertUsedIdToken({ id: key, createdAt: now, expiresAt });
  }

  /** Expired keys can go: their tokens would be refused as expired anyway. At most once a minute per replica. */
  private pruneNow(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.store.pruneUsedIdTokens(now).catch(this.onPruneError);
  }
}
