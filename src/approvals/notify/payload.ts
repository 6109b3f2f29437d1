import { createHash, createHmac } from 'node:crypto';
import type { NotifyApproval, NotifyEvent } from './types.ts';

/** Receivers limit what they accept; a summary is cut to keep the body under this. */
export const MAX_BODY_BYTES = 256 * 1024;

/**
 * The same event always gets the same id: on every retry, and when two replicas (or a restart)
 * tell of it twice, so a receiver can drop what it has seen.
 */
export function eventId(event: NotifyEvent): string {
  const { approval } = event;
  const key = `${event.type}\n${approval.id}\n${approval.status}\n${approval.decidedAt ?? ''}`;
  return `evt_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

const PLAIN_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** A shell word for the id: ids are plain, but a command to paste must never run anything else. */
function shellWord(value: string): string {
  return PLAIN_ID.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export const approveCommand = (approval: NotifyApproval) => `gatehouse approvals approve ${shellWord(approval.id)}`;
export const denyCommand = (approval: NotifyApproval) => `gatehouse approvals deny ${shellWord(approval.id)} --reason "…"`;

/** JSON of a value that may not serialise (a bigint, a cycle): never throws. */
export function safeJson(value: unknown): string | null {
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}

/** Cuts at a code point boundary: half a surrogate pair is not text. */
export function truncate(text: string, max: number, mark = '…'): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - mark.length);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + mark;
}

/**
 * The generic webhook body: `{ id, type, gatewayUrl, approval, approveCommand }`. The approval is
 * sent as the service shows it; an oversized or unserialisable summary is replaced by an excerpt.
 */
export function webhookBody(event: NotifyEvent, id: string): string {
  const pending = event.type === 'approval.created' && event.approval.status === 'pending';
  const build = (summary: unknown) =>
    safeJson({
      id,
      type: event.type,
      gatewayUrl: event.gatewayUrl,
      approval: { ...event.approval, summary },
      approveCommand: pending ? approveCommand(event.approval) : null,
      denyCommand: pending ? denyCommand(event.approval) : null,
    });
  const full = build(event.approval.summary);
  if (full !== null && Buffer.byteLength(full) <= MAX_BODY_BYTES) return full;
  const text = safeJson(event.approval.summary);
  const excerpt = text === null ? null : truncate(text, 16 * 1024);
  const cut = build({ truncated: true, excerpt });
  // Everything else in the approval is bounded by the service; this is the last resort.
  return cut ?? JSON.stringify({ id, type: event.type, approval: { id: String(event.approval.id) }, approveCommand: null, denyCommand: null });
}

/** `sha256=<hex>` over `<timestamp>.<body>`: binding the time lets receivers refuse replays. */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
