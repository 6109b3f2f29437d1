/**
 * A GatewayError as PostgreSQL clients see one: an ErrorResponse with the code's SQLSTATE, the
 * reason as the message and the deciding rule in the detail, so `psql` shows why and by what.
 */
import type { HeldApproval } from '../../adapter-contract.ts';
import type { GatewayError } from '../../errors.ts';
import type { NoticeFields } from './backend-writer.ts';

export function errorFields(error: GatewayError, severity: 'ERROR' | 'FATAL' = 'ERROR'): NoticeFields {
  const rule = error.details.rule;
  const detail = [
    typeof rule === 'string' ? `rule: ${rule}` : null,
    `gatehouse code: ${error.code}`,
  ].filter((line): line is string => line !== null);
  return {
    severity,
    code: error.sqlstate,
    message: `gatehouse: ${error.message}`,
    detail: detail.join('\n'),
    ...(HINTS[error.code] ? { hint: HINTS[error.code] } : {}),
  };
}

const HINTS: Partial<Record<GatewayError['code'], string>> = {
  auth_missing: 'connect with password=<gth_ token> (PGPASSWORD or the password field of the connection string)',
  auth_invalid: 'connect with password=<gth_ token>; ask your Gatehouse admin for a token for this connection',
  auth_expired: 'ask for a new token and reconnect',
  auth_revoked: 'ask for a new token and reconnect',
  auth_wrong_kind: 'exchange the service-account secret for a gth_ token first (POST /api/v1/token/exchange)',
  forbidden_connection: 'the token is not scoped to this database name (dbname selects the Gatehouse connection)',
  unknown_connection: 'dbname must name a postgres connection: gatehouse connections list',
};

/** The NoticeResponse a client gets at once when a rule holds its statement for approval. */
export function heldNoticeFields(approval: HeldApproval): NoticeFields {
  return {
    severity: 'NOTICE',
    code: '00000',
    message:
      `gatehouse: approval ${approval.id} is pending: rule "${approval.rule}" needs ${approval.required} approval(s) ` +
      `from a member of ${approval.approvers.join(', ')}; the statement waits until ${new Date(approval.expiresAt).toISOString()}`,
    detail: `rule: ${approval.rule}\napproval: ${approval.id}`,
    hint: `ask an approver to run \`gatehouse approvals approve ${approval.id}\`; cancelling the statement withdraws the request`,
  };
}
