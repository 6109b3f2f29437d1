/**
 * gatehouse.audit.v1: the published shape of an exported audit event (docs/audit-export.md,
 * docs/schema/audit-event-v1.json). One event per ledger entry, built from the entry and the row it
 * covers; `writer:seq` is its id, so a receiver drops a re-delivery by id. Never a secret: tokens
 * appear by id and name only, and bodies (masked as recorded) only when a sink asks for them.
 *
 * Version policy: fields may be added within v1; none is removed, renamed or changes meaning.
 */
import type { AuditEventRow, InteractionRow, LedgerEntryRow, SessionRow } from '../store/types.ts';
import { LEDGER_KINDS, type LedgerKind } from './canonical.ts';
import { EXPORT_KINDS } from '../config/audit-sinks.ts';

export const EVENT_SCHEMA = 'gatehouse.audit.v1';

/** The config's list of kinds is a copy (config/ may not import audit/): a test checks the two agree. */
export const KINDS_MATCH = LEDGER_KINDS.length === EXPORT_KINDS.length && LEDGER_KINDS.every((k, i) => EXPORT_KINDS[i] === k);

export interface EventActor {
  id: string | null;
  name: string;
  /** user, service_account, admin or gateway; null when the session's principal is not known. */
  kind: string | null;
}

export interface EventAgent {
  /** The id of the token the session ran on (never the token). */
  tokenId: string;
  /** The token's name, as issued; null once the token row is gone. */
  name: string | null;
}

export interface EventSession {
  id: string;
  connection: string;
  protocol: string;
  clientAddr: string | null;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
}

export interface EventInteraction {
  id: string;
  seq: number;
  kind: string;
  status: string;
  method: string | null;
  target: string | null;
  model: string | null;
  summary: Record<string, unknown>;
  responseStatus: number | null;
  errorCode: string | null;
  upstreamCode: string | null;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number | null;
  startedAt: string;
  completedAt: string | null;
}

export interface EventDecision {
  /** allow, deny, approve … as the policy decided. */
  result: string;
  rule: string | null;
  reason: string | null;
}

export interface EventAction {
  /** The API operation (createToken …) or the event's own name (approval.approved, policy.reloaded …). */
  name: string;
  target: string | null;
  /** The HTTP status answered; null while the action runs (kind audit.open). */
  outcome: number | null;
  details: Record<string, unknown>;
}

export interface AuditEventV1 {
  schema: typeof EVENT_SCHEMA;
  /** `writer:seq`: unique and stable across re-deliveries. */
  id: string;
  /** The ledger entry's time, ISO 8601 UTC. */
  time: string;
  kind: LedgerKind;
  writer: string;
  seq: number;
  /** The ledger entry's hash, its predecessor's (null for a writer's first) and the event's canonical hash. */
  hash: string;
  prevHash: string | null;
  eventHash: string;
  /** The session, interaction or audit event id the entry covers. */
  ref: string;
  /** The row the entry covers is no longer stored (purged by retention): only the chain fields remain. */
  refMissing: boolean;
  actor: EventActor | null;
  agent: EventAgent | null;
  connection: string | null;
  session: EventSession | null;
  interaction: EventInteraction | null;
  decision: EventDecision | null;
  action: EventAction | null;
  /** Only with a sink's includeBodies: the bodies as recorded (masked, clipped). */
  bodies?: { request: string | null; response: string | null };
}

/** What the outbox looked up for one entry. */
export interface EntryRefs {
  session?: SessionRow | null;
  interaction?: InteractionRow | null;
  auditEvent?: AuditEventRow | null;
  /** Principal kind by id, token name by id (looked up and cached by the outbox). */
  principalKind?: string | null;
  tokenName?: string | null;
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

function sessionOf(s: SessionRow): EventSession {
  return { id: s.id, connection: s.connection, protocol: s.protocol, clientAddr: s.clientAddr, startedAt: iso(s.startedAt)!, endedAt: iso(s.endedAt), endReason: s.endReason };
}

function interactionOf(i: InteractionRow): EventInteraction {
  return {
    id: i.id,
    seq: i.seq,
    kind: i.kind,
    status: i.status,
    method: i.method,
    target: i.target,
    model: i.model,
    summary: i.summary,
    responseStatus: i.responseStatus,
    errorCode: i.errorCode,
    upstreamCode: i.upstreamCode,
    bytesIn: i.bytesIn,
    bytesOut: i.bytesOut,
    latencyMs: i.latencyMs,
    startedAt: iso(i.startedAt)!,
    completedAt: iso(i.completedAt),
  };
}

export function buildEvent(entry: LedgerEntryRow, refs: EntryRefs, options: { includeBodies: boolean }): AuditEventV1 {
  const kind = entry.kind as LedgerKind;
  const event: AuditEventV1 = {
    schema: EVENT_SCHEMA,
    id: `${entry.writer}:${entry.seq}`,
    time: iso(entry.at)!,
    kind,
    writer: entry.writer,
    seq: entry.seq,
    hash: entry.hash,
    prevHash: entry.prevHash,
    eventHash: entry.eventHash,
    ref: entry.refId,
    refMissing: false,
    actor: null,
    agent: null,
    connection: null,
    session: null,
    interaction: null,
    decision: null,
    action: null,
  };
  const session = refs.session ?? null;
  if (session) {
    event.session = sessionOf(session);
    event.connection = session.connection;
    event.actor = { id: session.principalId, name: session.principalName, kind: refs.principalKind ?? null };
    if (session.tokenId) event.agent = { tokenId: session.tokenId, name: refs.tokenName ?? null };
  }
  if (kind === 'interaction') {
    const i = refs.interaction ?? null;
    if (!i) event.refMissing = true;
    else {
      event.interaction = interactionOf(i);
      event.decision = { result: i.decision, rule: i.rule, reason: i.reason };
      if (options.includeBodies) event.bodies = { request: i.requestBody, response: i.responseBody };
    }
  } else if (kind === 'session.start' || kind === 'session.end') {
    if (!session) event.refMissing = true;
  } else {
    const a = refs.auditEvent ?? null;
    if (!a) event.refMissing = true;
    else {
      event.actor = { id: a.actorId, name: a.actorName, kind: a.actorKind };
      if (a.credentialId) event.agent = { tokenId: a.credentialId, name: refs.tokenName ?? null };
      // audit.open is what was known when the action began; its outcome comes with audit.complete.
      event.action = kind === 'audit.open' ? { name: a.action, target: null, outcome: null, details: {} } : { name: a.action, target: a.target, outcome: a.outcome, details: a.details };
    }
  }
  return event;
}
