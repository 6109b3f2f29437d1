/**
 * gatehouse.audit.v1 events mapped to OCSF 1.1 classes (docs/audit-export.md "OCSF"):
 * requests over HTTP, LLM and MCP connections are API Activity (6003), SQL statements Datastore
 * Activity (6005), a session's start and end and token and sign-in events Authentication (3002),
 * changes to people and service accounts Account Change (3001); other admin actions are API
 * Activity on Gatehouse's own API. The chain fields ride in `unmapped.gatehouse`.
 */
import type { AuditEventV1 } from './event-schema.ts';

export const OCSF_VERSION = '1.1.0';

const CLASSES = {
  3001: { name: 'Account Change', category: 'Identity & Access Management' },
  3002: { name: 'Authentication', category: 'Identity & Access Management' },
  6003: { name: 'API Activity', category: 'Application Activity' },
  6005: { name: 'Datastore Activity', category: 'Application Activity' },
} as const;
type ClassUid = keyof typeof CLASSES;

const ACTIVITIES: Record<ClassUid, Record<number, string>> = {
  3001: { 1: 'Create', 2: 'Enable', 5: 'Disable', 6: 'Delete', 99: 'Other' },
  3002: { 1: 'Logon', 2: 'Logoff', 99: 'Other' },
  6003: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' },
  6005: { 1: 'Read', 2: 'Update', 4: 'Query', 5: 'Write', 6: 'Create', 7: 'Delete', 99: 'Other' },
};

/** Admin actions that issue, exchange or revoke credentials, or sign someone in. */
const AUTHENTICATION: Record<string, number> = {
  loginWithOidc: 1,
  consumeSamlAssertion: 1,
  createToken: 99,
  exchangeToken: 99,
  createScimToken: 99,
  revokeToken: 99,
  revokePrincipal: 99,
};

/** Admin actions that change a person or a service account. */
const ACCOUNT_CHANGE: Record<string, number> = {
  createServiceAccount: 1,
  scimCreateUser: 1,
  enableUser: 2,
  disableUser: 5,
  disableServiceAccount: 5,
  scimDeleteUser: 6,
  scimPatchUser: 99,
  scimReplaceUser: 99,
};

const SEVERITY = { informational: 1, low: 2, medium: 3 } as const;

export type OcsfEvent = Record<string, unknown> & { class_uid: number; activity_id: number; type_uid: number; category_uid: number; severity_id: number; time: number };

function apiActivityOfMethod(method: string | null): number {
  switch ((method ?? '').toUpperCase()) {
    case 'POST':
      return 1;
    case 'GET':
    case 'HEAD':
      return 2;
    case 'PUT':
    case 'PATCH':
      return 3;
    case 'DELETE':
      return 4;
    default:
      return 99;
  }
}

function apiActivityOfAction(name: string): number {
  if (/^(create|put|scimCreate|approve|consume)/.test(name)) return /^put/.test(name) ? 3 : 1;
  if (/^(get|list|whoami|verify)/.test(name)) return 2;
  if (/^(delete|revoke|scimDelete)/.test(name)) return 4;
  if (/^(update|patch|scimPatch|scimReplace|disable|enable|deny|reload)/.test(name)) return 3;
  return 99;
}

const SQL_ACTIVITY: Record<string, number> = { select: 4, insert: 5, copy: 5, update: 2, delete: 7, truncate: 7, drop: 7, create: 6 };

function datastoreActivity(event: AuditEventV1): number {
  const facts = (event.interaction?.summary as { sql?: { kinds?: unknown } } | undefined)?.sql;
  const kinds = Array.isArray(facts?.kinds) ? facts.kinds.map((k) => String(k).toLowerCase()) : [];
  const first = kinds[0] ?? /^\s*([a-z]+)/i.exec(event.interaction?.target ?? '')?.[1]?.toLowerCase() ?? '';
  return SQL_ACTIVITY[first] ?? (first === 'with' ? 4 : 99);
}

function classify(event: AuditEventV1): { classUid: ClassUid; activity: number } {
  switch (event.kind) {
    case 'session.start':
      return { classUid: 3002, activity: 1 };
    case 'session.end':
      return { classUid: 3002, activity: 2 };
    case 'interaction': {
      const i = event.interaction;
      if (i?.kind.startsWith('sql.') || event.session?.protocol === 'postgres') return { classUid: 6005, activity: datastoreActivity(event) };
      return { classUid: 6003, activity: i?.kind === 'http.request' || i?.kind === 's3.request' ? apiActivityOfMethod(i.method) : 99 };
    }
    default: {
      const name = event.action?.name ?? '';
      if (name in AUTHENTICATION) return { classUid: 3002, activity: AUTHENTICATION[name]! };
      if (name in ACCOUNT_CHANGE) return { classUid: 3001, activity: ACCOUNT_CHANGE[name]! };
      return { classUid: 6003, activity: apiActivityOfAction(name) };
    }
  }
}

/** 1 Success, 2 Failure, 0 Unknown (an action still running, a row purged). */
function statusOf(event: AuditEventV1): { status_id: number; status: string; status_code?: string } {
  const code = event.interaction?.responseStatus ?? event.action?.outcome ?? null;
  const refused = event.decision !== null && event.decision.result !== 'allow';
  if (event.kind === 'session.start' || event.kind === 'session.end') return { status_id: 1, status: 'Success' };
  if (event.interaction?.errorCode || refused) return { status_id: 2, status: 'Failure', ...(code !== null ? { status_code: String(code) } : {}) };
  if (code === null) return { status_id: 0, status: 'Unknown' };
  return code < 400 ? { status_id: 1, status: 'Success', status_code: String(code) } : { status_id: 2, status: 'Failure', status_code: String(code) };
}

function severityOf(event: AuditEventV1, status: number): number {
  if (event.decision && event.decision.result === 'deny') return SEVERITY.medium;
  if (event.action?.outcome === 403) return SEVERITY.medium;
  return status === 2 ? SEVERITY.low : SEVERITY.informational;
}

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : undefined);

/** One event in its OCSF class; fields OCSF has no place for are left out or kept under `unmapped`. */
export function toOcsf(event: AuditEventV1): OcsfEvent {
  const { classUid, activity } = classify(event);
  const cls = CLASSES[classUid];
  const status = statusOf(event);
  const out: OcsfEvent = {
    class_uid: classUid,
    class_name: cls.name,
    category_uid: Math.floor(classUid / 1000),
    category_name: cls.category,
    activity_id: activity,
    activity_name: activity === 99 ? (event.action?.name ?? event.interaction?.kind ?? event.kind) : ACTIVITIES[classUid][activity],
    type_uid: classUid * 100 + activity,
    severity_id: severityOf(event, status.status_id),
    time: Date.parse(event.time),
    ...status,
    metadata: {
      version: OCSF_VERSION,
      uid: event.id,
      product: { name: 'Gatehouse', vendor_name: 'Gatehouse' },
      ...(event.session ? { correlation_uid: event.session.id } : {}),
      sequence: event.seq,
      log_name: event.writer,
    },
    unmapped: { gatehouse: { schema: event.schema, kind: event.kind, writer: event.writer, seq: event.seq, hash: event.hash, prevHash: event.prevHash, eventHash: event.eventHash, ref: event.ref, refMissing: event.refMissing } },
  };
  if (event.actor) {
    out.actor = {
      user: { uid: event.actor.id ?? undefined, name: event.actor.name, type: event.actor.kind ?? undefined },
      ...(event.session ? { session: { uid: event.session.id } } : {}),
      ...(event.agent?.name ? { app_name: event.agent.name } : {}),
    };
    if (classUid === 3002 || classUid === 3001) out.user = { uid: event.actor.id ?? undefined, name: event.actor.name, type: event.actor.kind ?? undefined };
  }
  if (event.agent) out.unmapped = { ...(out.unmapped as object), agent: { token_uid: event.agent.tokenId, name: event.agent.name } };
  if (event.session?.clientAddr) out.src_endpoint = { ip: event.session.clientAddr };
  if (event.session && classUid === 3002) out.session = { uid: event.session.id, created_time: ms(event.session.startedAt), expiration_reason: event.session.endReason ?? undefined };
  if (event.connection) out.service = { name: event.connection };
  if (event.decision) {
    out.action_id = event.decision.result === 'allow' ? 1 : 2;
    out.action = event.decision.result === 'allow' ? 'Allowed' : 'Denied';
    out.disposition_id = event.decision.result === 'allow' ? 1 : 2;
    out.disposition = event.decision.result === 'allow' ? 'Allowed' : 'Blocked';
    out.policy = { name: event.decision.rule ?? undefined, desc: event.decision.reason ?? undefined };
  }
  const i = event.interaction;
  if (i) {
    out.start_time = ms(i.startedAt);
    if (i.completedAt) out.end_time = ms(i.completedAt);
    if (i.latencyMs !== null) out.duration = i.latencyMs;
    if (classUid === 6005) {
      out.database = { name: event.connection ?? undefined, type: 'PostgreSQL', type_id: 99 };
      out.query_info = { query_string: i.target ?? undefined, uid: i.id };
    } else {
      out.api = {
        operation: i.kind === 'http.request' ? `${i.method ?? ''} ${i.target ?? ''}`.trim() : i.kind,
        request: { uid: i.id },
        ...(i.responseStatus !== null ? { response: { code: i.responseStatus, error: i.errorCode ?? undefined } } : {}),
        service: { name: event.connection ?? undefined },
      };
      if (i.method) out.http_request = { http_method: i.method, url: { path: i.target ?? undefined } };
      if (i.model) out.unmapped = { ...(out.unmapped as object), model: i.model };
    }
  }
  const a = event.action;
  if (a && classUid === 6003) {
    out.api = { operation: a.name, service: { name: 'gatehouse-admin' }, ...(a.outcome !== null ? { response: { code: a.outcome } } : {}) };
    if (a.target) out.resources = [{ uid: a.target }];
  } else if (a && a.target) out.unmapped = { ...(out.unmapped as object), target: a.target };
  return out;
}
