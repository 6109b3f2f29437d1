/**
 * The agent inventory's queries (migration 19). Usage is read from the sessions and interactions
 * the recorder writes anyway, through the indexes migration 19 adds, so no request pays an extra
 * write for it.
 */
import type { SqlValue } from './rows.ts';
import type { AgentRow, AgentUsageRow, LiveSessionRow } from './types.ts';

type DbRecord = Record<string, unknown>;

export const AGENT_COLUMNS = 'id, name, owner, owner_id, purpose, labels_json, created_at, created_by, revoked_at, revoked_by';

export const AGENT_SQL = {
  insert: `INSERT INTO agents (${AGENT_COLUMNS}, owner_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertIfAbsent: `INSERT INTO agents (${AGENT_COLUMNS}, owner_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (owner_key, name) DO NOTHING`,
  get: `SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ?`,
  find: `SELECT ${AGENT_COLUMNS} FROM agents WHERE owner_key = ? AND name = ?`,
  list: `SELECT ${AGENT_COLUMNS} FROM agents ORDER BY created_at, id`,
  revoke: 'UPDATE agents SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
  setAccountAgent: 'UPDATE service_accounts SET agent_id = ? WHERE id = ?',
  // Per agent and connection: requests in the window, the last in it, and how many in the last day.
  requests: `SELECT s.agent_id, s.connection, COUNT(*) AS n, MAX(i.started_at) AS last_at,
      SUM(CASE WHEN i.started_at >= ? THEN 1 ELSE 0 END) AS n_day
    FROM sessions s JOIN interactions i ON i.session_id = s.id
    WHERE s.agent_id IS NOT NULL AND (s.ended_at IS NULL OR s.ended_at >= ?) AND i.started_at >= ?
    GROUP BY s.agent_id, s.connection`,
  // Each agent's latest session: when, from where, and with what client.
  latest: `SELECT s.id, s.agent_id, s.started_at, s.client_addr, s.startup_json FROM sessions s
    WHERE s.agent_id IS NOT NULL AND s.started_at = (SELECT MAX(s2.started_at) FROM sessions s2 WHERE s2.agent_id = s.agent_id)`,
  lastSummary: 'SELECT summary_json FROM interactions WHERE session_id = ? ORDER BY seq DESC LIMIT 1',
  live: 'SELECT id, agent_id, token_id, principal_id, connection, client_addr FROM sessions WHERE ended_at IS NULL',
} as const;

export function agentParams(row: AgentRow, ownerKey: string): SqlValue[] {
  return [
    row.id, row.name, row.owner, row.ownerId, row.purpose, JSON.stringify(row.labels), row.createdAt, row.createdBy, row.revokedAt, row.revokedBy,
    ownerKey,
  ];
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function toAgent(r: DbRecord): AgentRow {
  return {
    id: r.id as string,
    name: r.name as string,
    owner: r.owner as string,
    ownerId: text(r.owner_id),
    purpose: text(r.purpose),
    labels: JSON.parse(r.labels_json as string) as Record<string, string>,
    createdAt: Number(r.created_at),
    createdBy: text(r.created_by),
    revokedAt: num(r.revoked_at),
    revokedBy: text(r.revoked_by),
  };
}

export function toLiveSession(r: DbRecord): LiveSessionRow {
  return {
    id: r.id as string,
    agentId: text(r.agent_id),
    tokenId: text(r.token_id),
    principalId: text(r.principal_id),
    connection: r.connection as string,
    clientAddr: text(r.client_addr),
  };
}

/** What a recorded client called itself: a PostgreSQL application_name, or an HTTP user-agent header. */
export function userAgentOf(startupJson: unknown, summaryJson: unknown): string | null {
  if (typeof startupJson === 'string') {
    const startup = JSON.parse(startupJson) as Record<string, unknown>;
    if (typeof startup.application_name === 'string' && startup.application_name !== '') return startup.application_name;
  }
  if (typeof summaryJson === 'string') {
    const summary = JSON.parse(summaryJson) as { http?: { headers?: Record<string, unknown> } };
    const agent = summary.http?.headers?.['user-agent'];
    if (typeof agent === 'string') return agent;
  }
  return null;
}

/** Folds the per-connection request counts and the latest sessions into one usage row per agent. */
export function foldUsage(requests: readonly DbRecord[], latest: readonly DbRecord[], userAgents: ReadonlyMap<string, string | null>): AgentUsageRow[] {
  const rows = new Map<string, AgentUsageRow>();
  const rowOf = (agentId: string): AgentUsageRow => {
    let row = rows.get(agentId);
    if (!row) {
      row = { agentId, lastUsedAt: null, requests24h: 0, requests30d: 0, connectionsUsed: [], lastClientAddr: null, lastUserAgent: null };
      rows.set(agentId, row);
    }
    return row;
  };
  const later = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  for (const r of requests) {
    const row = rowOf(r.agent_id as string);
    row.requests30d += Number(r.n);
    row.requests24h += Number(r.n_day ?? 0);
    row.lastUsedAt = later(row.lastUsedAt, num(r.last_at));
    row.connectionsUsed.push(r.connection as string);
  }
  for (const r of latest) {
    const row = rowOf(r.agent_id as string);
    row.lastUsedAt = later(row.lastUsedAt, num(r.started_at));
    row.lastClientAddr = text(r.client_addr);
    row.lastUserAgent = userAgents.get(r.id as string) ?? null;
  }
  for (const row of rows.values()) row.connectionsUsed.sort();
  return [...rows.values()];
}
