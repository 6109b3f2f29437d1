/**
 * Walks every writer's chain and its checkpoints, and names the first broken link: which
 * writer, which place, which event, and what is wrong. Reads only: the same walk runs in the
 * gateway (the API), and offline against the database with nothing but the public keys.
 *
 * Reads the ledger a page at a time, and each page's events in one query per kind, so a million
 * entries cost a few thousand round trips and a page's worth of memory. What a trusted purge
 * removed (audit/retention-verify.ts) is reported as purged, not as a break; everything else the
 * walk finds missing is deleted.
 */
import type { KeyObject } from 'node:crypto';
import type { AuditEventRow, CheckpointRow, InteractionRow, LedgerEntryRow, LedgerStore, SessionRow, Store } from '../store/types.ts';
import { auditCompleteHash, auditEventHash, auditOpenHash, entryHash, sessionEndHash, sessionStartHash } from './canonical.ts';
import { checkpointProblem } from './checkpoints.ts';
import { sealInteraction } from './hash-chain.ts';
import { bodiesState } from './retention-bodies.ts';
import { PurgeRecords, type TrustedPurge } from './retention-verify.ts';
import { PURGE_ACTION } from './retention.ts';

export type TrailSource = Pick<LedgerStore, 'listLedger' | 'ledgerWriters' | 'listCheckpoints'> &
  Pick<Store, 'sessionsByIds' | 'interactionsByIds' | 'auditEventsByIds' | 'auditEventsOfAction'>;

export interface TrailBreak {
  readonly writer: string;
  readonly seq: number;
  readonly kind: string | null;
  readonly refId: string | null;
  readonly problem: string;
}

export interface WriterReport {
  readonly writer: string;
  readonly entries: number;
  readonly checkpoints: number;
  /** The highest seq a valid checkpoint signed, its own or another writer's (cross-linked): entries up to it cannot be cut off unnoticed. */
  readonly anchoredSeq: number;
  /** Entries after anchoredSeq: a tail cut off there would go unnoticed until a checkpoint signs it. */
  readonly unanchoredTail: number;
  /** The start of the chain a trusted purge removed; null when none did. */
  readonly purged: { readonly fromSeq: number; readonly toSeq: number } | null;
}

export interface TrailReport {
  readonly ok: boolean;
  readonly writers: readonly WriterReport[];
  readonly firstBreak: TrailBreak | null;
  /** Every problem found, up to MAX_PROBLEMS. */
  readonly problems: readonly TrailBreak[];
  /** False when no public key was given: checkpoints were checked against their hashes only. */
  readonly signaturesChecked: boolean;
  /** The purges trusted, oldest first: what they removed is reported here, not as breaks. */
  readonly purges: readonly TrustedPurge[];
  /** Entries whose event a trusted purge removed, and interactions whose bodies it removed. */
  readonly purgedEvents: number;
  readonly purgedBodies: number;
}

export interface VerifyOptions {
  /** Trusted public keys by key id; none means signatures are not checked. */
  readonly publicKeys?: ReadonlyMap<string, KeyObject>;
  /** Checkpoints kept outside the database (the sink file), checked beside the stored ones. */
  readonly checkpoints?: readonly CheckpointRow[];
  /** Ledger entries read per query (tests use small pages to cross page edges). */
  readonly pageSize?: number;
}

const PAGE = 500;
const MAX_PROBLEMS = 100;
const MAX_PURGE_RECORDS = 10_000;

/** A problem the walk cannot judge until the purge records are: excused if a trusted purge covers it. */
interface Deferred {
  readonly excused: () => boolean;
  readonly problem: TrailBreak;
}

interface Events {
  sessions: Map<string, SessionRow>;
  interactions: Map<string, InteractionRow>;
  audit: Map<string, AuditEventRow>;
}

async function eventsOf(source: TrailSource, page: readonly LedgerEntryRow[]): Promise<Events> {
  const ids = (kinds: string[]) => page.filter((e) => kinds.includes(e.kind)).map((e) => e.refId);
  const [sessions, interactions, audit] = await Promise.all([
    source.sessionsByIds(ids(['session.start', 'session.end'])),
    source.interactionsByIds(ids(['interaction'])),
    source.auditEventsByIds(ids(['audit.open', 'audit.event', 'audit.complete'])),
  ]);
  return { sessions: new Map(sessions.map((r) => [r.id, r])), interactions: new Map(interactions.map((r) => [r.id, r])), audit: new Map(audit.map((r) => [r.id, r])) };
}

type EventCheck = { missing: string } | { changed: string } | { bodiesGone: number } | null;

function checkEvent(events: Events, e: LedgerEntryRow): EventCheck | 'unknown' {
  switch (e.kind) {
    case 'session.start':
    case 'session.end': {
      const s = events.sessions.get(e.refId);
      if (!s) return { missing: 'session' };
      const hash = e.kind === 'session.start' ? sessionStartHash(s) : sessionEndHash(s.id, s.endedAt, s.endReason);
      return hash === e.eventHash ? null : { changed: 'session' };
    }
    case 'interaction': {
      const i = events.interactions.get(e.refId);
      if (!i) return { missing: 'interaction' };
      if (i.hash !== e.eventHash || sealInteraction(i, i.prevHash) !== e.eventHash) return { changed: 'interaction' };
      const bodies = bodiesState(i);
      if (bodies === 'changed') return { changed: 'interaction' };
      return bodies === 'purged' ? { bodiesGone: i.startedAt } : null;
    }
    case 'audit.open':
    case 'audit.event':
    case 'audit.complete': {
      const a = events.audit.get(e.refId);
      if (!a) return { missing: 'audit event' };
      const hash = e.kind === 'audit.open' ? auditOpenHash(a) : e.kind === 'audit.event' ? auditEventHash(a) : auditCompleteHash(a.id, a);
      return hash === e.eventHash ? null : { changed: 'audit event' };
    }
    default:
      return 'unknown';
  }
}

interface Walked {
  readonly entries: number;
  readonly lastSeq: number;
  readonly first: LedgerEntryRow | null;
  readonly hashAt: ReadonlyMap<number, string>;
}

export async function verifyTrail(source: TrailSource, options: VerifyOptions = {}): Promise<TrailReport> {
  const problems: TrailBreak[] = [];
  const deferred: Deferred[] = [];
  let problemCount = 0;
  const note = (b: TrailBreak) => {
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push(b);
  };
  const stored = groupByWriter(await source.listCheckpoints());
  const outside = groupByWriter(options.checkpoints ?? []);
  const purges = new PurgeRecords(await source.auditEventsOfAction(PURGE_ACTION, MAX_PURGE_RECORDS));

  // The places whose hashes something signed or named: checkpoints, their peers, purge anchors.
  const wanted = new Map<string, Set<number>>();
  const want = (writer: string, seq: number) => wanted.set(writer, (wanted.get(writer) ?? new Set()).add(seq));
  for (const list of [...stored.values(), ...outside.values()]) {
    for (const c of list) {
      want(c.writer, c.seq);
      for (const p of c.peers ?? []) want(p.writer, p.seq);
    }
  }
  for (const r of purges.namedRanges) want(r.writer, r.toSeq);
  const writers = [...new Set([...(await source.ledgerWriters()), ...outside.keys(), ...wanted.keys()])].sort();

  const walked = new Map<string, Walked>();
  const gone = new PurgedTally();
  for (const writer of writers) {
    const seqs = wanted.get(writer) ?? new Set<number>();
    const hashAt = new Map<number, string>();
    // Audit events written before their outcome was known, awaiting the entry of their completion.
    const awaitingCompletion = new Map<string, LedgerEntryRow>();
    let first: LedgerEntryRow | null = null;
    let expected = 1;
    let prev: string | null = null;
    let entries = 0;
    for (let after = 0; ; ) {
      const page = await source.listLedger(writer, after, options.pageSize ?? PAGE);
      const events = await eventsOf(source, page);
      for (const e of page) {
        entries++;
        const at = (problem: string, seq = e.seq): TrailBreak => ({ writer, seq, kind: e.kind, refId: e.refId, problem });
        if (first === null) {
          first = e;
          // A chain may start later only where a trusted purge says it does.
          if (e.seq !== 1 || e.prevHash !== null) deferred.push({ excused: () => startsAtAnchor(purges, writer, e, hashAt), problem: at(startProblem(e), 1) });
        } else if (e.seq !== expected) note(at(`entries ${expected}…${e.seq - 1} are missing (deleted) before this ${e.kind}`, expected));
        else if (e.prevHash !== prev) note(at('this entry does not follow the one before it (entries were reordered, replaced or inserted)'));
        if (entryHash(e) !== e.hash) note(at('this ledger entry was altered'));
        const check = checkEvent(events, e);
        if (check === 'unknown') note(at(`unknown entry kind ${JSON.stringify(e.kind).slice(0, 40)}`));
        else if (check && 'changed' in check) note(at(`${check.changed} ${e.refId} was changed after it was recorded`));
        else if (check && 'missing' in check) {
          const problem = at(`${check.missing} ${e.refId} is missing (deleted)`);
          if (!purges.mayExcuseEvent(e.kind, e.at)) note(problem);
          else gone.event(e.kind, e.at, problem);
        } else {
          if (check && 'bodiesGone' in check) {
            const problem = at(`the bodies of interaction ${e.refId} were removed, but no purge removed them (deleted by hand)`);
            if (!purges.mayExcuseBodies(check.bodiesGone)) note(problem);
            else gone.bodies(check.bodiesGone, problem);
          }
          purges.sawOnChain(e.refId, e.kind, writer, e.seq);
          if (e.kind === 'audit.open' && events.audit.get(e.refId)?.outcome !== null) awaitingCompletion.set(e.refId, e);
        }
        if (e.kind === 'audit.complete') awaitingCompletion.delete(e.refId);
        if (seqs.has(e.seq)) hashAt.set(e.seq, e.hash);
        prev = e.hash;
        expected = e.seq + 1;
        after = e.seq;
      }
      if (page.length < (options.pageSize ?? PAGE)) break;
    }
    for (const e of awaitingCompletion.values()) {
      note({ writer, seq: e.seq, kind: e.kind, refId: e.refId, problem: `audit event ${e.refId} has an outcome that no ledger entry covers (completed outside the chain)` });
    }
    walked.set(writer, { entries, lastSeq: expected - 1, first, hashAt });
  }

  const keys = options.publicKeys;
  const own = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const writer of writers) {
    own.set(writer, checkCheckpoints(writer, stored.get(writer) ?? [], outside.get(writer) ?? [], walked.get(writer)!, keys, note, deferred, purges));
  }
  for (const c of validCheckpoints([...stored.values(), ...outside.values()].flat(), keys)) {
    for (const p of c.peers ?? []) {
      const peer = walked.get(p.writer)!;
      const problem = peerProblem(c, p, peer);
      if (problem === null) seen.set(p.writer, Math.max(seen.get(p.writer) ?? 0, p.seq));
      else deferred.push({ excused: () => purges.purgedAt(p.writer, p.seq), problem: { writer: p.writer, seq: Math.min(p.seq, peer.lastSeq + 1), kind: 'checkpoint', refId: c.hash.slice(0, 16), problem } });
    }
  }
  const anchoredSeq = (writer: string) => Math.max(own.get(writer) ?? 0, seen.get(writer) ?? 0);
  for (const p of purges.settle(keys ? anchoredSeq : null)) note({ ...p, kind: PURGE_ACTION });
  for (const d of deferred) if (!d.excused()) note(d.problem);
  gone.settle(purges, note);

  const reports: WriterReport[] = writers.map((writer) => {
    const w = walked.get(writer)!;
    const anchor = purges.anchor(writer);
    const checkpoints = new Set([...(stored.get(writer) ?? []), ...(outside.get(writer) ?? [])].map((c) => c.hash)).size;
    const anchored = anchoredSeq(writer);
    return {
      writer, entries: w.entries, checkpoints, anchoredSeq: anchored,
      unanchoredTail: Math.max(0, w.lastSeq - Math.max(anchored, anchor?.toSeq ?? 0)),
      purged: anchor ? { fromSeq: anchor.fromSeq, toSeq: anchor.toSeq } : null,
    };
  });
  problems.sort((a, b) => (a.writer === b.writer ? a.seq - b.seq : a.writer < b.writer ? -1 : 1));
  return {
    ok: problemCount === 0, writers: reports, firstBreak: problems[0] ?? null, problems, signaturesChecked: keys !== undefined,
    purges: purges.purges, purgedEvents: gone.events, purgedBodies: gone.bodiesCount,
  };
}

/** Removed events (and bodies) some purge record claims: few kept whole, the rest by their newest time per kind, in constant memory. */
class PurgedTally {
  private readonly kept: { kind: string | null; at: number; problem: TrailBreak }[] = [];
  private readonly newest = new Map<string | null, number>();
  private counts = { events: 0, bodies: 0 };

  event(kind: string, at: number, problem: TrailBreak): void {
    this.counts.events++;
    this.add(kind, at, problem);
  }

  bodies(startedAt: number, problem: TrailBreak): void {
    this.counts.bodies++;
    this.add(null, startedAt, problem);
  }

  get events(): number {
    return this.counts.events;
  }

  get bodiesCount(): number {
    return this.counts.bodies;
  }

  private add(kind: string | null, at: number, problem: TrailBreak): void {
    if (this.kept.length < MAX_PROBLEMS) this.kept.push({ kind, at, problem });
    this.newest.set(kind, Math.max(this.newest.get(kind) ?? -Infinity, at));
  }

  private excused(purges: PurgeRecords, kind: string | null, at: number): boolean {
    return kind === null ? purges.excusesBodies(at) : purges.excusesEvent(kind, at);
  }

  /** Names the removals no trusted purge covers; the counts then hold only what trusted purges removed. */
  settle(purges: PurgeRecords, note: (b: TrailBreak) => void): void {
    const unexcused = this.kept.filter((k) => !this.excused(purges, k.kind, k.at));
    for (const k of unexcused) note(k.problem);
    const rest = [...this.newest].some(([kind, at]) => !this.excused(purges, kind, at));
    if (unexcused.length > 0 || rest) {
      this.counts = { events: 0, bodies: 0 };
      if (rest && unexcused.length === 0) note({ writer: 'unknown', seq: 0, kind: null, refId: null, problem: 'records are missing that only an untrusted purge record claims to have removed (deleted)' });
    }
  }
}

function startProblem(e: LedgerEntryRow): string {
  if (e.seq === 1) return 'this entry does not follow the one before it (entries were reordered, replaced or inserted)';
  return `entries 1…${e.seq - 1} are missing (deleted) before this ${e.kind}, and no purge record says they were purged`;
}

/** The chain starts right after a trusted purge's range, linked to its anchor (or the anchor's entry is still there). */
function startsAtAnchor(purges: PurgeRecords, writer: string, first: LedgerEntryRow, hashAt: ReadonlyMap<number, string>): boolean {
  const a = purges.anchor(writer);
  if (!a) return false;
  if (a.toSeq + 1 === first.seq) return first.prevHash === a.anchorHash;
  // A purge cut short may have left some of its range: the entry it anchored on must be the one it named.
  return a.toSeq >= first.seq && hashAt.get(a.toSeq) === a.anchorHash;
}

function peerProblem(c: CheckpointRow, p: { writer: string; seq: number; hash: string }, peer: Walked): string | null {
  const by = `writer ${c.writer}'s checkpoint at seq ${c.seq} saw this chain's head at seq ${p.seq}`;
  const head = peer.hashAt.get(p.seq);
  if (head === p.hash) return null;
  if (peer.entries === 0) return `this writer's whole chain is missing, but ${by} (deleted)`;
  if (p.seq > peer.lastSeq) return `entries ${peer.lastSeq + 1}…${p.seq} are missing: ${by} (its tail was deleted)`;
  if (head === undefined) return `entry ${p.seq} is missing: ${by}`;
  return `entry ${p.seq} is not the one ${by} (the chain was rewritten up to it)`;
}

function validCheckpoints(rows: readonly CheckpointRow[], keys: ReadonlyMap<string, KeyObject> | undefined): CheckpointRow[] {
  return rows.filter((c) => (keys ? checkpointProblem(c, keys) : hashProblem(c)) === null);
}

/** Without keys a checkpoint is checked against its own hash only. */
function hashProblem(c: CheckpointRow): string | null {
  const altered = 'its fields do not match its hash (altered)';
  return checkpointProblem(c, new Map()) === altered ? altered : null;
}

function groupByWriter(rows: readonly CheckpointRow[]): Map<string, CheckpointRow[]> {
  const out = new Map<string, CheckpointRow[]>();
  // A sink may hold a line twice (an append retried): the same checkpoint counts once.
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(row.hash)) continue;
    seen.add(row.hash);
    out.set(row.writer, [...(out.get(row.writer) ?? []), row]);
  }
  for (const list of out.values()) list.sort((a, b) => a.seq - b.seq);
  return out;
}

/** Checks each list's own links and signatures, that both agree, and that the chain reaches what they signed. */
function checkCheckpoints(
  writer: string,
  stored: readonly CheckpointRow[],
  outside: readonly CheckpointRow[],
  chain: Walked,
  keys: ReadonlyMap<string, KeyObject> | undefined,
  note: (b: TrailBreak) => void,
  deferred: Deferred[],
  purges: PurgeRecords,
): number {
  let anchored = 0;
  const at = (c: CheckpointRow, problem: string): TrailBreak => ({ writer, seq: c.seq, kind: 'checkpoint', refId: c.hash.slice(0, 16), problem });
  // What a trusted purge removed, checkpoints of it included, is excused once the records are settled.
  const unlessPurged = (c: CheckpointRow, problem: string) => deferred.push({ excused: () => purges.purgedAt(writer, c.seq), problem: at(c, problem) });
  const storedAt = new Map(stored.map((c) => [c.seq, c]));
  for (const [list, where] of [[stored, 'stored'], [outside, 'outside the database']] as const) {
    let prev: CheckpointRow | null = null;
    for (const c of list) {
      const bad = keys ? checkpointProblem(c, keys) : hashProblem(c);
      if (bad) {
        note(at(c, `the checkpoint ${where} at seq ${c.seq}: ${bad}`));
        continue;
      }
      if (prev && c.prevCheckpointHash !== prev.hash) note(at(c, `the checkpoint ${where} at seq ${c.seq} does not follow the one at seq ${prev.seq} (a checkpoint was removed or replaced)`));
      if (where !== 'stored') {
        const twin = storedAt.get(c.seq);
        if (twin && twin.hash !== c.hash) note(at(c, `the stored checkpoint at seq ${c.seq} differs from the one kept outside the database (replaced)`));
        // Each checkpoint is stored before it is appended to the sink: one only the sink holds was removed (or purged).
        if (!twin) unlessPurged(c, `the checkpoint at seq ${c.seq} kept outside the database is missing from the store (removed)`);
      }
      const head = chain.hashAt.get(c.seq);
      if (head === undefined) unlessPurged(c, c.seq > chain.lastSeq ? `a checkpoint signed the chain up to seq ${c.seq}, but it ends at seq ${chain.lastSeq}: entries after it were deleted` : `entry ${c.seq}, which a checkpoint signed, is missing`);
      else if (head !== c.headHash) note(at(c, `entry ${c.seq} is not the one the checkpoint signed (the chain was rewritten up to it)`));
      else anchored = Math.max(anchored, c.seq);
      prev = c;
    }
  }
  return anchored;
}
