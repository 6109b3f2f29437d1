/**
 * SQL and row mapping for approvals and their votes (migration 9). Every change of status is a
 * conditional update: the WHERE names the status it leaves, so of two replicas deciding at once
 * exactly one changes the row, and the other learns it lost from the count of rows changed.
 */
import type { SqlValue } from './rows.ts';
import type { ApprovalRow, ApprovalStatus, ApprovalVoteRow } from './types.ts';

type DbRecord = Record<string, unknown>;

const COLUMNS =
  'id, created_at, expires_at, status, fingerprint, principal_id, principal_name, token_id, agent, connection, kind, rule, ' +
  'approvers_json, required, summary_json, decided_at, used_at, replica_id';
const VOTE_COLUMNS = 'approval_id, approver_id, approver_name, vote, comment, at, break_glass';

export const APPROVAL_SQL = {
  insert: `INSERT INTO approvals (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(', ')})`,
  get: `SELECT ${COLUMNS} FROM approvals WHERE id = ?`,
  // approvals_one_pending (migration 13): the conflict target names the partial index, predicate included.
  insertPending: `INSERT INTO approvals (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(', ')})
    ON CONFLICT (principal_id, fingerprint) WHERE status = 'pending' DO NOTHING`,
  pendingFor: `SELECT ${COLUMNS} FROM approvals WHERE principal_id = ? AND fingerprint = ? AND status = 'pending'`,
  /** Live approvals of one request of one principal, newest first. */
  findLive: `SELECT ${COLUMNS} FROM approvals WHERE principal_id = ? AND fingerprint = ? AND status = ? AND expires_at > ?
    ORDER BY created_at DESC, id DESC LIMIT 20`,
  decide: 'UPDATE approvals SET status = ?, decided_at = ? WHERE id = ? AND status = ?',
  // Usable once, before it expires.
  use: "UPDATE approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved' AND used_at IS NULL AND expires_at > ?",
  // A pending approval past its expiry lapses; so does an approved one never used. decided_at keeps the decision's time.
  expireOne: "UPDATE approvals SET status = 'expired', decided_at = COALESCE(decided_at, ?) WHERE id = ? AND status IN ('pending', 'approved') AND expires_at <= ?",
  due: `SELECT id FROM approvals WHERE status IN ('pending', 'approved') AND expires_at <= ? ORDER BY expires_at LIMIT 500`,
  // A vote counts only while the approval is open: one cast after the decision is not stored. The casts
  // type the parameters for PostgreSQL, which cannot infer them from a select list.
  insertVote: `INSERT INTO approval_votes (${VOTE_COLUMNS})
    SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM approvals WHERE id = ? AND status = 'pending' AND expires_at > ?)`,
  votes: `SELECT ${VOTE_COLUMNS} FROM approval_votes WHERE approval_id = ? ORDER BY at, approver_id`,
} as const;

export function listApprovalsQuery(filter: { status?: ApprovalStatus; principalId?: string; limit: number }): { sql: string; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (filter.principalId !== undefined) {
    where.push('principal_id = ?');
    params.push(filter.principalId);
  }
  return {
    sql: `SELECT ${COLUMNS} FROM approvals${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
    params: [...params, filter.limit],
  };
}

export function approvalParams(r: ApprovalRow): SqlValue[] {
  return [
    r.id, r.createdAt, r.expiresAt, r.status, r.fingerprint, r.principalId, r.principalName, r.tokenId, r.agent, r.connection,
    r.kind, r.rule, JSON.stringify(r.approvers), r.required, JSON.stringify(r.summary), r.decidedAt, r.usedAt, r.replicaId,
  ];
}

const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function toApproval(r: DbRecord): ApprovalRow {
  return {
    id: r.id as string,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    status: r.status as ApprovalStatus,
    fingerprint: r.fingerprint as string,
    principalId: r.principal_id as string,
    principalName: r.principal_name as string,
    tokenId: (r.token_id as string | null) ?? null,
    agent: r.agent as string,
    connection: r.connection as string,
    kind: r.kind as string,
    rule: r.rule as string,
    approvers: JSON.parse(r.approvers_json as string) as string[],
    required: num(r.required),
    summary: JSON.parse(r.summary_json as string) as Record<string, unknown>,
    decidedAt: numOrNull(r.decided_at),
    usedAt: numOrNull(r.used_at),
    replicaId: (r.replica_id as string | null) ?? null,
  };
}

export function voteParams(v: ApprovalVoteRow, now: number): SqlValue[] {
  return [v.approvalId, v.approverId, v.approverName, v.vote, v.comment, v.at, v.breakGlass ? 1 : 0, v.approvalId, now];
}

export function toVote(r: DbRecord): ApprovalVoteRow {
  return {
    approvalId: r.approval_id as string,
    approverId: r.approver_id as string,
    approverName: r.approver_name as string,
    vote: r.vote as ApprovalVoteRow['vote'],
    comment: (r.comment as string | null) ?? null,
    at: num(r.at),
    breakGlass: num(r.break_glass) === 1,
  };
}
