/**
 * The audit search and session replay queries (indexes in migration 21): sessions and interactions
 * filtered by who, agent, connection, kind, decision, rule and time, newest first, paged by a
 * keyset (started_at, id) so a page never shifts when new rows arrive. Every value is bound; the
 * texts vary only in which conditions are present.
 */
import { InvalidArgument } from '../errors.ts';
import { INTERACTION_COLUMNS, SESSION_COLUMNS, toInteraction, toSession, type SqlValue } from './rows.ts';
import type { InteractionHit, InteractionSearch, SessionHit, SessionSearch, SearchPosition } from './types.ts';

type DbRecord = Record<string, unknown>;

/**
 * What "agent" means in a filter and in a hit: today the name of the token the session came with.
 * When agents become rows of their own (sessions.agent_id), these two lines are what changes.
 */
// Sessions carry their agent (migration 19); one recorded without it is matched by its token's name.
const AGENT_MATCH = '(s.agent_id IN (SELECT id FROM agents WHERE name = ?) OR (s.agent_id IS NULL AND s.token_id IN (SELECT id FROM tokens WHERE name = ?)))';
const AGENT_NAME = 'COALESCE((SELECT name FROM agents WHERE id = s.agent_id), (SELECT name FROM tokens WHERE id = s.token_id))';

const S = (columns: string) => columns.split(', ').map((c) => `s.${c}`).join(', ');
const I = (columns: string) => columns.split(', ').map((c) => `i.${c}`).join(', ');

/** Everything but the bodies: a search hit says what happened; the replay shows the bodies. */
export const HIT_COLUMNS = INTERACTION_COLUMNS.split(', ').filter((c) => c !== 'request_body' && c !== 'response_body').join(', ');

interface Where {
  readonly where: string[];
  readonly params: SqlValue[];
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidArgument('limit must be an integer from 1 to 10000');
}

function checkTime(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw new InvalidArgument(`${name} must be a non-negative integer (epoch ms)`);
}

/** Newest first: rows strictly older than the position of the previous page's last row. */
function before(w: Where, position: SearchPosition | undefined, table: 's' | 'i'): void {
  if (position === undefined) return;
  checkTime('the page position', position.startedAt);
  w.where.push(`(${table}.started_at < ? OR (${table}.started_at = ? AND ${table}.id < ?))`);
  w.params.push(position.startedAt, position.startedAt, position.id);
}

/** LIKE with every wildcard of the text escaped: a search for `100%` finds that text only. */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function sessionConditions(w: Where, f: SessionSearch | InteractionSearch): void {
  if (f.principal !== undefined) {
    w.where.push('(s.principal_name = ? OR s.principal_id = ?)');
    w.params.push(f.principal, f.principal);
  }
  if (f.agent !== undefined) {
    w.where.push(AGENT_MATCH);
    w.params.push(f.agent, f.agent);
  }
  if (f.connection !== undefined) {
    w.where.push('s.connection = ?');
    w.params.push(f.connection);
  }
}

function interactionConditions(w: Where, f: SessionSearch | InteractionSearch): void {
  for (const [column, value] of [['kind', f.kind], ['decision', f.decision], ['rule', f.rule]] as const) {
    if (value === undefined) continue;
    w.where.push(`i.${column} = ?`);
    w.params.push(value);
  }
}

/** Sessions newest first, each with its counts; interaction filters keep sessions with at least one such interaction. */
export function searchSessionsQuery(f: SessionSearch): { sql: string; params: SqlValue[] } {
  checkLimit(f.limit);
  checkTime('since', f.since);
  checkTime('until', f.until);
  const w: Where = { where: [], params: [] };
  sessionConditions(w, f);
  // A session counts for a time range when it was open during any part of it.
  if (f.since !== undefined) {
    w.where.push('(s.ended_at IS NULL OR s.ended_at >= ?)');
    w.params.push(f.since);
  }
  if (f.until !== undefined) {
    w.where.push('s.started_at < ?');
    w.params.push(f.until);
  }
  const inner: Where = { where: [], params: [] };
  interactionConditions(inner, f);
  if (inner.where.length > 0) {
    w.where.push(`EXISTS (SELECT 1 FROM interactions i WHERE i.session_id = s.id AND ${inner.where.join(' AND ')})`);
    w.params.push(...inner.params);
  }
  before(w, f.before, 's');
  const sql = `SELECT ${S(SESSION_COLUMNS)}, ${AGENT_NAME} AS agent_name,
      (SELECT COUNT(*) FROM interactions i WHERE i.session_id = s.id) AS interaction_count,
      (SELECT COUNT(*) FROM interactions i WHERE i.session_id = s.id AND i.decision = 'deny') AS denied_count
    FROM sessions s${w.where.length ? ` WHERE ${w.where.join(' AND ')}` : ''}
    ORDER BY s.started_at DESC, s.id DESC LIMIT ?`;
  return { sql, params: [...w.params, f.limit] };
}

/** Interactions newest first, each with who made it and where. */
export function searchInteractionsQuery(f: InteractionSearch): { sql: string; params: SqlValue[] } {
  checkLimit(f.limit);
  checkTime('since', f.since);
  checkTime('until', f.until);
  const w: Where = { where: [], params: [] };
  sessionConditions(w, f);
  interactionConditions(w, f);
  if (f.session !== undefined) {
    w.where.push('i.session_id = ?');
    w.params.push(f.session);
  }
  if (f.since !== undefined) {
    w.where.push('i.started_at >= ?');
    w.params.push(f.since);
  }
  if (f.until !== undefined) {
    w.where.push('i.started_at < ?');
    w.params.push(f.until);
  }
  if (f.text !== undefined) {
    // LOWER on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
    w.where.push("LOWER(i.target) LIKE ? ESCAPE '\\'");
    w.params.push(likePattern(f.text));
  }
  before(w, f.before, 'i');
  const sql = `SELECT ${I(HIT_COLUMNS)}, s.principal_id AS s_principal_id, s.principal_name AS s_principal_name,
      s.token_id AS s_token_id, s.connection AS s_connection, s.protocol AS s_protocol, ${AGENT_NAME} AS agent_name
    FROM interactions i JOIN sessions s ON s.id = i.session_id${w.where.length ? ` WHERE ${w.where.join(' AND ')}` : ''}
    ORDER BY i.started_at DESC, i.id DESC LIMIT ?`;
  return { sql, params: [...w.params, f.limit] };
}

export const REPLAY_SQL = {
  page: `SELECT ${INTERACTION_COLUMNS} FROM interactions WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?`,
  count: 'SELECT COUNT(*) AS n FROM interactions WHERE session_id = ?',
  agentOf: `SELECT ${AGENT_NAME} AS agent_name FROM sessions s WHERE s.id = ?`,
  // Held requests name their interaction in the approval.created event, written between the
  // session's start and the interaction's record: found through the action index and the time-first ids.
  askedIn: `SELECT id, target, details_json FROM audit_events WHERE action = 'approval.created' AND id >= ? AND id < ? ORDER BY id LIMIT 5000`,
} as const;

/** An audit event id bound at a time: ids start with their time (util/ids.ts), so a range of ids is a range of times. */
export function auditIdAt(ms: number): string {
  return `aud_${Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0')}`;
}

const orNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function toSessionHit(r: DbRecord): SessionHit {
  return { ...toSession(r), interactionCount: Number(r.interaction_count), deniedCount: Number(r.denied_count), agent: orNull(r.agent_name) };
}

export function toInteractionHit(r: DbRecord): InteractionHit {
  const { requestBody: _request, responseBody: _response, ...row } = toInteraction(r);
  return {
    ...row,
    session: {
      principalId: orNull(r.s_principal_id),
      principalName: r.s_principal_name as string,
      tokenId: orNull(r.s_token_id),
      connection: r.s_connection as string,
      protocol: r.s_protocol as string,
      agent: orNull(r.agent_name),
    },
  };
}
