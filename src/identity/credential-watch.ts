import type { Store } from '../store/types.ts';

export type EndReason = 'revoked' | 'expired';
type Listener = (reason: EndReason) => void;

interface Watched {
  readonly expiresAt: number | null;
  readonly listeners: Set<Listener>;
}

/**
 * Ends live work (open streams, Postgres sessions, MCP sessions) when its credential is revoked or
 * expires. Revocations arrive as coordination events, on every replica, at once; the periodic sweep
 * is the fallback that needs no event: it ends what expired and asks the store, in one query, about
 * every watched token, so a revocation whose event was lost still lands within one interval.
 */
export class CredentialWatch {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    private readonly store: Store,
    private readonly intervalMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Calls `onEnd` once if the token is revoked or expires; the returned function stops watching. */
  watch(tokenId: string, expiresAt: number | null, onEnd: Listener): () => void {
    let entry = this.watched.get(tokenId);
    if (!entry) {
      entry = { expiresAt, listeners: new Set() };
      this.watched.set(tokenId, entry);
    }
    const listeners = entry.listeners;
    listeners.add(onEnd);
    return () => {
      listeners.delete(onEnd);
      if (listeners.size === 0 && this.watched.get(tokenId)?.listeners === listeners) this.watched.delete(tokenId);
    };
  }

  /** Local revocation: end everything using these tokens now. */
  revoked(tokenIds: readonly string[]): void {
    for (const id of tokenIds) this.end(id, 'revoked');
  }

  get size(): number {
    return this.watched.size;
  }

  private end(tokenId: string, reason: EndReason): void {
    const entry = this.watched.get(tokenId);
    if (!entry) return;
    this.watched.delete(tokenId);
    for (const listener of entry.listeners) listener(reason);
  }

  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.now();
      for (const [id, entry] of [...this.watched]) {
        if (entry.expiresAt !== null && entry.expiresAt <= now) this.end(id, 'expired');
      }
      const ids = [...this.watched.keys()];
      if (ids.length === 0) return;
      // One query per sweep, however many tokens are watched. A store that cannot answer keeps
      // sessions alive; new requests still fail closed at verify.
      const states = await this.store.tokenStates(ids).catch(() => null);
      if (states === null) return;
      const known = new Map(states.map((s) => [s.id, s]));
      for (const id of ids) {
        // A token deleted from the store is as good as revoked.
        const state = known.get(id);
        if (state === undefined || state.revokedAt !== null) this.end(id, 'revoked');
      }
    } finally {
      this.sweeping = false;
    }
  }
}
