/**
 * How verify reads the purge records: which it trusts, and what they excuse. A record is trusted
 * only when its completion is on a writer's chain and, when keys are given, a valid checkpoint
 * covers that entry; a record found anywhere else (inserted by hand, or appended after the last
 * checkpoint) is itself a problem, so a forged record can never hide a deletion.
 */
import type { AuditEventRow } from '../store/types.ts';
import { kindOfEntry, readPurgeRecord, type Cutoffs, type PurgeCounts, type PurgedRange, type PurgeRecord } from './retention.ts';

export interface TrustedPurge {
  readonly id: string;
  readonly at: number;
  readonly cutoffs: Cutoffs;
  readonly counts: PurgeCounts | null;
}

interface Candidate {
  readonly event: AuditEventRow;
  readonly record: PurgeRecord | null;
  /** Where its completion sits on a chain, once the walk saw it verify. */
  place: { writer: string; seq: number } | null;
}

export interface PurgeProblem {
  readonly writer: string;
  readonly seq: number;
  readonly refId: string;
  readonly problem: string;
}

export class PurgeRecords {
  private readonly candidates = new Map<string, Candidate>();
  private cutoffs: Cutoffs = {};
  private anchors = new Map<string, PurgedRange>();
  private trusted: TrustedPurge[] = [];

  /** What every completed record claims, trusted or not: what the walk can already rule out. */
  private readonly claimed: Cutoffs = {};

  constructor(events: readonly AuditEventRow[]) {
    for (const event of events) {
      const record = readPurgeRecord(event);
      this.candidates.set(event.id, { event, record, place: null });
      if (!record || event.outcome === null) continue;
      for (const [kind, cutoff] of Object.entries(record.cutoffs) as [keyof Cutoffs, number][]) this.claimed[kind] = Math.max(this.claimed[kind] ?? -Infinity, cutoff);
    }
  }

  /** False when no record, even untrusted, claims to have removed this event: it was deleted. */
  mayExcuseEvent(entryKind: string, entryAt: number): boolean {
    const kind = kindOfEntry(entryKind);
    const cutoff = kind ? this.claimed[kind] : undefined;
    return cutoff !== undefined && entryAt < cutoff;
  }

  mayExcuseBodies(startedAt: number): boolean {
    return this.claimed.bodies !== undefined && startedAt < this.claimed.bodies;
  }

  /** The ranges every record names, trusted or not: the walk keeps the hashes at their ends. */
  get namedRanges(): PurgedRange[] {
    return [...this.candidates.values()].flatMap((c) => c.record?.writers ?? []);
  }

  /** The walk verified this entry's event: if it completes a purge record, the record is on the chain there. */
  sawOnChain(refId: string, entryKind: string, writer: string, seq: number): void {
    const c = this.candidates.get(refId);
    if (c && (entryKind === 'audit.complete' || entryKind === 'audit.event')) c.place = { writer, seq };
  }

  /**
   * Decides trust once every chain is walked. `anchoredSeq` is how far valid checkpoints signed
   * each writer; null when no keys were given (the chain alone is then trusted, as it is for every event).
   */
  settle(anchoredSeq: ((writer: string) => number) | null): PurgeProblem[] {
    const problems: PurgeProblem[] = [];
    for (const c of this.candidates.values()) {
      // Written ahead and never completed (a run cut short): it vouches for nothing.
      if (c.event.outcome === null) continue;
      const at = (problem: string) => problems.push({ writer: c.place?.writer ?? c.event.replicaId ?? 'unknown', seq: c.place?.seq ?? 0, refId: c.event.id, problem });
      if (!c.record || c.event.outcome !== 200) at(`audit event ${c.event.id} is named ${c.event.action} but is not a purge record the gateway wrote`);
      else if (!c.place) at(`purge record ${c.event.id} is not on any writer's chain (forged, or written outside the gateway): what it claims was purged counts as deleted`);
      else if (anchoredSeq && c.place.seq > anchoredSeq(c.place.writer)) at(`purge record ${c.event.id} is not covered by a signed checkpoint yet: take one (gatehouse audit checkpoint) and verify again`);
      else this.trust(c.event, c.record);
    }
    return problems;
  }

  private trust(event: AuditEventRow, record: PurgeRecord): void {
    this.trusted.push({ id: event.id, at: event.at, cutoffs: record.cutoffs, counts: record.counts ?? null });
    for (const [kind, cutoff] of Object.entries(record.cutoffs) as [keyof Cutoffs, number][]) this.cutoffs[kind] = Math.max(this.cutoffs[kind] ?? -Infinity, cutoff);
    for (const w of record.writers) {
      const known = this.anchors.get(w.writer);
      if (!known || w.toSeq > known.toSeq) this.anchors.set(w.writer, w);
    }
  }

  get purges(): readonly TrustedPurge[] {
    return [...this.trusted].sort((a, b) => a.at - b.at);
  }

  /** Where a trusted purge says the writer's chain now starts. */
  anchor(writer: string): PurgedRange | null {
    return this.anchors.get(writer) ?? null;
  }

  /** A missing event is excused when its entry is older than its kind's trusted cutoff. */
  excusesEvent(entryKind: string, entryAt: number): boolean {
    const kind = kindOfEntry(entryKind);
    const cutoff = kind ? this.cutoffs[kind] : undefined;
    return cutoff !== undefined && entryAt < cutoff;
  }

  excusesBodies(startedAt: number): boolean {
    return this.cutoffs.bodies !== undefined && startedAt < this.cutoffs.bodies;
  }

  /** A place at or before the writer's trusted purged range: its entry, and checkpoints of it, may be gone. */
  purgedAt(writer: string, seq: number): boolean {
    const a = this.anchors.get(writer);
    return a !== undefined && seq <= a.toSeq;
  }
}
