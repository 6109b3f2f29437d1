/**
 * SQL and row mapping for just-in-time access grants (migration 12). A grant ends once: revoking
 * and expiring are conditional updates on `status = 'active'`, and the caller learns from the count
 * of rows changed whether it was the one that ended it (and so the one that tells everyone).
 */
import type { SqlValue } from './rows.ts';
import type { GrantFilter, GrantRow, GrantStatus } from './types.ts';

type DbRecord = Record<string, unknown>;

const COLUMNS =
  'id, approval_id, principal_id, principal_name, connection, reason, approved_by_json, granted_at, expires_at, status, ended_at, ended_by, end_reason';

export const GRANT_SQL = {
  insert: `INSERT INTO access_grants (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
  get: `SELECT ${COLUMNS} FROM access_grants WHERE id = ?`,
  live: `SELECT ${COLUMNS} FROM access_grants WHERE principal_id = ? AND connection = ? AND status = 'active' AND expires_at > ?
    ORDER BY expires_at, id LIMIT 100`,
  revoke: "UPDATE access_grants SET status = 'revoked', ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND status = 'active'",
  expire: "UPDATE access_grants SET status = 'expired', ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND status = 'active' AND expires_at <= ?",
  due: "SELECT id FROM access_grants WHERE status = 'active' AND expires_at <= ? ORDER BY expires_at LIMIT 500",
} as const;

/** Approvals of one kind (access requests): their own columns, read as approval-rows.ts reads them. */
export function approvalsOfKindQuery(kind: string, filter: { status?: string; principalId?: string; limit: number }): { sql: string; params: SqlValue[] } {
  const where = ['kind = ?'];
  const params: SqlValue[] = [kind];
  if (filter.principalId !== undefined) {
    where.push('principal_id = ?');
    params.push(filter.principalId);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  return { sql: `SELECT * FROM approvals WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`, params: [...params, filter.limit] };
}

export function listGrantsQuery(filter: GrantFilter): { sql: string; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (filter.principalId !== undefined) {
    where.push('principal_id = ?');
    params.push(filter.principalId);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  return {
    sql: `SELECT ${COLUMNS} FROM access_grants${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY granted_at DESC, id DESC LIMIT ?`,
    params: [...params, filter.limit],
  };
}

export function grantParams(r: GrantRow): SqlValue[] {
  return [
    r.id, r.approvalId, r.principalId, r.principalName, r.connection, r.reason, JSON.stringify(r.approvedBy),
    r.grantedAt, r.expiresAt, r.status, r.endedAt, r.endedBy, r.endReason,
  ];
}

const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function toGrant(r: DbRecord): GrantRow {
  return {
    id: r.id as string,
    approvalId: r.approval_id as string,
    principalId: r.principal_id as string,
    principalName: r.principal_name as string,
    connection: r.connection as string,
    reason: r.reason as string,
    approvedBy: JSON.parse(r.approved_by_json as string) as string[],
    grantedAt: Number(r.granted_at),
    expiresAt: Number(r.expires_at),
    status: r.status as GrantStatus,
    endedAt: numOrNull(r.ended_at),
    endedBy: (r.ended_by as string | null) ?? null,
    endReason: (r.end_reason as string | null) ?? null,
  };
}
