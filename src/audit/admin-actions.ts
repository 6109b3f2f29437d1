/**
 * Every admin action, recorded with who made it: each API call that changes something
 * (POST, PUT, PATCH, DELETE), each call a role check refused, and every call made with the
 * break-glass admin token, reads included.
 *
 * Write-ahead: the row is inserted after the caller is known and the request validated, before
 * the handler runs, and completed with the status answered. Recording first is what lets a store
 * failure fail the call closed (503 store_unavailable) while nothing has changed yet: recorded
 * afterwards, a token would already be revoked or a connection replaced with no row saying who
 * did it. A row whose outcome stays null is an action whose end was never recorded (the process
 * stopped, or the completing write failed), which is still an action someone started.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError, StoreError } from '../errors.ts';
import type { AuthContext } from '../identity/credentials.ts';
import { secretKind } from '../identity/token-format.ts';
import type { AuditEventRow, PrincipalRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

/** The names bootstrap.ts gives the first admin token: a printed one or GATEHOUSE_ADMIN_TOKEN. */
export const BREAK_GLASS_TOKEN_NAMES: readonly string[] = ['bootstrap admin token', 'GATEHOUSE_ADMIN_TOKEN'];

const MUTATING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_TARGET_CHARS = 200;
const MAX_LIST_ITEMS = 50;

/** What a handler tells the record: what it acted on and a few safe facts (never a secret). */
export interface ActionNote {
  readonly target?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Who acted: the API token's holder, or whom a public route (a sign-in, an exchange) found. */
export interface Actor {
  readonly id: string;
  readonly name: string;
  readonly kind: PrincipalRow['kind'];
  /** The token the actor used or, for a sign-in, was issued (its id, never the secret). */
  readonly tokenId: string | null;
}

interface ActionRecord {
  note?: ActionNote;
  /** Set by a public route once it knows who it served; recorded when it answers. */
  actor?: Actor;
  /** The write-ahead row, once inserted. */
  eventId?: string;
  /** The write-ahead insert failed: the call was refused for it; nothing more to write. */
  failed?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminAction?: ActionRecord;
  }
}

function recordOf(request: FastifyRequest): ActionRecord {
  return (request.adminAction ??= {});
}

/** Adds to what the request's audit row will say; later notes win per field. */
export function noteAction(request: FastifyRequest, note: ActionNote): void {
  const record = recordOf(request);
  record.note = {
    target: note.target ?? record.note?.target,
    details: { ...record.note?.details, ...note.details },
  };
}

/**
 * A public route's handler names whom it served (a person signed in, a workload exchanged its
 * token): the call is then recorded as theirs, as an API call by a token holder is.
 */
export function actedAs(request: FastifyRequest, actor: Actor, note?: ActionNote): void {
  recordOf(request).actor = actor;
  if (note) noteAction(request, note);
}

function actorOf(auth: AuthContext): Actor {
  return { id: auth.principal.id, name: auth.principal.name, kind: auth.principal.kind, tokenId: auth.credential.tokenId };
}

/** The bootstrap identity, or a token named as the bootstrap tokens are: its every use is recorded. */
export function isBreakGlass(auth: AuthContext): boolean {
  return auth.principal.kind === 'admin' || (auth.credential.kind === 'admin' && BREAK_GLASS_TOKEN_NAMES.includes(auth.credential.name));
}

export interface AdminActionDeps {
  readonly store: Store;
  /** The authenticated caller the API's own hook found; undefined on routes that take another credential. */
  readonly caller: (request: FastifyRequest) => AuthContext | undefined;
  readonly replicaId: () => string | null;
  readonly onError: (err: unknown, request: FastifyRequest, what: string) => void;
  readonly now?: () => number;
}

/** A target is an id or a name, but a pasted secret (DELETE /tokens/gth_…) must not be kept as one. */
function safeTarget(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  if (secretKind(value) !== null) return '[a secret was sent where an id belongs; not recorded]';
  return value.length > MAX_TARGET_CHARS ? `${value.slice(0, MAX_TARGET_CHARS)}…` : value;
}

/** Long lists (every token a revocation cut) keep their first items and their count. */
function boundedDetails(details: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value) && value.length > MAX_LIST_ITEMS) {
      out[key] = value.slice(0, MAX_LIST_ITEMS);
      out[`${key}Total`] = value.length;
    } else out[key] = value;
  }
  return out;
}

function paramTarget(request: FastifyRequest): unknown {
  const params = request.params as Record<string, unknown> | undefined;
  return params?.name ?? params?.id;
}

export function recordAdminActions(scope: FastifyInstance, deps: AdminActionDeps): void {
  const now = deps.now ?? Date.now;
  const action = (request: FastifyRequest) => request.routeOptions.schema?.operationId ?? 'unknownRoute';
  const recorded = (request: FastifyRequest, auth: AuthContext | undefined): auth is AuthContext =>
    auth !== undefined && (MUTATING.has(request.method) || isBreakGlass(auth));

  const row = (request: FastifyRequest, actor: Actor, outcome: number | null): AuditEventRow => {
    const at = now();
    const note = request.adminAction?.note;
    return {
      id: newId('aud', at),
      at,
      replicaId: deps.replicaId(),
      actorId: actor.id,
      actorName: actor.name,
      actorKind: actor.kind,
      credentialId: actor.tokenId,
      action: action(request),
      target: safeTarget(note?.target ?? paramTarget(request)),
      outcome,
      details: boundedDetails(note?.details),
    };
  };

  scope.addHook('preHandler', async (request) => {
    const auth = deps.caller(request);
    if (!recorded(request, auth)) return;
    const event = row(request, actorOf(auth), null);
    try {
      await deps.store.insertAuditEvent(event);
    } catch (err) {
      recordOf(request).failed = true;
      throw err instanceof StoreError ? err : new StoreError('the admin action could not be recorded, so it was not carried out; retry when the store is back', { cause: err });
    }
    recordOf(request).eventId = event.id;
  });

  // onSend, not onResponse: the row is complete before the caller reads the answer, so whoever
  // reads the audit log next sees the outcome. A failure here is logged; the action already ran.
  scope.addHook('onSend', async (request, reply, payload) => {
    const auth = deps.caller(request);
    const record = request.adminAction;
    if (record?.failed) return payload;
    if (auth === undefined) {
      // A public route that found whom it served: one complete row, written when it answers.
      if (!record?.actor) return payload;
      try {
        await deps.store.insertAuditEvent(row(request, record.actor, reply.statusCode));
      } catch (err) {
        deps.onError(err, request, 'recording a sign-in');
      }
      return payload;
    }
    const refused = reply.statusCode === 403;
    try {
      if (record?.eventId) {
        const { target, details } = row(request, actorOf(auth), reply.statusCode);
        await deps.store.completeAuditEvent(record.eventId, { outcome: reply.statusCode, target, details });
      } else if (recorded(request, auth) || refused) {
        // Refused before the handler (a role check, validation): nothing ran, one complete row.
        await deps.store.insertAuditEvent(row(request, actorOf(auth), reply.statusCode));
      }
    } catch (err) {
      deps.onError(err, request, record?.eventId ? 'completing an admin action record' : 'recording a refused admin action');
    }
    return payload;
  });
}

/** The code of the error a request answered with, for its record. */
export function noteError(request: FastifyRequest, error: GatewayError): void {
  const { allowed, held } = error.details;
  noteAction(request, { details: { error: error.code, ...(Array.isArray(allowed) ? { allowed } : {}), ...(Array.isArray(held) ? { held } : {}) } });
}
