/** The audit_events table (migration 5): its statements and the mapping to AuditEventRow. */
import { InvalidArgument } from '../errors.ts';
import { placeholdersFor, type SqlValue } from './rows.ts';
import type { AuditEventCompletion, AuditEventFilter, AuditEventRow } from './types.ts';

type DbRecord = Record<string, unknown>;

const COLUMNS = 'id, at, replica_id, actor_id, actor_name, actor_kind, credential_id, action, target, outcome, details_json';

export const AUDIT_SQL = {
  insert: `INSERT INTO audit_events (${COLUMNS}) VALUES (${placeholdersFor(COLUMNS)})`,
  // Only the first completion counts: a late second one cannot rewrite what was answered.
  complete: 'UPDATE audit_events SET outcome = ?, target = ?, details_json = ? WHERE id = ? AND outcome IS NULL',
  exists: 'SELECT id FROM audit_events WHERE id = ?',
} as const;

export function auditEventParams(r: AuditEventRow): SqlValue[] {
  return [r.id, r.at, r.replicaId, r.actorId, r.actorName, r.actorKind, r.credentialId, r.action, r.target, r.outcome, JSON.stringify(r.details)];
}

export function auditCompletionParams(id: string, f: AuditEventCompletion): SqlValue[] {
  return [f.outcome, f.target, JSON.stringify(f.details), id];
}

export function toAuditEvent(r: DbRecord): AuditEventRow {
  return {
    id: r.id as string,
    at: Number(r.at),
    replicaId: (r.replica_id as string | null) ?? null,
    actorId: r.actor_id as string,
    actorName: r.actor_name as string,
    actorKind: r.actor_kind as AuditEventRow['actorKind'],
    credentialId: (r.credential_id as string | null) ?? null,
    action: r.action as string,
    target: (r.target as string | null) ?? null,
    outcome: r.outcome === null || r.outcome === undefined ? null : Number(r.outcome),
    details: JSON.parse(r.details_json as string) as Record<string, unknown>,
  };
}

/** Newest first; `before` pages by id, which starts with the event's time (util/ids.ts). */
export function listAuditEventsQuery(filter: AuditEventFilter): { sql: string; params: SqlValue[] } {
  if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) throw new InvalidArgument('limit must be a positive integer');
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (filter.before !== undefined) {
    where.push('id < ?');
    params.push(filter.before);
  }
  if (filter.actor !== undefined) {
    where.push('(actor_name = ? OR actor_id = ?)');
    params.push(filter.actor, filter.actor);
  }
  if (filter.action !== undefined) {
    where.push('action = ?');
    params.push(filter.action);
  }
  if (filter.target !== undefined) {
    where.push('target = ?');
    params.push(filter.target);
  }
  const sql = `SELECT ${COLUMNS} FROM audit_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  return { sql, params: [...params, filter.limit] };
}
