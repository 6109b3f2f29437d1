/**
 * What `policy test` shows of an approve decision: who may decide and how many must, how long the
 * client blocks (`wait`) and when the approval expires (`timeout`), and what the client sees on
 * its protocol, so a rule can be judged before anyone is held by it.
 */
import type { ConnectionType, Decision } from '../interaction.ts';
import { formatDuration } from '../util/durations.ts';

type Protocol = 'http' | 'postgres' | 'mcp';

export interface ApprovalPreview {
  /** Groups whose members (holding the approver or admin role) may decide. */
  readonly approvers: readonly string[];
  /** Distinct approvals needed; never the requester's own. */
  readonly required: number;
  /** approvals.breakGlassGroups: a member may approve alone. */
  readonly breakGlassGroups: readonly string[];
  readonly wait: string;
  readonly waitMs: number;
  readonly timeout: string;
  readonly timeoutMs: number;
  /** What the client sees while it waits and when no approval comes, by protocol (the connection's, or every one). */
  readonly client: Partial<Record<Protocol, string>>;
  /** The error a client hears when no decision came within `wait`: on HTTP an OpenAI-shaped 403. */
  readonly error: { readonly status: 403; readonly type: 'permission_error'; readonly code: 'approval_required'; readonly sqlstate: '42501' };
}

const PROTOCOL: Record<ConnectionType, Protocol> = { openai: 'http', http: 'http', postgres: 'postgres', mcp: 'mcp', anthropic: 'http', gemini: 'http', 'azure-openai': 'http', bedrock: 'http', s3: 'http' };

const human = (ms: number) => {
  const text = formatDuration(ms);
  return text.endsWith('s') ? text : `${text} (${Math.round(ms / 1000)}s)`;
};

function clientSees(protocol: Protocol, wait: string, timeout: string): string {
  const again = `once approved, the same request sent again by the same identity and agent before ${timeout} is up runs once`;
  switch (protocol) {
    case 'http':
      return `blocks up to ${wait}; approved in time, it is forwarded and answers normally; otherwise HTTP 403 with error.type permission_error, ` +
        `error.code approval_required, gatehouse.approvalId and gatehouse.approve (the command to approve); ${again}`;
    case 'postgres':
      return 'a NoticeResponse names the approval at once and the statement waits; approved, it runs; denied, or ' +
        `${timeout} passing first, it fails with ErrorResponse 42501 (approval_denied, approval_expired) and the session stays usable; a CancelRequest withdraws it`;
    case 'mcp':
      return `the tool call blocks up to ${wait}; approved in time, the tool runs; otherwise an error result (isError) names the approval and the command to approve; ${again}`;
  }
}

export function previewApproval(decision: Extract<Decision, { action: 'approve' }>, connection: ConnectionType | undefined, breakGlassGroups: readonly string[]): ApprovalPreview {
  const wait = formatDuration(decision.waitMs);
  const timeout = formatDuration(decision.timeoutMs);
  const protocols: Protocol[] = connection ? [PROTOCOL[connection]] : ['http', 'postgres', 'mcp'];
  return {
    approvers: [...decision.approvers],
    required: decision.required,
    breakGlassGroups: [...breakGlassGroups],
    wait,
    waitMs: decision.waitMs,
    timeout,
    timeoutMs: decision.timeoutMs,
    client: Object.fromEntries(protocols.map((p) => [p, clientSees(p, wait, timeout)])),
    error: { status: 403, type: 'permission_error', code: 'approval_required', sqlstate: '42501' },
  };
}

/** The preview as lines under the trace. */
export function approvalLines(preview: ApprovalPreview): string[] {
  const who = preview.approvers.length > 0 ? preview.approvers.join(', ') : '(no group: nobody can approve)';
  const glass = preview.breakGlassGroups.length > 0 ? `; or one member of ${preview.breakGlassGroups.join(', ')} alone (break-glass)` : '';
  return [
    `approvers: ${preview.required} distinct approval(s) from members of ${who}, never the requester${glass}`,
    `wait: ${human(preview.waitMs)}: how long the client blocks for a decision`,
    `timeout: ${human(preview.timeoutMs)}: when the approval expires, counted from the request`,
    ...Object.entries(preview.client).map(([protocol, sees]) => `client (${protocol}): ${sees}`),
  ];
}
