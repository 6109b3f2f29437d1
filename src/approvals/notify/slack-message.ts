import { approveCommand, denyCommand, safeJson, truncate } from './payload.ts';
import type { NotifyApproval, NotifyEvent } from './types.ts';

/**
 * A Slack incoming-webhook message for an approval. Every string that came from a request or a
 * person (names, the summary, comments) is escaped: Slack reads `<…>` as a link or a mention and
 * `&` as the start of an entity, so a prompt holding `<!channel>` or `<https://evil|click>` must
 * arrive as the characters it is. Backticks become `ˋ` so a value cannot close its code span and
 * continue as formatting. `parse: none` and no unfurling keep Slack from adding links of its own.
 */

// Slack's limits: section text 3000 characters, a field 2000, ten fields, a header 150.
const SUMMARY_MAX = 2_600;
const VALUE_MAX = 150;
const COMMENT_MAX = 300;

/** Escapes the three characters Slack's mrkdwn gives meaning to. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts escaped text without leaving half an entity (`&am`) at the end. */
function truncateEscaped(text: string, max: number): string {
  const cut = truncate(text, max, '');
  return cut.length === text.length ? text : `${cut.replace(/&[a-z]{0,3}$/, '')}…`;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** An inline code span: one line, no backticks, escaped. */
function code(value: unknown, max = VALUE_MAX): string {
  const text = truncate(String(value).replace(CONTROL, ' ').replace(/`/g, 'ˋ'), max);
  return `\`${escapeMrkdwn(text)}\``;
}

function summaryText(summary: Readonly<Record<string, unknown>>): string {
  const lines = Object.entries(summary).map(([key, value]) => `${key}: ${typeof value === 'string' ? value : (safeJson(value) ?? '(not shown)')}`);
  const text = lines.length === 0 ? '(empty)' : lines.join('\n');
  // Tabs and line breaks stay readable in a code block; other control characters do not.
  const clean = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ' ').replace(/`/g, 'ˋ');
  return '```' + truncateEscaped(escapeMrkdwn(truncate(clean, SUMMARY_MAX * 2)), SUMMARY_MAX) + '```';
}

/** Slack renders the time in each reader's own zone; the fallback is UTC. */
function when(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const fallback = Number.isFinite(ms) ? new Date(seconds * 1000).toISOString().replace('.000Z', 'Z') : 'unknown';
  return `<!date^${seconds}^{date_short_pretty} {time}|${fallback}>`;
}

const HEADERS: Record<NotifyApproval['status'], string> = {
  pending: 'Approval needed',
  approved: 'Approved',
  used: 'Approved and run',
  denied: 'Denied',
  expired: 'Expired',
  withdrawn: 'Withdrawn',
};

function decisionText(approval: NotifyApproval): string {
  const votes = approval.votes.map((v) => {
    const how = `${v.vote === 'approve' ? 'approved' : 'denied'} by ${code(v.approver)}${v.breakGlass ? ' *(break-glass)*' : ''}`;
    return v.comment ? `${how}: ${escapeMrkdwn(truncate(v.comment.replace(CONTROL, ' '), COMMENT_MAX))}` : how;
  });
  switch (approval.status) {
    case 'expired':
      return ['Expired: nobody decided before it ran out; the request was not run.', ...votes].join('\n');
    case 'withdrawn':
      return ['Withdrawn: the requester cancelled or disconnected; the request was not run.', ...votes].join('\n');
    case 'denied':
      return ['Denied: the request was not run.', ...votes].join('\n');
    default:
      return [`${approval.status === 'used' ? 'Approved and run' : 'Approved'} (${approval.required} needed).`, ...votes].join('\n');
  }
}

export function slackMessage(event: NotifyEvent): Record<string, unknown> {
  const a = event.approval;
  const pending = event.type === 'approval.created' && a.status === 'pending';
  const header = HEADERS[a.status] ?? 'Approval';
  const fields = [
    `*Requester*\n${code(a.requester.name)}`,
    `*Agent*\n${code(a.agent)}`,
    `*Connection*\n${code(a.connection)}`,
    `*Kind*\n${code(a.kind)}`,
    `*Rule*\n${code(a.rule)}`,
    `*Approvers*\n${a.required} of ${code(a.approvers.join(', '))}`,
    pending ? `*Expires*\n${when(a.expiresAt)}` : `*Decided*\n${a.decidedAt === null ? 'not yet' : when(a.decidedAt)}`,
  ].map((text) => ({ type: 'mrkdwn', text }));

  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: header, emoji: false } },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*What will run*\n${summaryText(a.summary)}` } },
  ];
  if (pending) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*To approve*\n${code(approveCommand(a), 300)}\n*To deny*\n${code(denyCommand(a), 300)}` },
    });
  } else {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: decisionText(a) } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `approval ${code(a.id, 80)} on ${code(event.gatewayUrl, 200)}` }] });

  const text = pending
    ? `${header}: ${code(a.requester.name)} via ${code(a.agent)} on ${code(a.connection)} (rule ${code(a.rule)})`
    : `${header}: approval ${code(a.id, 80)} on ${code(a.connection)}`;
  return { text, blocks, parse: 'none', link_names: false, unfurl_links: false, unfurl_media: false };
}
