/**
 * What a retention purge records, so verify can tell a purge from a deletion. Each purge writes
 * one `audit.purged` audit event (on the chain like every other, and checkpointed right after)
 * naming, per kind, the cutoff before which it removed records, and, per writer, where that
 * writer's chain now starts: the seq range removed and the hash of the last entry removed, which
 * the first remaining entry links to. Each record carries the earlier ones forward, so the newest
 * alone describes everything purged so far.
 */
import type { AuditEventRow, PurgeKind } from '../store/types.ts';
import type { AuditRetentionConfig } from '../config/audit-retention.ts';

export const PURGE_ACTION = 'audit.purged';

/** The cutoffs: records older than these were removed; `ledger` is for the chains' own entries. */
export type Cutoffs = Partial<Record<PurgeKind | 'ledger', number>>;

export interface PurgedRange {
  readonly writer: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  /** The hash of entry toSeq: the writer's chain now starts from it. */
  readonly anchorHash: string;
}

export type PurgeCounts = Record<PurgeKind | 'ledger', number>;

export interface PurgeRecord {
  readonly cutoffs: Cutoffs;
  readonly writers: readonly PurgedRange[];
  /** Set when the purge completed. */
  readonly counts?: PurgeCounts;
}

/** Which retention kind a ledger entry's event belongs to. */
export function kindOfEntry(entryKind: string): PurgeKind | null {
  if (entryKind === 'session.start' || entryKind === 'session.end') return 'sessions';
  if (entryKind === 'interaction') return 'interactions';
  if (entryKind.startsWith('audit.')) return 'events';
  return null;
}

const KINDS = ['bodies', 'interactions', 'sessions', 'events', 'ledger'] as const;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The record an `audit.purged` event holds, or null when its details are not one (hand-made, or another shape). */
export function readPurgeRecord(event: Pick<AuditEventRow, 'action' | 'details'>): PurgeRecord | null {
  if (event.action !== PURGE_ACTION) return null;
  const d = event.details as Record<string, unknown>;
  const cutoffs = d?.cutoffs as Record<string, unknown> | undefined;
  if (typeof cutoffs !== 'object' || cutoffs === null || !Array.isArray(d.writers)) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(cutoffs)) {
    if (!(KINDS as readonly string[]).includes(k) || !Number.isSafeInteger(v)) return null;
    out[k] = v as number;
  }
  const writers: PurgedRange[] = [];
  for (const w of d.writers as unknown[]) {
    const r = w as Record<string, unknown>;
    if (typeof r?.writer !== 'string' || !isCount(r.fromSeq) || !isCount(r.toSeq) || r.toSeq < r.fromSeq || typeof r.anchorHash !== 'string') return null;
    writers.push({ writer: r.writer, fromSeq: r.fromSeq, toSeq: r.toSeq, anchorHash: r.anchorHash });
  }
  const c = d.counts as Record<string, unknown> | undefined;
  const counts = c && KINDS.every((k) => isCount(c[k])) ? (c as PurgeCounts) : undefined;
  return { cutoffs: out, writers, ...(counts ? { counts } : {}) };
}

/**
 * This run's cutoffs: each configured kind's age before `now`, never earlier than what an earlier
 * purge already removed (a retention made longer does not bring records back). The ledger's own
 * entries go only before every kind's cutoff, so an entry outlives the records it names.
 */
export function cutoffsAt(retention: AuditRetentionConfig, now: number, previous: Cutoffs): Cutoffs {
  const out: Cutoffs = { ...previous };
  for (const kind of ['bodies', 'interactions', 'sessions', 'events'] as const) {
    const keep = retention[kind];
    if (keep !== undefined) out[kind] = Math.max(previous[kind] ?? -Infinity, now - keep);
  }
  const { interactions, sessions, events } = out;
  if (interactions !== undefined && sessions !== undefined && events !== undefined) {
    out.ledger = Math.max(previous.ledger ?? -Infinity, Math.min(interactions, sessions, events));
  }
  return out;
}
