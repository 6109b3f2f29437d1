/** The audit ledger and its checkpoints (migration 15): statements and row mappings. */
import { groupedInsert } from './grouped-write.ts';
import type { SqlValue } from './rows.ts';
import type { CheckpointRow, LedgerEntryRow, PeerHead } from './types.ts';

type DbRecord = Record<string, unknown>;

// hash first: a grouped write's first column is its key, and a PostgreSQL batch holds one write per
// key (postgres-group-commit.ts). Keyed by writer, every append of a replica would wait for a batch of its own.
const LEDGER_TYPES = {
  hash: 'TEXT', writer: 'TEXT', seq: 'BIGINT', kind: 'TEXT', ref_id: 'TEXT', event_hash: 'TEXT', prev_hash: 'TEXT', at: 'BIGINT',
} as const;
const LEDGER_COLUMNS = Object.keys(LEDGER_TYPES).join(', ');
const CHECKPOINT_COLUMNS = 'writer, seq, head_hash, at, prev_checkpoint_hash, key_id, signature, hash, peers_json';

/** Grouped like the interaction writes it rides with, so both commit in one batch. */
export const APPEND_LEDGER = groupedInsert('audit_ledger', LEDGER_TYPES);

export const LEDGER_SQL = {
  page: `SELECT ${LEDGER_COLUMNS} FROM audit_ledger WHERE writer = ? AND seq > ? ORDER BY seq LIMIT ?`,
  head: `SELECT ${LEDGER_COLUMNS} FROM audit_ledger WHERE writer = ? ORDER BY seq DESC LIMIT 1`,
  writers: 'SELECT DISTINCT writer FROM audit_ledger UNION SELECT DISTINCT writer FROM audit_checkpoints',
  insertCheckpoint: `INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  checkpoints: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY writer, seq`,
  lastCheckpoint: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE writer = ? ORDER BY seq DESC LIMIT 1`,
  auditEvent: 'SELECT id, at, replica_id, actor_id, actor_name, actor_kind, credential_id, action, target, outcome, details_json FROM audit_events WHERE id = ?',
} as const;

export function ledgerParams(r: LedgerEntryRow): SqlValue[] {
  return [r.hash, r.writer, r.seq, r.kind, r.refId, r.eventHash, r.prevHash, r.at];
}

export function toLedgerEntry(r: DbRecord): LedgerEntryRow {
  return {
    writer: r.writer as string,
    seq: Number(r.seq),
    kind: r.kind as string,
    refId: r.ref_id as string,
    eventHash: r.event_hash as string,
    prevHash: (r.prev_hash as string | null) ?? null,
    hash: r.hash as string,
    at: Number(r.at),
  };
}

export function checkpointParams(r: CheckpointRow): SqlValue[] {
  return [r.writer, r.seq, r.headHash, r.at, r.prevCheckpointHash, r.keyId, r.signature, r.hash, r.peers ? JSON.stringify(r.peers) : null];
}

export function toCheckpoint(r: DbRecord): CheckpointRow {
  return {
    writer: r.writer as string,
    seq: Number(r.seq),
    headHash: r.head_hash as string,
    at: Number(r.at),
    prevCheckpointHash: (r.prev_checkpoint_hash as string | null) ?? null,
    keyId: r.key_id as string,
    signature: r.signature as string,
    hash: r.hash as string,
    // Checkpoints signed before migration 18 read back without peers, as they were signed.
    ...(typeof r.peers_json === 'string' ? { peers: JSON.parse(r.peers_json) as PeerHead[] } : {}),
  };
}
