/**
 * The retention purge: removes what is past `audit.retention`, in bounded batches, and records what
 * it removed as an `audit.purged` event on the chain (audit/retention.ts), so `verify` reports the
 * purged ranges instead of breaks. Runs on a timer (daily by default), from `gatehouse audit purge`
 * and from the API; one run at a time per process, and two replicas running at once only repeat
 * each other's work (every step removes what is still there and past the same cutoffs).
 *
 * Order matters: the record is written ahead (cutoffs and new chain starts) before anything goes,
 * then bodies, interactions, sessions and audit events, and the ledger's own entries last; the
 * record is completed with the counts and a checkpoint signs it. A run cut short leaves its record
 * open: verify then fails on what it removed until the next run completes.
 */
import type { Logger } from 'pino';
import type { AuditRetentionConfig } from '../config/audit-retention.ts';
import type { AuditEventRow, PurgeKind, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { cutoffsAt, PURGE_ACTION, readPurgeRecord, type Cutoffs, type PurgeCounts, type PurgedRange, type PurgeRecord } from './retention.ts';

export interface PurgeReport {
  readonly dryRun: boolean;
  /** The `audit.purged` event; null for a dry run. */
  readonly id: string | null;
  readonly cutoffs: Cutoffs;
  /** Removed, or for a dry run what would be (ledger: entries of this run's new ranges). */
  readonly counts: PurgeCounts;
  /** Every writer's purged range, earlier runs' included. */
  readonly writers: readonly PurgedRange[];
}

export interface PurgerDeps {
  /** The chained store: the record must be on the chain. */
  readonly store: Store;
  readonly retention: AuditRetentionConfig;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Signs the chain head once the record is complete (AuditTrail.checkpoint). */
  readonly checkpoint?: () => Promise<unknown>;
  /** The replica that runs it, written on the record. */
  readonly replicaId?: string | null;
}

const STEPS: readonly PurgeKind[] = ['bodies', 'interactions', 'sessions', 'events'];
/** Purge records read at most: each carries the earlier ones forward, so only the newest matters. */
const MAX_RECORDS = 10_000;

export class Purger {
  private running: Promise<PurgeReport> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: PurgerDeps) {}

  /** One run at a time: a call during a run waits for it and then runs. */
  run(options: { dryRun?: boolean } = {}): Promise<PurgeReport> {
    const previous = this.running ?? Promise.resolve(null);
    const next = previous.catch(() => null).then(() => this.once(options.dryRun === true));
    this.running = next;
    void next.finally(() => {
      if (this.running === next) this.running = null;
    }).catch(() => undefined);
    return next;
  }

  start(): void {
    this.timer = setInterval(() => {
      void this.run().catch((err: unknown) => this.deps.logger.error({ err }, 'the audit retention purge failed; it runs again at the next interval'));
    }, this.deps.retention.every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private async once(dryRun: boolean): Promise<PurgeReport> {
    const { store, retention, logger } = this.deps;
    const now = (this.deps.now ?? Date.now)();
    const previous = await latestRecord(store);
    const cutoffs = cutoffsAt(retention, now, previous?.cutoffs ?? {});
    const writers = await this.plan(cutoffs.ledger, previous?.writers ?? []);
    const counts: PurgeCounts = { bodies: 0, interactions: 0, sessions: 0, events: 0, ledger: 0 };
    const fresh = writers.filter((w) => !(previous?.writers ?? []).some((p) => p.writer === w.writer && p.toSeq === w.toSeq));
    if (dryRun) {
      for (const kind of STEPS) if (cutoffs[kind] !== undefined) counts[kind] = await store.purgeAudit(kind, cutoffs[kind], { limit: 0, dryRun: true, at: now });
      const before = new Map((previous?.writers ?? []).map((w) => [w.writer, w.toSeq]));
      counts.ledger = fresh.reduce((n, w) => n + (w.toSeq - (before.get(w.writer) ?? 0)), 0);
      return { dryRun, id: null, cutoffs, counts, writers };
    }
    const record: AuditEventRow = {
      id: newId('aud', now), at: now, replicaId: this.deps.replicaId ?? null, actorId: 'gateway', actorName: 'gatehouse', actorKind: 'gateway',
      credentialId: null, action: PURGE_ACTION, target: null, outcome: null, details: { cutoffs, writers },
    };
    await store.insertAuditEvent(record);
    for (const kind of STEPS) {
      const cutoff = cutoffs[kind];
      if (cutoff === undefined) continue;
      for (;;) {
        const removed = await store.purgeAudit(kind, cutoff, { limit: retention.batch, dryRun: false, at: now });
        counts[kind] += removed;
        if (removed < retention.batch) break;
      }
    }
    for (const w of fresh) {
      for (;;) {
        const removed = await store.deleteLedgerPrefix(w.writer, w.toSeq, retention.batch);
        counts.ledger += removed;
        if (removed < retention.batch) break;
      }
    }
    await store.completeAuditEvent(record.id, { outcome: 200, target: null, details: { cutoffs, writers, counts } });
    await this.deps.checkpoint?.().catch((err: unknown) => logger.error({ err }, 'could not sign a checkpoint after the purge; verify trusts the purge once one covers it'));
    logger.info({ purge: record.id, counts, cutoffs }, 'audit retention purge done');
    return { dryRun, id: record.id, cutoffs, counts, writers };
  }

  /** Every writer's chain start after this run: new ranges where entries pass the ledger cutoff, earlier ones carried. */
  private async plan(ledgerCutoff: number | undefined, previous: readonly PurgedRange[]): Promise<PurgedRange[]> {
    const { store } = this.deps;
    const out = new Map(previous.map((w) => [w.writer, w]));
    if (ledgerCutoff === undefined) return [...out.values()];
    for (const writer of await store.ledgerWriters()) {
      const bound = await store.ledgerPurgeBound(writer, ledgerCutoff);
      const before = out.get(writer);
      if (!bound || (before && bound.seq <= before.toSeq)) continue;
      out.set(writer, { writer, fromSeq: before ? before.fromSeq : 1, toSeq: bound.seq, anchorHash: bound.hash });
    }
    return [...out.values()].sort((a, b) => (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0));
  }
}

/** The newest completed purge record, as the store holds it (verify, not this, judges whether to trust it). */
async function latestRecord(store: Store): Promise<PurgeRecord | null> {
  const events = await store.auditEventsOfAction(PURGE_ACTION, MAX_RECORDS);
  for (const event of events) {
    const record = event.outcome === 200 ? readPurgeRecord(event) : null;
    if (record) return record;
  }
  return null;
}
