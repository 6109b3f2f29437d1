/** What the API and the CLI show of a just-in-time access request and the grant it yielded. */
import type { ApprovalRow, ApprovalVoteRow, GrantRow } from '../store/types.ts';
import type { ApprovalVoteView } from './view.ts';

/** The approval kind of an access request: it goes through the approvals of held requests, with this kind. */
export const ACCESS_KIND = 'access.request';
/** What the approval names as its rule: the settings come from approvals.access. */
export const ACCESS_RULE = 'approvals.access';

export type AccessStatus = 'pending' | 'denied' | 'expired' | 'withdrawn' | 'approved' | 'active' | 'revoked';

export interface GrantView {
  readonly id: string;
  readonly status: 'active' | 'expired' | 'revoked';
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly approvedBy: string[];
  readonly endedAt: number | null;
  /** Who revoked it, or `gatehouse` when it expired. */
  readonly endedBy: string | null;
  readonly endReason: string | null;
}

export interface AccessView {
  /** The access request's id (an approval id: `gatehouse approvals approve` decides it). */
  readonly id: string;
  /** pending → approved → active → expired | revoked, or pending → denied | expired. */
  readonly status: AccessStatus;
  readonly requester: { readonly id: string; readonly name: string };
  readonly connection: string;
  readonly reason: string;
  /** How long the grant lasts once approved, as asked (`--for`). */
  readonly duration: string;
  readonly durationMs: number;
  readonly createdAt: number;
  /** The request expires unless decided before this. */
  readonly requestExpiresAt: number;
  readonly approvers: string[];
  readonly required: number;
  readonly votes: ApprovalVoteView[];
  readonly grant: GrantView | null;
}

/** The grant an approval yields has the approval's id with another prefix: settling twice finds it taken. */
export const grantIdOf = (approvalId: string): string => `grt_${approvalId.replace(/^apr_/, '')}`;

export function grantView(grant: GrantRow, now: number): GrantView {
  // Past its end the grant is over even before the sweep marks it: nobody is shown a dead grant as active.
  const status = grant.status === 'active' && grant.expiresAt <= now ? 'expired' : grant.status;
  return {
    id: grant.id,
    status,
    grantedAt: grant.grantedAt,
    expiresAt: grant.expiresAt,
    approvedBy: grant.approvedBy,
    endedAt: grant.endedAt ?? (status === 'expired' ? grant.expiresAt : null),
    endedBy: grant.endedBy ?? (status === 'expired' ? 'gatehouse' : null),
    endReason: grant.endReason ?? (status === 'expired' ? 'reached its end' : null),
  };
}

export function toAccessView(row: ApprovalRow, votes: readonly ApprovalVoteRow[], grant: GrantRow | null, now: number): AccessView {
  const shown = grant ? grantView(grant, now) : null;
  let status: AccessStatus;
  if (shown) status = shown.status === 'active' ? 'active' : shown.status;
  else if (row.status === 'used') status = 'approved';
  else status = row.status === 'pending' && row.expiresAt <= now ? 'expired' : row.status;
  return {
    id: row.id,
    status,
    requester: { id: row.principalId, name: row.principalName },
    connection: row.connection,
    reason: typeof row.summary.reason === 'string' ? row.summary.reason : '',
    duration: typeof row.summary.duration === 'string' ? row.summary.duration : '',
    durationMs: Number(row.summary.durationMs) || 0,
    createdAt: row.createdAt,
    requestExpiresAt: row.expiresAt,
    approvers: row.approvers,
    required: row.required,
    votes: votes.map((v) => ({ approver: v.approverName, vote: v.vote, comment: v.comment, at: v.at, breakGlass: v.breakGlass })),
    grant: shown,
  };
}
