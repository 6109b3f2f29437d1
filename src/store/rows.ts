/**
 * Column lists and the mapping between database records (snake_case, JSON as TEXT) and the
 * rows of types.ts. Selects name their columns so a later migration that adds one changes
 * no prepared statement's result shape.
 */
import type {
  BodyDigests,
  ConnectionRow,
  InteractionRow,
  PrincipalRow,
  ServiceAccountRow,
  SessionRow,
  TokenRow,
} from './types.ts';

export type SqlValue = string | number | null;
type DbRecord = Record<string, unknown>;

export const PRINCIPAL_COLUMNS = 'id, kind, name, groups_json, created_at, disabled_at';
export const TOKEN_COLUMNS =
  'id, hash, kind, principal_id, name, connections_json, created_at, expires_at, revoked_at, parent_id, agent_id';
export const SERVICE_ACCOUNT_COLUMNS = 'id, name, owner, connections_json, created_at, expires_at, disabled_at';
export const CONNECTION_COLUMNS = 'name, type, upstream, tags_json, credential, options_json, created_at, updated_at';
export const SESSION_COLUMNS =
  'id, principal_id, principal_name, token_id, connection, protocol, client_addr, started_at, ended_at, end_reason, replica_id, startup_json, agent_id';

/** A column's type as the migrations declare it. */
export type SqlType = 'TEXT' | 'INTEGER' | 'BIGINT' | 'DOUBLE PRECISION';

/** Typed, for statements that bind a whole column of rows as one array (see grouped-write.ts). */
export const INTERACTION_TYPES = {
  id: 'TEXT', session_id: 'TEXT', seq: 'INTEGER', kind: 'TEXT', status: 'TEXT', decision: 'TEXT', rule: 'TEXT',
  reason: 'TEXT', method: 'TEXT', target: 'TEXT', model: 'TEXT', summary_json: 'TEXT', request_body: 'TEXT',
  response_status: 'INTEGER', response_body: 'TEXT', error_code: 'TEXT', upstream_code: 'TEXT', bytes_in: 'BIGINT',
  bytes_out: 'BIGINT', started_at: 'BIGINT', completed_at: 'BIGINT', latency_ms: 'DOUBLE PRECISION', prev_hash: 'TEXT',
  hash: 'TEXT', body_digests_json: 'TEXT', bodies_purged_at: 'BIGINT',
} as const satisfies Record<string, SqlType>;
export const INTERACTION_COLUMNS = Object.keys(INTERACTION_TYPES).join(', ');

/** `?, ?, …` for a column list. */
export function placeholdersFor(columns: string): string {
  return columns.split(',').map(() => '?').join(', ');
}

const json = (value: unknown): string => JSON.stringify(value);
const fromJson = <T>(text: unknown): T => JSON.parse(text as string) as T;
const nullable = <T>(value: unknown): T | null => (value === null || value === undefined ? null : (value as T));

export function principalParams(r: PrincipalRow): SqlValue[] {
  return [r.id, r.kind, r.name, json(r.groups), r.createdAt, r.disabledAt];
}

export function toPrincipal(r: DbRecord): PrincipalRow {
  return {
    id: r.id as string,
    kind: r.kind as PrincipalRow['kind'],
    name: r.name as string,
    groups: fromJson(r.groups_json),
    createdAt: r.created_at as number,
    disabledAt: nullable(r.disabled_at),
  };
}

export function tokenParams(r: TokenRow): SqlValue[] {
  return [
    r.id, r.hash, r.kind, r.principalId, r.name, r.connections === null ? null : json(r.connections),
    r.createdAt, r.expiresAt, r.revokedAt, r.parentId, r.agentId ?? null,
  ];
}

export function toToken(r: DbRecord): TokenRow {
  return {
    id: r.id as string,
    hash: r.hash as string,
    kind: r.kind as TokenRow['kind'],
    principalId: r.principal_id as string,
    name: r.name as string,
    connections: r.connections_json === null ? null : fromJson(r.connections_json),
    createdAt: r.created_at as number,
    expiresAt: nullable(r.expires_at),
    revokedAt: nullable(r.revoked_at),
    parentId: nullable(r.parent_id),
    // Rows written without an agent read back without one (as with a session's startup).
    ...(typeof r.agent_id === 'string' ? { agentId: r.agent_id } : {}),
  };
}

export function serviceAccountParams(r: ServiceAccountRow): SqlValue[] {
  return [r.id, r.name, r.owner, json(r.connections), r.createdAt, r.expiresAt, r.disabledAt];
}

export function toServiceAccount(r: DbRecord): ServiceAccountRow {
  return {
    id: r.id as string,
    name: r.name as string,
    owner: r.owner as string,
    connections: fromJson(r.connections_json),
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    disabledAt: nullable(r.disabled_at),
  };
}

export function connectionParams(r: ConnectionRow): SqlValue[] {
  return [r.name, r.type, r.upstream, json(r.tags), r.credential, json(r.options), r.createdAt, r.updatedAt];
}

export function toConnection(r: DbRecord): ConnectionRow {
  return {
    name: r.name as string,
    type: r.type as string,
    upstream: r.upstream as string,
    tags: fromJson(r.tags_json),
    credential: nullable(r.credential),
    options: fromJson(r.options_json),
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

export function sessionParams(r: SessionRow): SqlValue[] {
  return [
    r.id, r.principalId, r.principalName, r.tokenId, r.connection, r.protocol, r.clientAddr,
    r.startedAt, r.endedAt, r.endReason, r.replicaId, r.startup ? json(r.startup) : null, r.agentId ?? null,
  ];
}

export function toSession(r: DbRecord): SessionRow {
  return {
    id: r.id as string,
    principalId: nullable(r.principal_id),
    principalName: r.principal_name as string,
    tokenId: nullable(r.token_id),
    connection: r.connection as string,
    protocol: r.protocol as string,
    clientAddr: nullable(r.client_addr),
    startedAt: r.started_at as number,
    endedAt: nullable(r.ended_at),
    endReason: nullable(r.end_reason),
    replicaId: nullable(r.replica_id),
    // Only PostgreSQL sessions carry it: other rows read back as they were written.
    ...(r.startup_json === null || r.startup_json === undefined ? {} : { startup: fromJson<Record<string, string>>(r.startup_json) }),
    ...(typeof r.agent_id === 'string' ? { agentId: r.agent_id } : {}),
  };
}

export function interactionParams(r: InteractionRow): SqlValue[] {
  return [
    r.id, r.sessionId, r.seq, r.kind, r.status, r.decision, r.rule, r.reason, r.method, r.target, r.model,
    json(r.summary), r.requestBody, r.responseStatus, r.responseBody, r.errorCode, r.upstreamCode, r.bytesIn,
    r.bytesOut, r.startedAt, r.completedAt, r.latencyMs, r.prevHash, r.hash,
    r.bodyDigests ? json(r.bodyDigests) : null, r.bodiesPurgedAt ?? null,
  ];
}

export function toInteraction(r: DbRecord): InteractionRow {
  return {
    id: r.id as string,
    sessionId: r.session_id as string,
    seq: r.seq as number,
    kind: r.kind as string,
    status: r.status as InteractionRow['status'],
    decision: r.decision as string,
    rule: nullable(r.rule),
    reason: nullable(r.reason),
    method: nullable(r.method),
    target: nullable(r.target),
    model: nullable(r.model),
    summary: fromJson(r.summary_json),
    requestBody: nullable(r.request_body),
    responseStatus: nullable(r.response_status),
    responseBody: nullable(r.response_body),
    errorCode: nullable(r.error_code),
    upstreamCode: nullable(r.upstream_code),
    bytesIn: r.bytes_in as number,
    bytesOut: r.bytes_out as number,
    startedAt: r.started_at as number,
    completedAt: nullable(r.completed_at),
    latencyMs: nullable(r.latency_ms),
    prevHash: nullable(r.prev_hash),
    hash: nullable(r.hash),
    // Rows recorded before migration 18 read back without them, as they were sealed.
    ...(r.body_digests_json === null || r.body_digests_json === undefined ? {} : { bodyDigests: fromJson<BodyDigests>(r.body_digests_json) }),
    ...(r.bodies_purged_at === null || r.bodies_purged_at === undefined ? {} : { bodiesPurgedAt: Number(r.bodies_purged_at) }),
  };
}
