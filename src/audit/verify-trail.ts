/**
 * Walks every writer's chain and its checkpoints, and names the first broken link: which
 * writer, which place, which event, and what is wrong. Reads only: the same walk runs in the
 * gateway (the API), and offline against the database with nothing but the public keys.
 */
import type { KeyObject } from 'node:crypto';
import type { CheckpointRow, LedgerEntryRow, LedgerStore, Store } from '../store/types.ts';
import { auditCompleteHash, auditEventHash, auditOpenHash, entryHash, sessionEndHash, sessionStartHash } from './canonical.ts';
import { checkpointProblem } from './checkpoints.ts';
import { sealInteraction } from './hash-chain.ts';

export type TrailSource = Pick<LedgerStore, 'listLedger' | 'ledgerWriters' | 'listCheckpoints' | 'getAuditEvent'> & Pick<Store, 'getSession' | 'getInteraction'>;

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
  /** The highest seq a valid checkpoint covers: entries up to it cannot be cut off unnoticed. */
  readonly anchoredSeq: number;
}

export interface TrailReport {
  readonly ok: boolean;
  readonly writers: readonly WriterReport[];
  readonly firstBreak: TrailBreak | null;
  /** Every problem found, up to MAX_PROBLEMS. */
  readonly problems: readonly TrailBreak[];
  /** False when no public key was given: checkpoints were checked against their hashes only. */
  readonly signaturesChecked: boolean;
}

export interface VerifyOptions {
  /** Trusted public keys by key id; none means signatures are not checked. */
  readonly publicKeys?: ReadonlyMap<string, KeyObject>;
  /** Checkpoints kept outside the database (the sink file), checked beside the stored ones. */
  readonly checkpoints?: readonly CheckpointRow[];
}

const PAGE = 1000;
const MAX_PROBLEMS = 100;

async function eventProblem(source: TrailSource, e: LedgerEntryRow): Promise<string | null> {
  const changed = (what: string) => `${what} ${e.refId} was changed after it was recorded`;
  const missing = (what: string) => `${what} ${e.refId} is missing (deleted)`;
  switch (e.kind) {
    case 'session.start':
    case 'session.end': {
      const s = await source.getSession(e.refId);
      if (!s) return missing('session');
      const hash = e.kind === 'session.start' ? sessionStartHash(s) : sessionEndHash(s.id, s.endedAt, s.endReason);
      return hash === e.eventHash ? null : changed('session');
    }
    case 'interaction': {
      const i = await source.getInteraction(e.refId);
      if (!i) return missing('interaction');
      return i.hash === e.eventHash && sealInteraction(i, i.prevHash) === e.eventHash ? null : changed('interaction');
    }
    case 'audit.open':
    case 'audit.event':
    case 'audit.complete': {
      const a = await source.getAuditEvent(e.refId);
      if (!a) return missing('audit event');
      const hash = e.kind === 'audit.open' ? auditOpenHash(a) : e.kind === 'audit.event' ? auditEventHash(a) : auditCompleteHash(a.id, a);
      return hash === e.eventHash ? null : changed('audit event');
    }
    default:
      return `unknown entry kind ${JSON.stringify(e.kind).slice(0, 40)}`;
  }
}

export async function verifyTrail(source: TrailSource, options: VerifyOptions = {}): Promise<TrailReport> {
  const problems: TrailBreak[] = [];
  const note = (b: TrailBreak) => {
    if (problems.length < MAX_PROBLEMS) problems.push(b);
  };
  const stored = groupByWriter(await source.listCheckpoints());
  const outside = groupByWriter(options.checkpoints ?? []);
  const writers = [...new Set([...(await source.ledgerWriters()), ...outside.keys()])].sort();
  const reports: WriterReport[] = [];

  for (const writer of writers) {
    const checkpoints = [...(stored.get(writer) ?? []), ...(outside.get(writer) ?? [])];
    const wanted = new Set(checkpoints.map((c) => c.seq));
    const hashAt = new Map<number, string>();
    // Audit events written before their outcome was known, awaiting the entry of their completion.
    const awaitingCompletion = new Map<string, LedgerEntryRow>();
    let expected = 1;
    let prev: string | null = null;
    let entries = 0;
    for (let after = 0; ; ) {
      const page = await source.listLedger(writer, after, PAGE);
      for (const e of page) {
        entries++;
        const at = (problem: string, seq = e.seq) => note({ writer, seq, kind: e.kind, refId: e.refId, problem });
        if (e.seq !== expected) at(`entries ${expected}…${e.seq - 1} are missing (deleted) before this ${e.kind}`, expected);
        else if (e.prevHash !== prev) at('this entry does not follow the one before it (entries were reordered, replaced or inserted)');
        if (entryHash(e) !== e.hash) at('this ledger entry was altered');
        const problem = await eventProblem(source, e);
        if (problem) at(problem);
        else if (e.kind === 'audit.open' && (await source.getAuditEvent(e.refId))?.outcome !== null) awaitingCompletion.set(e.refId, e);
        if (e.kind === 'audit.complete') awaitingCompletion.delete(e.refId);
        if (wanted.has(e.seq)) hashAt.set(e.seq, e.hash);
        prev = e.hash;
        expected = e.seq + 1;
        after = e.seq;
      }
      if (page.length < PAGE) break;
    }
    for (const e of awaitingCompletion.values()) {
      note({ writer, seq: e.seq, kind: e.kind, refId: e.refId, problem: `audit event ${e.refId} has an outcome that no ledger entry covers (completed outside the chain)` });
    }
    const anchoredSeq = checkCheckpoints(writer, stored.get(writer) ?? [], outside.get(writer) ?? [], hashAt, expected - 1, options.publicKeys, note);
    reports.push({ writer, entries, checkpoints: new Set(checkpoints.map((c) => c.hash)).size, anchoredSeq });
  }
  problems.sort((a, b) => (a.writer === b.writer ? a.seq - b.seq : a.writer < b.writer ? -1 : 1));
  return { ok: problems.length === 0, writers: reports, firstBreak: problems[0] ?? null, problems, signaturesChecked: options.publicKeys !== undefined };
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
  hashAt: ReadonlyMap<number, string>,
  lastSeq: number,
  keys: ReadonlyMap<string, KeyObject> | undefined,
  note: (b: TrailBreak) => void,
): number {
  let anchored = 0;
  const at = (c: CheckpointRow, problem: string) => note({ writer, seq: c.seq, kind: 'checkpoint', refId: c.hash.slice(0, 16), problem });
  const storedAt = new Map(stored.map((c) => [c.seq, c]));
  for (const [list, where] of [[stored, 'stored'], [outside, 'outside the database']] as const) {
    let prev: CheckpointRow | null = null;
    for (const c of list) {
      const bad = keys ? checkpointProblem(c, keys) : checkpointProblem(c, new Map()) === 'its fields do not match its hash (altered)' ? 'its fields do not match its hash (altered)' : null;
      if (bad) {
        at(c, `the checkpoint ${where} at seq ${c.seq}: ${bad}`);
        continue;
      }
      if (prev && c.prevCheckpointHash !== prev.hash) at(c, `the checkpoint ${where} at seq ${c.seq} does not follow the one at seq ${prev.seq} (a checkpoint was removed or replaced)`);
      if (where !== 'stored') {
        const twin = storedAt.get(c.seq);
        if (twin && twin.hash !== c.hash) at(c, `the stored checkpoint at seq ${c.seq} differs from the one kept outside the database (replaced)`);
        // Each checkpoint is stored before it is appended to the sink: one only the sink holds was removed.
        if (!twin) at(c, `the checkpoint at seq ${c.seq} kept outside the database is missing from the store (removed)`);
      }
      const head = hashAt.get(c.seq);
      if (head === undefined) at(c, c.seq > lastSeq ? `a checkpoint signed the chain up to seq ${c.seq}, but it ends at seq ${lastSeq}: entries after it were deleted` : `entry ${c.seq}, which a checkpoint signed, is missing`);
      else if (head !== c.headHash) at(c, `entry ${c.seq} is not the one the checkpoint signed (the chain was rewritten up to it)`);
      else anchored = Math.max(anchored, c.seq);
      prev = c;
    }
  }
  return anchored;
}
