/**
 * Audit retention (migration 18, audit/purge.ts): what a purge removes, in bounded batches, and the
 * reads that let verify check a page of the ledger in a few queries instead of one per entry.
 *
 * An event is past retention only when every ledger entry naming it is older than its kind's
 * cutoff: verify excuses a missing event by the age of its entry, so the two rules must agree.
 */
import type { PurgeKind } from './types.ts';

const LEDGER_COLUMNS = 'hash, writer, seq, kind, ref_id, event_hash, prev_hash, at';
export const AUDIT_EVENT_COLUMNS = 'id, at, replica_id, actor_id, actor_name, actor_kind, credential_id, action, target, outcome, details_json';

const noYoungerEntry = (alias: string) => `NOT EXISTS (SELECT 1 FROM audit_ledger l WHERE l.ref_id = ${alias}.id AND l.at >= ?)`;

/** Which rows of a kind are past the cutoff, and the parameters of `where`. */
const PAST: Record<PurgeKind, { table: string; where: string; params: (cutoff: number) => number[] }> = {
  // Only rows whose digests the seal covers: older rows seal the text itself and keep it until the row goes.
  bodies: {
    table: 'interactions',
    where: `i.started_at < ? AND i.body_digests_json IS NOT NULL AND i.bodies_purged_at IS NULL
      AND i.status <> 'open' AND (i.request_body IS NOT NULL OR i.response_body IS NOT NULL)`,
    params: (cutoff) => [cutoff],
  },
  interactions: { table: 'interactions', where: `i.started_at < ? AND i.status <> 'open' AND ${noYoungerEntry('i')}`, params: (c) => [c, c] },
  // A session goes after its interactions: the foreign key, and a session view that still reads whole.
  sessions: {
    table: 'sessions',
    where: `i.started_at < ? AND i.ended_at IS NOT NULL AND i.ended_at < ?
      AND NOT EXISTS (SELECT 1 FROM interactions x WHERE x.session_id = i.id) AND ${noYoungerEntry('i')}`,
    params: (c) => [c, c, c],
  },
  events: { table: 'audit_events', where: `i.at < ? AND ${noYoungerEntry('i')}`, params: (c) => [c, c] },
};

/** Parameters for RETENTION_SQL.count(kind), and, after a bodies purge's time, for purge(kind) before its limit. */
export function pastParams(kind: PurgeKind, cutoff: number): number[] {
  return PAST[kind].params(cutoff);
}

export const RETENTION_SQL = {
  count: (kind: PurgeKind) => `SELECT COUNT(*) AS n FROM ${PAST[kind].table} i WHERE ${PAST[kind].where}`,
  purge: (kind: PurgeKind) =>
    kind === 'bodies'
      ? `UPDATE interactions SET request_body = NULL, response_body = NULL, bodies_purged_at = ?
          WHERE id IN (SELECT i.id FROM interactions i WHERE ${PAST.bodies.where} LIMIT ?)`
      : `DELETE FROM ${PAST[kind].table} WHERE id IN (SELECT i.id FROM ${PAST[kind].table} i WHERE ${PAST[kind].where} LIMIT ?)`,
  /** The last entry of a chain's prefix older than the cutoff, never the head: (writer, cutoff, writer, writer, cutoff). */
  purgeBound: `SELECT ${LEDGER_COLUMNS} FROM audit_ledger WHERE writer = ? AND at < ?
    AND seq < (SELECT MAX(seq) FROM audit_ledger WHERE writer = ?)
    AND seq < COALESCE((SELECT MIN(seq) FROM audit_ledger WHERE writer = ? AND at >= ?), 9007199254740991)
    ORDER BY seq DESC LIMIT 1`,
  deleteLedger: 'DELETE FROM audit_ledger WHERE writer = ? AND seq IN (SELECT seq FROM audit_ledger WHERE writer = ? AND seq <= ? ORDER BY seq LIMIT ?)',
  // The last checkpoint stays: the next one links to it.
  deleteCheckpoints: `DELETE FROM audit_checkpoints WHERE writer = ? AND seq <= ?
    AND seq < (SELECT MAX(seq) FROM audit_checkpoints WHERE writer = ?)`,
  // Taken at every checkpoint: the writers are found by stepping through the primary key (one seek
  // per writer, not a scan of the ledger), then each one's head by its last seq.
  heads: `WITH RECURSIVE w (writer) AS (
      SELECT MIN(writer) FROM audit_ledger
      UNION ALL
      SELECT (SELECT MIN(writer) FROM audit_ledger x WHERE x.writer > w.writer) FROM w WHERE w.writer IS NOT NULL
    )
    SELECT ${LEDGER_COLUMNS.split(', ').map((c) => `l.${c}`).join(', ')} FROM w JOIN audit_ledger l ON l.writer = w.writer
    WHERE l.seq = (SELECT MAX(seq) FROM audit_ledger m WHERE m.writer = w.writer) ORDER BY l.writer`,
  ofAction: `SELECT ${AUDIT_EVENT_COLUMNS} FROM audit_events WHERE action = ? ORDER BY at DESC, id DESC LIMIT ?`,
  writerCandidates: 'SELECT writer FROM audit_writers WHERE held_until < ? ORDER BY writer LIMIT 20',
  takeWriter: 'UPDATE audit_writers SET holder = ?, held_until = ? WHERE writer = ? AND held_until < ?',
  newWriter: 'INSERT INTO audit_writers (writer, holder, held_until) VALUES (?, ?, ?)',
  renewWriter: 'UPDATE audit_writers SET held_until = ? WHERE writer = ? AND holder = ?',
  releaseWriter: 'UPDATE audit_writers SET held_until = 0 WHERE writer = ? AND holder = ?',
} as const;

/** `SELECT … WHERE id IN (?, …)` over exactly `n` ids. */
export function byIds(table: 'sessions' | 'interactions' | 'audit_events', columns: string, n: number): string {
  return `SELECT ${columns} FROM ${table} WHERE id IN (${Array.from({ length: n }, () => '?').join(', ')})`;
}
