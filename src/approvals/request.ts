/**
 * A held request as approvals/ stores it: who asks, the fingerprint of exactly what would run, and
 * a summary for approvers built from the request as masked (the caller passes the mask).
 */
import type { HeldApproval, RequestDraft, Session } from '../adapter-contract.ts';
import type { Decision, Principal, PrincipalKind, RequestSummary } from '../interaction.ts';
import { fingerprint, numbersSurviveParsing, type FingerprintInput } from './fingerprint.ts';

/** What a held request is: who asks, through which token, for what (masked), and who may decide. */
export interface HoldRequest {
  /** `kind` names the requester's kind in the audit trail (default user). */
  readonly principal: Pick<Principal, 'id' | 'name'> & { readonly kind?: PrincipalKind };
  readonly tokenId: string | null;
  readonly agent: string;
  readonly connection: string;
  readonly kind: string;
  /** approvals/fingerprint.ts over the exact request. */
  readonly fingerprint: string;
  readonly rule: string;
  readonly approvers: readonly string[];
  readonly required: number;
  readonly timeoutMs: number;
  /** The request as masked for approvers. */
  readonly summary: Record<string, unknown>;
}

export interface HoldOptions {
  /** Aborts when the client is gone: the approval is withdrawn and can never run. */
  readonly signal?: AbortSignal;
  /** How long to wait for a decision; 0 answers at once. */
  readonly waitMs: number;
  /** Told the approval the request waits for, as soon as it exists (a client can be shown its id at once). */
  readonly onCreated?: (approval: HeldApproval) => void;
  /** The record id of the held request: the trail names it on the approval it created and on the one it ran under. */
  readonly interactionId?: string;
}

/** Long enough to judge a prompt or a statement by, short enough for a chat message. */
const EXCERPT = 2_000;

export function approvalRequest(
  session: Session,
  decision: Extract<Decision, { action: 'approve' }>,
  draft: RequestDraft,
  summary: RequestSummary,
  mask: (text: string) => string,
): HoldRequest {
  const http = draft.summary.http;
  // The query string is part of what runs: `/items?delete=all` is not `/items`.
  const target = http ? `${http.path}${http.query ? `?${http.query}` : ''}` : draft.target;
  return {
    principal: session.auth.principal,
    tokenId: session.auth.credential.tokenId,
    agent: session.auth.credential.name,
    connection: session.connection.name,
    kind: draft.kind,
    fingerprint: fingerprint({
      principalId: session.auth.principal.id,
      agent: session.auth.credential.name,
      connection: session.connection.name,
      kind: draft.kind,
      method: draft.method,
      target,
      content: draft.exact !== undefined ? { exact: draft.exact() } : contentOf(draft.body),
    }),
    rule: decision.rule,
    approvers: decision.approvers,
    required: decision.required,
    timeoutMs: decision.timeoutMs,
    summary: approverSummary(draft, summary, target, mask),
  };
}

function contentOf(body: RequestDraft['body']): FingerprintInput['content'] {
  switch (body.type) {
    case 'none':
      return null;
    case 'text':
      return { text: body.text };
    case 'json':
      // Two readers may disagree on a duplicated key, and a long number parses like its neighbour:
      // such a body matches no other, so an approval given for it can never run a different one.
      if (body.duplicateKeys || (body.text !== undefined && !numbersSurviveParsing(body.text))) return 'unreadable';
      return { json: body.value };
    case 'opaque':
      return 'unreadable';
  }
}

const excerpt = (text: string) => (text.length > EXCERPT ? `${text.slice(0, EXCERPT)}… [${text.length - EXCERPT} more characters]` : text);

function approverSummary(draft: RequestDraft, summary: RequestSummary, target: string | null, mask: (text: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (draft.method) out.method = draft.method;
  if (target !== null && !summary.sql) out.path = excerpt(mask(target));
  if (draft.model) out.model = draft.model;
  if (summary.llm) {
    out.prompt = excerpt(mask(summary.llm.messageText));
    if (summary.llm.toolNames.length > 0) out.tools = [...summary.llm.toolNames];
  } else if (summary.sql) {
    out.sql = excerpt(mask(summary.sql.text));
    out.statements = [...summary.sql.kinds];
    out.tables = [...summary.sql.tables];
  } else if (summary.mcp) {
    out.tool = summary.mcp.tool;
    out.arguments = excerpt(mask(JSON.stringify(summary.mcp.arguments) ?? ''));
  } else {
    const body = draft.body;
    if (body.type === 'json') out.body = excerpt(mask(body.text ?? JSON.stringify(body.value)));
    else if (body.type === 'text') out.body = excerpt(mask(body.text));
    else if (body.type === 'opaque') out.body = `[${body.description}]`;
  }
  if (summary.entities.length > 0) out.entities = [...summary.entities];
  return out;
}
