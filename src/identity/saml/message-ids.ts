import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { SamlIdRow, Store } from '../../store/types.ts';

/** How long the identity provider may take to send a user back (password, MFA, enrolment). */
export const REQUEST_TTL_MS = 15 * 60_000;
const PRUNE_EVERY_MS = 60_000;
const REQUEST_ID = /^_gh\.([0-9a-z]{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})$/;

/**
 * AuthnRequest ids that prove themselves: `_gh.<expiry>.<nonce>.<mac>`, keyed from the master key.
 * The login route is public, so it stores nothing (one row per call would let anyone fill the
 * store); every replica recognises an id another one sent. node-saml asks this cache whether a
 * response's InResponseTo names a request we sent; the id is used up in the store (UsedSamlIds)
 * once a response answering it is accepted, so removal here is not needed.
 */
export class RequestIds implements CacheProvider {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  readonly generate = (): string => {
    const expires = (this.now() + REQUEST_TTL_MS).toString(36);
    const nonce = randomBytes(16).toString('hex');
    return `_gh.${expires}.${nonce}.${this.mac(expires, nonce)}`;
  };

  /** When the request was sent, if the id is one of ours and has not expired. */
  sentAt(id: string): number | null {
    const parts = REQUEST_ID.exec(id);
    if (!parts) return null;
    const [, expires, nonce, mac] = parts as unknown as [string, string, string, string];
    if (!timingSafeEqual(Buffer.from(mac, 'hex'), Buffer.from(this.mac(expires, nonce), 'hex'))) return null;
    const expiresAt = parseInt(expires, 36);
    return expiresAt > this.now() ? expiresAt - REQUEST_TTL_MS : null;
  }

  expiresAt(id: string): number | null {
    const sent = this.sentAt(id);
    return sent === null ? null : sent + REQUEST_TTL_MS;
  }

  async saveAsync(_key: string, value: string): Promise<CacheItem> {
    return { value, createdAt: this.now() };
  }

  async getAsync(key: string): Promise<string | null> {
    const sent = this.sentAt(key);
    return sent === null ? null : new Date(sent).toISOString();
  }

  /** node-saml removes an id when a response naming it fails; a forged post must not burn a real sign-in. */
  async removeAsync(): Promise<null> {
    return null;
  }

  private mac(expires: string, nonce: string): string {
    return createHmac('sha256', this.key).update(`saml-request:${expires}:${nonce}`).digest('hex');
  }
}

/** Ids a sign-in used up, in the store so that every replica and every restart sees them. */
export class UsedSamlIds {
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly onPruneError: (err: unknown) => void,
  ) {}

  /** False when the id was used before: the caller refuses it as a replay. */
  async useOnce(purpose: SamlIdRow['purpose'], id: string, expiresAt: number): Promise<boolean> {
    const now = this.now();
    this.pruneNow(now);
    return this.store.insertSamlId({ purpose, id, createdAt: now, expiresAt });
  }

  /** Expired ids can go: what they named would be refused as expired anyway. At most once a minute per replica. */
  private pruneNow(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.store.pruneSamlIds(now).catch(this.onPruneError);
  }
}
