/** What the API, the CLI and notifications show of an approval. */
import type { ApprovalRow, ApprovalStatus, ApprovalVoteRow } from '../store/types.ts';

export interface ApprovalVoteView {
  /** The approver's name. */
  readonly approver: string;
  readonly vote: 'approve' | 'deny';
  readonly comment: string | null;
  readonly at: number;
  /** Cast by a member of approvals.breakGlassGroups: alone enough to approve. */
  readonly breakGlass: boolean;
}

export interface ApprovalView {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly requester: { readonly id: string; readonly name: string };
  /** The name of the token the request came with. */
  readonly agent: string;
  readonly connection: string;
  /** The interaction kind: llm.chat, http.request, sql.query … */
  readonly kind: string;
  readonly rule: string;
  /** Groups whose members may approve. */
  readonly approvers: string[];
  /** How many distinct approvers must approve. */
  readonly required: number;
  /** The request as masked for approvers: method and path, SQL text, model and a prompt excerpt. */
  readonly summary: Record<string, unknown>;
  readonly votes: ApprovalVoteView[];
  readonly decidedAt: number | null;
  readonly usedAt: number | null;
}

export function toView(row: ApprovalRow, votes: readonly ApprovalVoteRow[]): ApprovalView {
  return {
    id: row.id,
    status: row.status,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    requester: { id: row.principalId, name: row.principalName },
    agent: row.agent,
    connection: row.connection,
    kind: row.kind,
    rule: row.rule,
    approvers: row.approvers,
    required: row.required,
    summary: row.summary,
    votes: votes.map((v) => ({ approver: v.approverName, vote: v.vote, comment: v.comment, at: v.at, breakGlass: v.breakGlass })),
    decidedAt: row.decidedAt,
    usedAt: row.usedAt,
  };
}
