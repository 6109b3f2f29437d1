/**
 * A recorded session as a timeline: each interaction at its time relative to the session's
 * start, what was asked, what was decided and by which rule, the approval it waited for, and
 * what came back, as recorded (masked). Pure: the store's rows in, the timeline out; the times
 * are the recorded ones, never the clock's.
 */
import type { AuditEventRow, InteractionRow, SessionRow } from '../store/types.ts';
import { readRequest, readResponse, type ReplayRequest, type ReplayResponse } from './replay-kinds.ts';

export type { ReplayMessage, ReplayRequest, ReplayResponse, ReplayToolCall } from './replay-kinds.ts';

export interface ReplayApprovalEvent {
  /** approval.created, approval.voted, approval.approved, approval.used … */
  readonly action: string;
  /** Milliseconds after the session started. */
  readonly offsetMs: number;
  readonly at: number;
  readonly actor: string;
  /** The vote, or why it was withdrawn, when the event says. */
  readonly note: string | null;
}

export interface ReplayApproval {
  readonly id: string;
  readonly events: ReplayApprovalEvent[];
}

export interface ReplayEntry {
  readonly seq: number;
  readonly interactionId: string;
  /** Milliseconds after the session started. */
  readonly offsetMs: number;
  /** Milliseconds since the previous entry started (since the session started, for the first). */
  readonly gapMs: number;
  readonly startedAt: number;
  readonly completedAt: number | null;
  readonly durationMs: number | null;
  readonly kind: string;
  readonly status: string;
  readonly decision: string;
  readonly rule: string | null;
  readonly reason: string | null;
  /** The gateway's own code when it refused or failed the request. */
  readonly errorCode: string | null;
  /** The target's own error code (a SQLSTATE …). */
  readonly upstreamCode: string | null;
  readonly request: ReplayRequest;
  /** Null when nothing came back (refused, or never answered). */
  readonly response: ReplayResponse | null;
  readonly approval: ReplayApproval | null;
  /** When retention removed the bodies: request and response are then empty. */
  readonly bodiesPurgedAt: number | null;
}

export interface ReplayPage {
  readonly session: SessionRow & { readonly agent: string | null };
  readonly entries: ReplayEntry[];
  /** How many interactions the session has in all. */
  readonly total: number;
  /** The seq to ask for the next page from; null on the last page. */
  readonly nextSeq: number | null;
}

export interface ReplayInput {
  readonly session: SessionRow & { readonly agent: string | null };
  /** In seq order. */
  readonly interactions: readonly InteractionRow[];
  readonly total: number;
  /** Whether interactions follow the page (seqs may have gaps once retention removed rows, so the total cannot tell). */
  readonly hasMore: boolean;
  /** The approval each interaction ran under or was held for, by interaction id. */
  readonly approvalOf: ReadonlyMap<string, string>;
  /** Each approval's trail (audit_events whose target is its id), in any order. */
  readonly trails: ReadonlyMap<string, readonly AuditEventRow[]>;
  /** The interaction before the page's first (its start gives the first entry's gap). */
  readonly previousStartedAt?: number | null;
}

function noteOf(event: AuditEventRow): string | null {
  const notes = ['vote', 'comment', 'reason', 'joined'].flatMap((key) => {
    const value = event.details[key];
    return typeof value === 'string' && value !== '' ? [`${key}: ${value}`] : [];
  });
  return notes.length === 0 ? null : notes.join(', ');
}

/** Of each event written ahead and completed, the one row; in time order. */
function approvalOf(id: string, events: readonly AuditEventRow[], sessionStart: number): ReplayApproval {
  const sorted = [...events].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    id,
    events: sorted
      // An event whose change did not happen (outcome 409: someone else decided first) is not part of what happened.
      // The approval's own transitions; the API call that caused one (approveApproval) is the admin trail's.
      .filter((e) => e.action.startsWith('approval.') && (e.outcome === null || e.outcome < 300))
      .map((e) => ({ action: e.action, offsetMs: e.at - sessionStart, at: e.at, actor: e.actorName, note: noteOf(e) })),
  };
}

/** The approval an interaction ran under (summary.approval) or, held and refused, the one it asked for. */
export function approvalIdOf(row: InteractionRow, asked: ReadonlyMap<string, string>): string | null {
  const ran = row.summary.approval;
  if (typeof ran === 'string') return ran;
  return asked.get(row.id) ?? null;
}

/** Set by retention (migration 18) on a row whose bodies it removed; absent on rows it never touched. */
const purgedAt = (row: InteractionRow): number | null => (row as InteractionRow & { bodiesPurgedAt?: number | null }).bodiesPurgedAt ?? null;

export function buildReplay(input: ReplayInput): ReplayPage {
  const start = input.session.startedAt;
  let previous = input.previousStartedAt ?? start;
  const entries = input.interactions.map((row): ReplayEntry => {
    const gapMs = Math.max(0, row.startedAt - previous);
    previous = row.startedAt;
    const approvalId = input.approvalOf.get(row.id) ?? null;
    const purged = purgedAt(row);
    return {
      seq: row.seq,
      interactionId: row.id,
      offsetMs: row.startedAt - start,
      gapMs,
      startedAt: row.startedAt,
      completedAt: row.completedAt,
      durationMs: row.completedAt === null ? null : row.completedAt - row.startedAt,
      kind: row.kind,
      status: row.status,
      decision: row.decision,
      rule: row.rule,
      reason: row.reason,
      errorCode: row.errorCode,
      upstreamCode: row.upstreamCode,
      request: readRequest(row),
      response: readResponse(row),
      approval: approvalId === null ? null : approvalOf(approvalId, input.trails.get(approvalId) ?? [], start),
      bodiesPurgedAt: purged,
    };
  });
  const last = input.interactions.at(-1);
  return { session: input.session, entries, total: input.total, nextSeq: input.hasMore && last !== undefined ? last.seq + 1 : null };
}
