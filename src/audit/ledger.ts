/**
 * One hash chain per writer over every audit event the store holds. A writer is a replica (its
 * replica id) or, on SQLite, the one local process ('local'): only it appends to its chain, so
 * replicas sharing one PostgreSQL never race for a sequence number.
 *
 * Appends take their place (seq, previous hash) synchronously, in the order events are written,
 * and are issued in the same event-loop turn as the write they cover: both engines group writes
 * of one turn into one transaction (sqlite.ts, postgres-group-commit.ts), so an event and its
 * entry normally commit together.
 */
import type { Logger } from 'pino';
import type { LedgerEntryRow, LedgerStore } from '../store/types.ts';
import { entryHash, type LedgerKind } from './canonical.ts';

/** The writer name of the embedded store: its chain carries on across restarts. */
export const LOCAL_WRITER = 'local';

export class Ledger {
  private seq = 0;
  private head: string | null = null;
  private pending = new Set<Promise<void>>();

  private constructor(
    private readonly store: Pick<LedgerStore, 'appendLedger'>,
    readonly writer: string,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** Carries on from the writer's last stored entry. */
  static async open(store: Pick<LedgerStore, 'appendLedger' | 'ledgerHead'>, writer: string, logger: Logger, now: () => number = Date.now): Promise<Ledger> {
    const ledger = new Ledger(store, writer, logger, now);
    const last = await store.ledgerHead(writer);
    if (last) {
      ledger.seq = last.seq;
      ledger.head = last.hash;
    }
    return ledger;
  }

  /**
   * Appends an entry for an event already issued for writing. A failed append is logged, not
   * thrown: the event itself is stored, and verify reports the missing entry as a gap.
   */
  append(kind: LedgerKind, refId: string, eventHash: string): Promise<void> {
    const base = { writer: this.writer, seq: this.seq + 1, kind, refId, eventHash, prevHash: this.head, at: this.now() };
    const entry: LedgerEntryRow = { ...base, hash: entryHash(base) };
    this.seq = entry.seq;
    this.head = entry.hash;
    const write = this.store.appendLedger(entry).catch((err: unknown) => {
      this.logger.error({ err, writer: this.writer, seq: entry.seq, kind, refId }, 'could not append to the audit ledger; verify will report the gap');
    });
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
    return write;
  }

  /** The head as appended so far (perhaps not yet committed). */
  get position(): { seq: number; hash: string | null } {
    return { seq: this.seq, hash: this.head };
  }

  /** Resolves once every append issued so far has settled. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
