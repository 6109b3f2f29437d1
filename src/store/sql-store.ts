/**
 * The Store, written once over a minimal SQL engine. The SQL is portable between SQLite and
 * PostgreSQL and uses `?` placeholders; each engine prepares (or rewrites) a statement once
 * and reuses it, so the texts below are constants, built when the module loads.
 */
import { Conflict, InternalError, InvalidArgument, NotFound } from '../errors.ts';
import { groupedInsert, groupedUpdate, type GroupedWrite } from './grouped-write.ts';
import {
  CONNECTION_COLUMNS,
  INTERACTION_COLUMNS,
  INTERACTION_TYPES,
  PRINCIPAL_COLUMNS,
  SERVICE_ACCOUNT_COLUMNS,
  SESSION_COLUMNS,
  TOKEN_COLUMNS,
  connectionParams,
  interactionParams,
  placeholdersFor,
  principalParams,
  serviceAccountParams,
  sessionParams,
  toConnection,
  toInteraction,
  toPrincipal,
  toServiceAccount,
  toSession,
  toToken,
  tokenParams,
  type SqlValue,
} from './rows.ts';
import type { Engine } from '../util/store-failure.ts';
import { REPLAY_SQL, auditIdAt, searchInteractionsQuery, searchSessionsQuery, toInteractionHit, toSessionHit } from './search-rows.ts';
import type { InteractionHit, InteractionSearch, SessionHit, SessionSearch } from './types.ts';
import { AUDIT_SQL, auditCompletionParams, auditEventParams, listAuditEventsQuery, toAuditEvent } from './audit-rows.ts';
import { SCIM_SQL, nameKey, scimGroupParams, scimGroupUpdateParams, scimUserParams, scimUserUpdateParams, toMembership, toScimGroup, toScimUser } from './scim-rows.ts';
import type { ScimGroupRow, ScimMembership, ScimUserRow } from './types.ts';
import type { ExternalIdentityRow, UsedIdTokenRow } from './types.ts';
import type { ScramSalt, ScramVerifierRow } from './types.ts';
import { APPROVAL_SQL, approvalParams, listApprovalsQuery, toApproval, toVote, voteParams } from './approval-rows.ts';
import type { ApprovalFilter, ApprovalRow, ApprovalVoteRow } from './types.ts';
import { approvalsOfKindQuery, GRANT_SQL, grantParams, listGrantsQuery, toGrant } from './grant-rows.ts';
import type { GrantFilter, GrantRow } from './types.ts';
import { APPEND_LEDGER, LEDGER_SQL, checkpointParams, ledgerParams, toCheckpoint, toLedgerEntry } from './ledger-rows.ts';
import { AUDIT_EVENT_COLUMNS, RETENTION_SQL, byIds, pastParams } from './retention-rows.ts';
import type { CheckpointRow, LedgerEntryRow, PurgeKind } from './types.ts';
import { TOOL_PIN_SQL, toolPinParams, toToolPin } from './tool-pin-rows.ts';
import { SINK_SQL } from './sink-cursor-rows.ts';
import { S3_OBJECT_SQL, s3ObjectParams, toS3Object } from './s3-object-rows.ts';
import type { S3ObjectRow } from './types.ts';
import type { ToolPinRow } from './types.ts';
import { AGENT_SQL, agentParams, foldUsage, toAgent, toLiveSession, userAgentOf } from './agent-rows.ts';
import type { AgentRow, AgentUsageRow, LiveSessionRow } from './types.ts';
import type { SealedValue } from './types.ts';
import type {
  AuditEventCompletion,
  AuditEventFilter,
  AuditEventRow,
  ConnectionRow,
  InteractionCompletion,
  InteractionRangeFilter,
  RecordedInteraction,
  InteractionRow,
  PrincipalRow,
  ServiceAccountRow,
  SessionFilter,
  SessionRow,
  SessionSummary,
  Store,
  TokenFilter,
  TokenRow,
  TokenState,
  SamlIdRow,
  PostgresAccess,
} from './types.ts';

type DbRecord = Record<string, unknown>;

// owner_id (migration 11) rides beside the columns rows.ts names; accounts made before it have
// none, and read back without ownerId.
const ACCOUNT_COLUMNS = `${SERVICE_ACCOUNT_COLUMNS}, owner_id, agent_id`;
const accountParams = (row: ServiceAccountRow): SqlValue[] => [...serviceAccountParams(row), row.ownerId ?? null, row.agentId ?? null];
const toAccount = (r: DbRecord): ServiceAccountRow => {
  const row = toServiceAccount(r);
  const owned = typeof r.owner_id === 'string' ? { ...row, ownerId: r.owner_id } : row;
  return typeof r.agent_id === 'string' ? { ...owned, agentId: r.agent_id } : owned;
};

/** Ids bound per statement: below SQLite's default limit of 32,766 variables, with room for the rest. */
const MAX_IDS_PER_STATEMENT = 512;

/**
 * A list of ids padded (with its last id, which IN ignores) to the next power of two: each engine
 * prepares a statement per distinct text, and this keeps them to ten instead of one per length.
 */
function padded(ids: readonly string[]): string[] {
  let size = 1;
  while (size < ids.length) size *= 2;
  return [...ids, ...Array<string>(size - ids.length).fill(ids.at(-1)!)];
}

export interface SqlEngine {
  readonly engine: Engine;
  readonly postgres?: PostgresAccess;
  /** Added after a sub-select of a parent row that must not change until the statement commits. */
  readonly lockShared: string;
  all(sql: string, params: readonly SqlValue[]): Promise<DbRecord[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params: readonly SqlValue[]): Promise<number>;
  /** Applies pending migrations atomically, one migrating process at a time. */
  migrate(): Promise<void>;
  /**
   * Runs a revoking statement (which returns the ids it revoked) until the token tree is
   * closed under revocation, and returns every id revoked.
   */
  revokeTree(sql: string, params: readonly SqlValue[]): Promise<string[]>;
  /**
   * Runs a write that may be sent together with others issued meanwhile; resolves with the rows
   * changed once the write is committed. Without it, SqlStore runs the write's one-row SQL.
   */
  runGrouped?(write: GroupedWrite, params: readonly SqlValue[]): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const SQL = {
  getSetting: 'SELECT value FROM settings WHERE key = ?',
  setSetting: 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  addSetting: 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING',
  // Sealed values are SecretBox ciphertexts, `v1:` then base64; no plain setting starts so.
  sealedSettings: "SELECT key, value FROM settings WHERE value LIKE 'v1:%' ORDER BY key",
  sealedCredentials: 'SELECT name, credential FROM connections WHERE credential IS NOT NULL ORDER BY name',
  resealSetting: 'UPDATE settings SET value = ? WHERE key = ? AND value = ?',
  resealCredential: 'UPDATE connections SET credential = ? WHERE name = ? AND credential = ?',

  insertPrincipal: `INSERT INTO principals (${PRINCIPAL_COLUMNS}) VALUES (${placeholdersFor(PRINCIPAL_COLUMNS)})`,
  getPrincipal: `SELECT ${PRINCIPAL_COLUMNS} FROM principals WHERE id = ?`,
  findPrincipal: `SELECT ${PRINCIPAL_COLUMNS} FROM principals WHERE kind = ? AND name = ?`,
  listPrincipals: `SELECT ${PRINCIPAL_COLUMNS} FROM principals ORDER BY created_at, id`,

  getToken: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`,
  getTokenByHash: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`,

  insertServiceAccount: `INSERT INTO service_accounts (${ACCOUNT_COLUMNS}) VALUES (${placeholdersFor(ACCOUNT_COLUMNS)})`,
  // An id wins over another account's equal name.
  getServiceAccount: `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts WHERE id = ? OR name = ?
    ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`,
  listServiceAccounts: `SELECT ${ACCOUNT_COLUMNS} FROM service_accounts ORDER BY name`,
  disableServiceAccount: 'UPDATE service_accounts SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?',

  upsertConnection: `INSERT INTO connections (${CONNECTION_COLUMNS}) VALUES (${placeholdersFor(CONNECTION_COLUMNS)})
    ON CONFLICT (name) DO UPDATE SET type = excluded.type, upstream = excluded.upstream, tags_json = excluded.tags_json,
      credential = excluded.credential, options_json = excluded.options_json, updated_at = excluded.updated_at`,
  getConnection: `SELECT ${CONNECTION_COLUMNS} FROM connections WHERE name = ?`,
  listConnections: `SELECT ${CONNECTION_COLUMNS} FROM connections ORDER BY name`,
  deleteConnection: 'DELETE FROM connections WHERE name = ?',

  insertSession: `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (${placeholdersFor(SESSION_COLUMNS)})`,
  // SET expressions read the row as it was, so the first end wins in both engines.
  endSession: `UPDATE sessions SET ended_at = COALESCE(ended_at, ?),
    end_reason = CASE WHEN ended_at IS NULL THEN ? ELSE end_reason END WHERE id = ?`,
  getSession: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`,

  listInteractions: `SELECT ${INTERACTION_COLUMNS} FROM interactions WHERE session_id = ? ORDER BY seq`,
  getInteraction: `SELECT ${INTERACTION_COLUMNS} FROM interactions WHERE id = ?`,
  interruptOpen: "UPDATE interactions SET status = 'interrupted', completed_at = ? WHERE status = 'open'",
  closeOpenSessions: 'UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL',
} as const;

/**
 * The revoking statement: the recursive CTE finds every descendant of the seed tokens,
 * walking through already-revoked ones, and only rows still unrevoked change (so concurrent
 * revokers each report an id at most once). SqlEngine.revokeTree decides how often it runs.
 */
function revokeTreeSql(seedWhere: string): string {
  return `WITH RECURSIVE tree (id) AS (
      SELECT id FROM tokens WHERE ${seedWhere}
      UNION
      SELECT child.id FROM tokens child JOIN tree ON child.parent_id = tree.id
    )
    UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND id IN (SELECT id FROM tree) RETURNING id`;
}
const REVOKE_TOKEN_TREE = revokeTreeSql('id = ?');
const REVOKE_PRINCIPAL_TREES = revokeTreeSql('principal_id = ?');

/** Every proxied request makes these two writes: the write-ahead insert and the completion. */
const INSERT_INTERACTION = groupedInsert('interactions', INTERACTION_TYPES);
const COMPLETE_INTERACTION = groupedUpdate('interactions', INTERACTION_TYPES, [
  'status', 'decision', 'rule', 'reason', 'response_status', 'response_body', 'error_code', 'upstream_code', 'bytes_in',
  'bytes_out', 'completed_at', 'latency_ms', 'prev_hash', 'hash', 'request_body', 'body_digests_json',
], 'id');

const SESSION_COLUMNS_OF_S = SESSION_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ');

// Keyset paging on the time-first primary key: each page starts where the last one ended.
const INTERACTIONS_BETWEEN_BASE = `SELECT ${INTERACTION_COLUMNS.split(', ').map((c) => `i.${c}`).join(', ')},
    s.principal_id AS s_principal_id, s.principal_name AS s_principal_name, s.token_id AS s_token_id,
    s.connection AS s_connection, s.protocol AS s_protocol
  FROM interactions i JOIN sessions s ON s.id = i.session_id
  WHERE i.started_at >= ? AND i.started_at < ? AND i.id > ?`;
const INTERACTIONS_BETWEEN = `${INTERACTIONS_BETWEEN_BASE} ORDER BY i.id LIMIT ?`;
const INTERACTIONS_BETWEEN_ON = `${INTERACTIONS_BETWEEN_BASE} AND s.connection = ? ORDER BY i.id LIMIT ?`;

const SAML_SQL = {
  insert: 'INSERT INTO saml_ids (purpose, id, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (purpose, id) DO NOTHING',
  prune: 'DELETE FROM saml_ids WHERE expires_at <= ?',
} as const;

const IDENTITY_COLUMNS = 'protocol, issuer, subject, principal_id, linked_by, created_at';
const IDENTITY_SQL = {
  insert: `INSERT INTO external_identities (${IDENTITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
  get: `SELECT ${IDENTITY_COLUMNS} FROM external_identities WHERE protocol = ? AND issuer = ? AND subject = ?`,
  ofPrincipal: `SELECT ${IDENTITY_COLUMNS} FROM external_identities WHERE principal_id = ? ORDER BY created_at, protocol, issuer, subject`,
  useIdToken: 'INSERT INTO used_id_tokens (id, created_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
  pruneIdTokens: 'DELETE FROM used_id_tokens WHERE expires_at <= ?',
} as const;

function toExternalIdentity(r: DbRecord): ExternalIdentityRow {
  return {
    protocol: r.protocol as ExternalIdentityRow['protocol'],
    issuer: r.issuer as string,
    subject: r.subject as string,
    principalId: r.principal_id as string,
    linkedBy: r.linked_by as ExternalIdentityRow['linkedBy'],
    createdAt: Number(r.created_at),
  };
}

export class SqlStore implements Store {
  readonly engine: Engine;
  readonly postgres: PostgresAccess | null;
  private readonly insertTokenSql: string;
  private readonly runGrouped: (write: GroupedWrite, params: readonly SqlValue[]) => Promise<number>;

  constructor(private readonly db: SqlEngine) {
    this.engine = db.engine;
    this.postgres = db.postgres ?? null;
    this.runGrouped = db.runGrouped?.bind(db) ?? ((write, params) => db.run(write.sql, params));
    // A child of a revoked token is born revoked; the lock makes a concurrent revokeToken
    // either see the new child or finish first, so no child escapes its parent's revocation.
    this.insertTokenSql = `INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?,
      COALESCE(?, (SELECT revoked_at FROM tokens WHERE id = ?${db.lockShared})), ?, ?)`;
  }

  migrate(): Promise<void> {
    return this.db.migrate();
  }

  ping(): Promise<void> {
    return this.db.ping();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async getSetting(key: string): Promise<string | null> {
    const row = await this.one(SQL.getSetting, [key]);
    return row ? (row.value as string) : null;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db.run(SQL.setSetting, [key, value]);
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    // A concurrent insert of the same key waits on the unique index, then does nothing;
    // the read that follows then sees whichever value committed first.
    await this.db.run(SQL.addSetting, [key, value]);
    const stored = await this.getSetting(key);
    if (stored === null) throw new InternalError(`setting ${key} vanished while being set`);
    return stored;
  }

  async listSealedValues(): Promise<SealedValue[]> {
    const settings = (await this.db.all(SQL.sealedSettings, [])).map((r) => ({ where: 'setting' as const, key: r.key as string, ciphertext: r.value as string }));
    const credentials = (await this.db.all(SQL.sealedCredentials, [])).map((r) => ({ where: 'connection' as const, key: r.name as string, ciphertext: r.credential as string }));
    return [...credentials, ...settings];
  }

  async replaceSealedValue(value: SealedValue, ciphertext: string): Promise<boolean> {
    const sql = value.where === 'setting' ? SQL.resealSetting : SQL.resealCredential;
    return (await this.db.run(sql, [ciphertext, value.key, value.ciphertext])) === 1;
  }

  async insertPrincipal(row: PrincipalRow): Promise<void> {
    await this.db.run(SQL.insertPrincipal, principalParams(row));
  }

  async getPrincipal(id: string): Promise<PrincipalRow | null> {
    return orNull(await this.one(SQL.getPrincipal, [id]), toPrincipal);
  }

  async findPrincipal(kind: PrincipalRow['kind'], name: string): Promise<PrincipalRow | null> {
    return orNull(await this.one(SQL.findPrincipal, [kind, name]), toPrincipal);
  }

  async listPrincipals(): Promise<PrincipalRow[]> {
    return (await this.db.all(SQL.listPrincipals, [])).map(toPrincipal);
  }

  async insertToken(row: TokenRow): Promise<void> {
    // tokenParams ends with revokedAt, parentId, agentId; the parent's id is bound twice.
    const params = tokenParams(row);
    await this.db.run(this.insertTokenSql, [...params.slice(0, 9), row.parentId, ...params.slice(9)]);
  }

  async getToken(id: string): Promise<TokenRow | null> {
    return orNull(await this.one(SQL.getToken, [id]), toToken);
  }

  async getTokenByHash(hash: string): Promise<TokenRow | null> {
    return orNull(await this.one(SQL.getTokenByHash, [hash]), toToken);
  }

  async listTokens(filter: TokenFilter): Promise<TokenRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.principalId !== undefined) {
      where.push('principal_id = ?');
      params.push(filter.principalId);
    }
    if (!filter.includeRevoked) where.push('revoked_at IS NULL');
    if (!filter.includeExpired) {
      where.push('(expires_at IS NULL OR expires_at > ?)');
      params.push(filter.now);
    }
    const sql = `SELECT ${TOKEN_COLUMNS} FROM tokens${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at, id`;
    return (await this.db.all(sql, params)).map(toToken);
  }

  revokeToken(id: string, at: number): Promise<string[]> {
    return this.db.revokeTree(REVOKE_TOKEN_TREE, [id, at]);
  }

  revokePrincipalTokens(principalId: string, at: number): Promise<string[]> {
    return this.db.revokeTree(REVOKE_PRINCIPAL_TREES, [principalId, at]);
  }

  async scramSalt(principalId: string, fresh: ScramSalt): Promise<ScramSalt> {
    await this.db.run('INSERT INTO scram_salts (principal_id, salt, iterations) VALUES (?, ?, ?) ON CONFLICT (principal_id) DO NOTHING', [
      principalId, fresh.salt, fresh.iterations,
    ]);
    const stored = await this.getScramSalt(principalId);
    if (stored === null) throw new InternalError(`SCRAM salt of ${principalId} vanished while being set`);
    return stored;
  }

  async getScramSalt(principalId: string): Promise<ScramSalt | null> {
    const row = await this.one('SELECT salt, iterations FROM scram_salts WHERE principal_id = ?', [principalId]);
    return row ? { salt: row.salt as string, iterations: Number(row.iterations) } : null;
  }

  async insertScramVerifier(r: ScramVerifierRow): Promise<void> {
    await this.db.run(
      `INSERT INTO scram_verifiers (token_id, principal_id, salt, iterations, stored_key, server_key, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [r.tokenId, r.principalId, r.salt, r.iterations, r.storedKey, r.serverKey, r.createdAt],
    );
  }

  async listScramVerifiers(principalId: string, now: number, limit: number): Promise<ScramVerifierRow[]> {
    // Ended tokens stay candidates (after the live ones) so their login is refused as expired or revoked, as with cleartext.
    const rows = await this.db.all(
      `SELECT v.token_id, v.principal_id, v.salt, v.iterations, v.stored_key, v.server_key, v.created_at
        FROM scram_verifiers v JOIN tokens t ON t.id = v.token_id
        WHERE v.principal_id = ? AND t.principal_id = v.principal_id
        ORDER BY CASE WHEN t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?) THEN 0 ELSE 1 END,
          v.created_at DESC, v.token_id LIMIT ?`,
      [principalId, now, limit],
    );
    return rows.map((r) => ({
      tokenId: r.token_id as string,
      principalId: r.principal_id as string,
      salt: r.salt as string,
      iterations: Number(r.iterations),
      storedKey: r.stored_key as string,
      serverKey: r.server_key as string,
      createdAt: Number(r.created_at),
    }));
  }

  async insertServiceAccount(row: ServiceAccountRow): Promise<void> {
    await this.db.run(SQL.insertServiceAccount, accountParams(row));
  }

  async getServiceAccount(idOrName: string): Promise<ServiceAccountRow | null> {
    return orNull(await this.one(SQL.getServiceAccount, [idOrName, idOrName, idOrName]), toAccount);
  }

  async listServiceAccounts(): Promise<ServiceAccountRow[]> {
    return (await this.db.all(SQL.listServiceAccounts, [])).map(toAccount);
  }

  async disableServiceAccount(id: string, at: number): Promise<void> {
    expectRow(await this.db.run(SQL.disableServiceAccount, [at, id]), 'service account', id);
  }

  async upsertConnection(row: ConnectionRow): Promise<void> {
    await this.db.run(SQL.upsertConnection, connectionParams(row));
  }

  async getConnection(name: string): Promise<ConnectionRow | null> {
    return orNull(await this.one(SQL.getConnection, [name]), toConnection);
  }

  async listConnections(): Promise<ConnectionRow[]> {
    return (await this.db.all(SQL.listConnections, [])).map(toConnection);
  }

  async deleteConnection(name: string): Promise<boolean> {
    return (await this.db.run(SQL.deleteConnection, [name])) > 0;
  }

  async insertSession(row: SessionRow): Promise<void> {
    await this.db.run(SQL.insertSession, sessionParams(row));
  }

  async endSession(id: string, at: number, reason: string): Promise<void> {
    expectRow(await this.db.run(SQL.endSession, [at, reason, id]), 'session', id);
  }

  async getSession(id: string): Promise<SessionRow | null> {
    return orNull(await this.one(SQL.getSession, [id]), toSession);
  }

  async listSessions(filter: SessionFilter): Promise<SessionSummary[]> {
    const offset = filter.offset ?? 0;
    for (const [name, value] of [['limit', filter.limit], ['offset', offset]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new InvalidArgument(`${name} must be a non-negative integer`);
      }
    }
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.principalName !== undefined) {
      where.push('s.principal_name = ?');
      params.push(filter.principalName);
    }
    if (filter.connection !== undefined) {
      where.push('s.connection = ?');
      params.push(filter.connection);
    }
    const sql = `SELECT ${SESSION_COLUMNS_OF_S},
        (SELECT COUNT(*) FROM interactions i WHERE i.session_id = s.id) AS interaction_count,
        (SELECT COUNT(*) FROM interactions i WHERE i.session_id = s.id AND i.decision = 'deny') AS denied_count
      FROM sessions s${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY s.started_at DESC, s.id DESC LIMIT ? OFFSET ?`;
    const rows = await this.db.all(sql, [...params, filter.limit, offset]);
    return rows.map((r) => ({
      ...toSession(r),
      interactionCount: Number(r.interaction_count),
      deniedCount: Number(r.denied_count),
    }));
  }

  async insertInteraction(row: InteractionRow): Promise<void> {
    await this.runGrouped(INSERT_INTERACTION, interactionParams(row));
  }

  async completeInteraction(id: string, f: InteractionCompletion): Promise<void> {
    const changed = await this.runGrouped(COMPLETE_INTERACTION, [
      f.status, f.decision, f.rule, f.reason, f.responseStatus, f.responseBody, f.errorCode, f.upstreamCode, f.bytesIn,
      f.bytesOut, f.completedAt, f.latencyMs, f.prevHash, f.hash, f.requestBody, f.bodyDigests ? JSON.stringify(f.bodyDigests) : null, id,
    ]);
    expectRow(changed, 'interaction', id);
  }

  async listInteractions(sessionId: string): Promise<InteractionRow[]> {
    return (await this.db.all(SQL.listInteractions, [sessionId])).map(toInteraction);
  }

  async getInteraction(id: string): Promise<InteractionRow | null> {
    return orNull(await this.one(SQL.getInteraction, [id]), toInteraction);
  }

  async listInteractionsBetween(filter: InteractionRangeFilter): Promise<RecordedInteraction[]> {
    for (const [name, value] of [['limit', filter.limit], ['from', filter.from], ['to', filter.to]] as const) {
      if (!Number.isSafeInteger(value) || value < (name === 'limit' ? 1 : 0)) throw new InvalidArgument(`${name} must be a ${name === 'limit' ? 'positive' : 'non-negative'} integer`);
    }
    const params: SqlValue[] = [filter.from, filter.to, filter.after ?? ''];
    if (filter.connection !== undefined) params.push(filter.connection);
    const rows = await this.db.all(filter.connection === undefined ? INTERACTIONS_BETWEEN : INTERACTIONS_BETWEEN_ON, [...params, filter.limit]);
    return rows.map((r) => ({
      ...toInteraction(r),
      session: {
        principalId: (r.s_principal_id as string | null) ?? null,
        principalName: r.s_principal_name as string,
        tokenId: (r.s_token_id as string | null) ?? null,
        connection: r.s_connection as string,
        protocol: r.s_protocol as string,
      },
    }));
  }

  async insertAuditEvent(row: AuditEventRow): Promise<void> {
    await this.db.run(AUDIT_SQL.insert, auditEventParams(row));
  }

  async completeAuditEvent(id: string, fields: AuditEventCompletion): Promise<void> {
    if ((await this.db.run(AUDIT_SQL.complete, auditCompletionParams(id, fields))) > 0) return;
    expectRow((await this.db.all(AUDIT_SQL.exists, [id])).length, 'audit event', id);
  }

  async listAuditEvents(filter: AuditEventFilter): Promise<AuditEventRow[]> {
    const { sql, params } = listAuditEventsQuery(filter);
    return (await this.db.all(sql, params)).map(toAuditEvent);
  }

  async closeWorkOf(replicas: readonly (string | null)[] | 'all', at: number, reason: string): Promise<{ interactions: number; sessions: number }> {
    if (replicas === 'all') {
      const interactions = await this.db.run(SQL.interruptOpen, [at]);
      return { interactions, sessions: await this.db.run(SQL.closeOpenSessions, [at, reason]) };
    }
    let interactions = 0;
    let sessions = 0;
    const named = replicas.filter((id): id is string => id !== null);
    const legacy = replicas.includes(null);
    for (let i = 0; i < Math.max(named.length, legacy ? 1 : 0); i += MAX_IDS_PER_STATEMENT) {
      const slice = named.slice(i, i + MAX_IDS_PER_STATEMENT);
      const ids = slice.length > 0 ? padded(slice) : slice;
      const owned = [ids.length > 0 ? `replica_id IN (${ids.map(() => '?').join(', ')})` : null, legacy && i === 0 ? 'replica_id IS NULL' : null]
        .filter(Boolean)
        .join(' OR ');
      // Any session of theirs, ended or not: a replica taken for gone by mistake may have opened
      // interactions in a session already closed in the store.
      interactions += await this.db.run(
        `UPDATE interactions SET status = 'interrupted', completed_at = ? WHERE status = 'open'
          AND session_id IN (SELECT id FROM sessions WHERE ${owned})`,
        [at, ...ids],
      );
      sessions += await this.db.run(`UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL AND (${owned})`, [at, reason, ...ids]);
    }
    return { interactions, sessions };
  }

  async tokenStates(ids: readonly string[]): Promise<TokenState[]> {
    const states: TokenState[] = [];
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_STATEMENT) {
      const chunk = padded(ids.slice(i, i + MAX_IDS_PER_STATEMENT));
      const rows = await this.db.all(`SELECT id, revoked_at, expires_at FROM tokens WHERE id IN (${chunk.map(() => '?').join(', ')})`, chunk);
      for (const r of rows) states.push({ id: r.id as string, revokedAt: (r.revoked_at as number | null) ?? null, expiresAt: (r.expires_at as number | null) ?? null });
    }
    return states;
  }

  async disablePrincipal(id: string, at: number): Promise<void> {
    expectRow(await this.db.run(SCIM_SQL.disablePrincipal, [at, id]), 'principal', id);
  }

  async enablePrincipal(id: string): Promise<void> {
    expectRow(await this.db.run(SCIM_SQL.enablePrincipal, [id]), 'principal', id);
  }

  async setPrincipalGroups(id: string, groups: readonly string[]): Promise<void> {
    expectRow(await this.db.run(SCIM_SQL.setPrincipalGroups, [JSON.stringify(groups), id]), 'principal', id);
  }

  async renamePrincipal(id: string, name: string): Promise<void> {
    const before = await this.getPrincipal(id);
    if (!before) throw new NotFound(`principal ${id} does not exist`);
    await this.db.run(SCIM_SQL.renamePrincipal, [name, id]);
    // By id; an account made before owners had ids by its owner text in any case, as offboarding matches them.
    const owned = (await this.listServiceAccounts()).filter((a) => (a.ownerId ? a.ownerId === id : nameKey(a.owner) === nameKey(before.name)));
    for (const account of owned) await this.db.run(SCIM_SQL.setServiceAccountOwner, [name, account.id]);
  }

  async insertScimUser(row: ScimUserRow): Promise<void> {
    await this.db.run(SCIM_SQL.insertUser, scimUserParams(row));
  }

  async getScimUser(principalId: string): Promise<ScimUserRow | null> {
    return orNull(await this.one(SCIM_SQL.getUser, [principalId]), toScimUser);
  }

  async findScimUserByUserName(userName: string): Promise<ScimUserRow | null> {
    return orNull(await this.one(SCIM_SQL.findUserByName, [nameKey(userName)]), toScimUser);
  }

  async listScimUsers(): Promise<ScimUserRow[]> {
    return (await this.db.all(SCIM_SQL.listUsers, [])).map(toScimUser);
  }

  async updateScimUser(row: ScimUserRow): Promise<void> {
    expectRow(await this.db.run(SCIM_SQL.updateUser, scimUserUpdateParams(row)), 'SCIM user', row.principalId);
  }

  async deleteScimUser(principalId: string): Promise<boolean> {
    await this.db.run(SCIM_SQL.deleteUserMemberships, [principalId]);
    return (await this.db.run(SCIM_SQL.deleteUser, [principalId])) > 0;
  }

  async insertScimGroup(row: ScimGroupRow): Promise<void> {
    await this.db.run(SCIM_SQL.insertGroup, scimGroupParams(row));
  }

  async getScimGroup(id: string): Promise<ScimGroupRow | null> {
    return orNull(await this.one(SCIM_SQL.getGroup, [id]), toScimGroup);
  }

  async findScimGroupByName(displayName: string): Promise<ScimGroupRow | null> {
    return orNull(await this.one(SCIM_SQL.findGroupByName, [nameKey(displayName)]), toScimGroup);
  }

  async listScimGroups(): Promise<ScimGroupRow[]> {
    return (await this.db.all(SCIM_SQL.listGroups, [])).map(toScimGroup);
  }

  async updateScimGroup(row: ScimGroupRow): Promise<void> {
    expectRow(await this.db.run(SCIM_SQL.updateGroup, scimGroupUpdateParams(row)), 'SCIM group', row.id);
  }

  async deleteScimGroup(id: string): Promise<boolean> {
    await this.db.run(SCIM_SQL.deleteGroupMembers, [id]);
    return (await this.db.run(SCIM_SQL.deleteGroup, [id])) > 0;
  }

  async addScimMembers(groupId: string, principalIds: readonly string[]): Promise<number> {
    let added = 0;
    for (const principalId of new Set(principalIds)) added += await this.db.run(SCIM_SQL.addMember, [groupId, principalId]);
    return added;
  }

  async removeScimMembers(groupId: string, principalIds: readonly string[] | 'all'): Promise<number> {
    if (principalIds === 'all') return this.db.run(SCIM_SQL.deleteGroupMembers, [groupId]);
    let removed = 0;
    for (const principalId of new Set(principalIds)) removed += await this.db.run(SCIM_SQL.removeMember, [groupId, principalId]);
    return removed;
  }

  async listScimMemberships(filter: { groupId?: string; principalId?: string }): Promise<ScimMembership[]> {
    const rows =
      filter.groupId !== undefined
        ? await this.db.all(SCIM_SQL.membersOfGroup, [filter.groupId])
        : filter.principalId !== undefined
          ? await this.db.all(SCIM_SQL.membershipsOfPrincipal, [filter.principalId])
          : await this.db.all(SCIM_SQL.allMemberships, []);
    return rows.map(toMembership).filter((m) => filter.principalId === undefined || m.principalId === filter.principalId);
  }

  async insertSamlId(row: SamlIdRow): Promise<boolean> {
    return (await this.db.run(SAML_SQL.insert, [row.purpose, row.id, row.createdAt, row.expiresAt])) > 0;
  }

  pruneSamlIds(now: number): Promise<number> {
    return this.db.run(SAML_SQL.prune, [now]);
  }

  async insertExternalIdentity(row: ExternalIdentityRow): Promise<void> {
    await this.db.run(IDENTITY_SQL.insert, [row.protocol, row.issuer, row.subject, row.principalId, row.linkedBy, row.createdAt]);
  }

  async getExternalIdentity(protocol: ExternalIdentityRow['protocol'], issuer: string, subject: string): Promise<ExternalIdentityRow | null> {
    return orNull(await this.one(IDENTITY_SQL.get, [protocol, issuer, subject]), toExternalIdentity);
  }

  async listExternalIdentities(principalId: string): Promise<ExternalIdentityRow[]> {
    return (await this.db.all(IDENTITY_SQL.ofPrincipal, [principalId])).map(toExternalIdentity);
  }

  async insertUsedIdToken(row: UsedIdTokenRow): Promise<boolean> {
    return (await this.db.run(IDENTITY_SQL.useIdToken, [row.id, row.createdAt, row.expiresAt])) > 0;
  }

  pruneUsedIdTokens(now: number): Promise<number> {
    return this.db.run(IDENTITY_SQL.pruneIdTokens, [now]);
  }

  async insertApproval(row: ApprovalRow): Promise<void> {
    await this.db.run(APPROVAL_SQL.insert, approvalParams(row));
  }

  async insertPendingApproval(row: ApprovalRow): Promise<ApprovalRow> {
    // The unique index (migration 13) picks the one insert that holds the place; a pending row it
    // collided with may be decided before it is read, and then the place is free to take again.
    for (let attempt = 0; attempt < 5; attempt++) {
      if ((await this.db.run(APPROVAL_SQL.insertPending, approvalParams(row))) > 0) return row;
      const holder = await this.one(APPROVAL_SQL.pendingFor, [row.principalId, row.fingerprint]);
      if (holder) return toApproval(holder);
    }
    throw new Conflict(`approval ${row.id} could not be stored: the same request's approval kept changing; send the request again`);
  }

  async getApproval(id: string): Promise<ApprovalRow | null> {
    return orNull(await this.one(APPROVAL_SQL.get, [id]), toApproval);
  }

  async listApprovals(filter: ApprovalFilter): Promise<ApprovalRow[]> {
    if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new InvalidArgument('limit must be a non-negative integer');
    const { sql, params } = listApprovalsQuery(filter);
    return (await this.db.all(sql, params)).map(toApproval);
  }

  async findLiveApprovals(principalId: string, fingerprint: string, status: 'pending' | 'approved', now: number): Promise<ApprovalRow[]> {
    return (await this.db.all(APPROVAL_SQL.findLive, [principalId, fingerprint, status, now])).map(toApproval);
  }

  async decideApproval(id: string, to: 'approved' | 'denied' | 'withdrawn', at: number, from: 'pending' | 'approved' = 'pending'): Promise<boolean> {
    return (await this.db.run(APPROVAL_SQL.decide, [to, at, id, from])) > 0;
  }

  async useApproval(id: string, at: number): Promise<boolean> {
    return (await this.db.run(APPROVAL_SQL.use, [at, id, at])) > 0;
  }

  async expireApproval(id: string, now: number): Promise<boolean> {
    return (await this.db.run(APPROVAL_SQL.expireOne, [now, id, now])) > 0;
  }

  async dueApprovals(now: number): Promise<string[]> {
    return (await this.db.all(APPROVAL_SQL.due, [now])).map((r) => r.id as string);
  }

  async insertApprovalVote(row: ApprovalVoteRow, now: number): Promise<boolean> {
    return (await this.db.run(APPROVAL_SQL.insertVote, voteParams(row, now))) > 0;
  }

  async listApprovalVotes(approvalId: string): Promise<ApprovalVoteRow[]> {
    return (await this.db.all(APPROVAL_SQL.votes, [approvalId])).map(toVote);
  }

  async insertGrant(row: GrantRow): Promise<boolean> {
    return (await this.db.run(GRANT_SQL.insert, grantParams(row))) > 0;
  }

  async getGrant(id: string): Promise<GrantRow | null> {
    return orNull(await this.one(GRANT_SQL.get, [id]), toGrant);
  }

  async liveGrants(principalId: string, connection: string, now: number): Promise<GrantRow[]> {
    return (await this.db.all(GRANT_SQL.live, [principalId, connection, now])).map(toGrant);
  }

  async listGrants(filter: GrantFilter): Promise<GrantRow[]> {
    if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new InvalidArgument('limit must be a non-negative integer');
    const { sql, params } = listGrantsQuery(filter);
    return (await this.db.all(sql, params)).map(toGrant);
  }

  async endGrant(id: string, to: 'revoked' | 'expired', at: number, by: string, reason: string): Promise<boolean> {
    const changed = to === 'revoked' ? await this.db.run(GRANT_SQL.revoke, [at, by, reason, id]) : await this.db.run(GRANT_SQL.expire, [at, by, reason, id, at]);
    return changed > 0;
  }

  async dueGrants(now: number): Promise<string[]> {
    return (await this.db.all(GRANT_SQL.due, [now])).map((r) => r.id as string);
  }

  async listApprovalsOfKind(kind: string, filter: ApprovalFilter): Promise<ApprovalRow[]> {
    if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new InvalidArgument('limit must be a non-negative integer');
    const { sql, params } = approvalsOfKindQuery(kind, filter);
    return (await this.db.all(sql, params)).map(toApproval);
  }

  async searchSessions(filter: SessionSearch): Promise<SessionHit[]> {
    const { sql, params } = searchSessionsQuery(filter);
    return (await this.db.all(sql, params)).map(toSessionHit);
  }

  async searchInteractions(filter: InteractionSearch): Promise<InteractionHit[]> {
    const { sql, params } = searchInteractionsQuery(filter);
    return (await this.db.all(sql, params)).map(toInteractionHit);
  }

  async replayPage(sessionId: string, fromSeq: number, limit: number): Promise<{ interactions: InteractionRow[]; total: number; agent: string | null }> {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgument('from must be a non-negative integer');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidArgument('limit must be an integer from 1 to 10000');
    const interactions = (await this.db.all(REPLAY_SQL.page, [sessionId, fromSeq, limit])).map(toInteraction);
    const total = Number((await this.one(REPLAY_SQL.count, [sessionId]))?.n ?? 0);
    const agent = (await this.one(REPLAY_SQL.agentOf, [sessionId]))?.agent_name;
    return { interactions, total, agent: typeof agent === 'string' ? agent : null };
  }

  async approvalsAskedBy(interactionIds: readonly string[], from: number, to: number): Promise<Map<string, string>> {
    const asked = new Map<string, string>();
    if (interactionIds.length === 0) return asked;
    const wanted = new Set(interactionIds);
    for (const r of await this.db.all(REPLAY_SQL.askedIn, [auditIdAt(from), auditIdAt(to + 1)])) {
      let interaction: unknown;
      try {
        interaction = (JSON.parse(r.details_json as string) as Record<string, unknown>).interaction;
      } catch {
        continue;
      }
      if (typeof interaction === 'string' && wanted.has(interaction) && typeof r.target === 'string') asked.set(interaction, r.target);
    }
    return asked;
  }

  async appendLedger(row: LedgerEntryRow): Promise<void> {
    await this.runGrouped(APPEND_LEDGER, ledgerParams(row));
  }

  async listLedger(writer: string, afterSeq: number, limit: number): Promise<LedgerEntryRow[]> {
    return (await this.db.all(LEDGER_SQL.page, [writer, afterSeq, limit])).map(toLedgerEntry);
  }

  async ledgerHead(writer: string): Promise<LedgerEntryRow | null> {
    return orNull(await this.one(LEDGER_SQL.head, [writer]), toLedgerEntry);
  }

  async ledgerWriters(): Promise<string[]> {
    return (await this.db.all(LEDGER_SQL.writers, [])).map((r) => r.writer as string).sort();
  }

  async insertCheckpoint(row: CheckpointRow): Promise<void> {
    await this.db.run(LEDGER_SQL.insertCheckpoint, checkpointParams(row));
  }

  async listCheckpoints(): Promise<CheckpointRow[]> {
    return (await this.db.all(LEDGER_SQL.checkpoints, [])).map(toCheckpoint);
  }

  async lastCheckpoint(writer: string): Promise<CheckpointRow | null> {
    return orNull(await this.one(LEDGER_SQL.lastCheckpoint, [writer]), toCheckpoint);
  }

  async getAuditEvent(id: string): Promise<AuditEventRow | null> {
    return orNull(await this.one(LEDGER_SQL.auditEvent, [id]), toAuditEvent);
  }

  async listToolPins(connection: string): Promise<ToolPinRow[]> {
    return (await this.db.all(TOOL_PIN_SQL.list, [connection])).map(toToolPin);
  }

  async putToolPin(row: ToolPinRow): Promise<void> {
    await this.db.run(TOOL_PIN_SQL.put, toolPinParams(row));
  }

  async deleteToolPin(connection: string, tool: string): Promise<boolean> {
    return (await this.db.run(TOOL_PIN_SQL.delete, [connection, tool])) > 0;
  }

  async sinkCursors(sink: string): Promise<Map<string, number>> {
    return new Map((await this.db.all(SINK_SQL.cursors, [sink])).map((r) => [r.writer as string, Number(r.seq)]));
  }

  async advanceSinkCursor(sink: string, writer: string, seq: number, at: number): Promise<void> {
    await this.db.run(SINK_SQL.advance, [sink, writer, seq, at]);
  }

  async takeSinkLease(sink: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return (await this.db.run(SINK_SQL.takeLease, [sink, holder, now + ttlMs, now])) > 0;
  }

  async releaseSinkLease(sink: string, holder: string): Promise<void> {
    await this.db.run(SINK_SQL.releaseLease, [sink, holder]);
  }

  async insertS3Object(row: S3ObjectRow): Promise<void> {
    await this.db.run(S3_OBJECT_SQL.insert, s3ObjectParams(row));
  }

  async listS3ObjectWrites(bucket: string, key: string, connection?: string, limit = 100): Promise<S3ObjectRow[]> {
    const rows = connection === undefined ? await this.db.all(S3_OBJECT_SQL.list, [bucket, key, limit]) : await this.db.all(S3_OBJECT_SQL.listOnConnection, [bucket, key, connection, limit]);
    return rows.map(toS3Object);
  }

  async purgeAudit(kind: PurgeKind, cutoff: number, options: { limit: number; dryRun: boolean; at: number }): Promise<number> {
    if (options.dryRun) return Number((await this.one(RETENTION_SQL.count(kind), pastParams(kind, cutoff)))?.n ?? 0);
    const params = [...(kind === 'bodies' ? [options.at] : []), ...pastParams(kind, cutoff), options.limit];
    return this.db.run(RETENTION_SQL.purge(kind), params);
  }

  async ledgerPurgeBound(writer: string, cutoff: number): Promise<LedgerEntryRow | null> {
    return orNull(await this.one(RETENTION_SQL.purgeBound, [writer, cutoff, writer, writer, cutoff]), toLedgerEntry);
  }

  async deleteLedgerPrefix(writer: string, toSeq: number, limit: number): Promise<number> {
    const deleted = await this.db.run(RETENTION_SQL.deleteLedger, [writer, writer, toSeq, limit]);
    if (deleted < limit) await this.db.run(RETENTION_SQL.deleteCheckpoints, [writer, toSeq, writer]);
    return deleted;
  }

  async ledgerHeads(): Promise<LedgerEntryRow[]> {
    return (await this.db.all(RETENTION_SQL.heads, [])).map(toLedgerEntry);
  }

  sessionsByIds(ids: readonly string[]): Promise<SessionRow[]> {
    return this.rowsByIds('sessions', SESSION_COLUMNS, ids, toSession);
  }

  interactionsByIds(ids: readonly string[]): Promise<InteractionRow[]> {
    return this.rowsByIds('interactions', INTERACTION_COLUMNS, ids, toInteraction);
  }

  auditEventsByIds(ids: readonly string[]): Promise<AuditEventRow[]> {
    return this.rowsByIds('audit_events', AUDIT_EVENT_COLUMNS, ids, toAuditEvent);
  }

  async auditEventsOfAction(action: string, limit: number): Promise<AuditEventRow[]> {
    return (await this.db.all(RETENTION_SQL.ofAction, [action, limit])).map(toAuditEvent);
  }

  async claimLedgerWriter(holder: string, fresh: string, now: number, ttlMs: number): Promise<string> {
    for (const r of await this.db.all(RETENTION_SQL.writerCandidates, [now])) {
      // Compare-and-set: of two processes after the same chain, one changes the row.
      if ((await this.db.run(RETENTION_SQL.takeWriter, [holder, now + ttlMs, r.writer as string, now])) === 1) return r.writer as string;
    }
    await this.db.run(RETENTION_SQL.newWriter, [fresh, holder, now + ttlMs]);
    return fresh;
  }

  async renewLedgerWriter(writer: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return (await this.db.run(RETENTION_SQL.renewWriter, [now + ttlMs, writer, holder])) === 1;
  }

  async releaseLedgerWriter(writer: string, holder: string): Promise<void> {
    await this.db.run(RETENTION_SQL.releaseWriter, [writer, holder]);
  }

  private async rowsByIds<T>(table: 'sessions' | 'interactions' | 'audit_events', columns: string, ids: readonly string[], to: (r: DbRecord) => T): Promise<T[]> {
    const out: T[] = [];
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += MAX_IDS_PER_STATEMENT) {
      const chunk = padded(unique.slice(i, i + MAX_IDS_PER_STATEMENT));
      for (const r of await this.db.all(byIds(table, columns, chunk.length), chunk)) out.push(to(r));
    }
    return out;
  }

  async insertAgent(row: AgentRow, ownerKey: string): Promise<void> {
    await this.db.run(AGENT_SQL.insert, agentParams(row, ownerKey));
  }

  async ensureAgent(row: AgentRow, ownerKey: string): Promise<AgentRow> {
    await this.db.run(AGENT_SQL.insertIfAbsent, agentParams(row, ownerKey));
    const stored = await this.findAgent(ownerKey, row.name);
    if (stored === null) throw new InternalError(`agent ${row.name} vanished while being created`);
    return stored;
  }

  async getAgent(id: string): Promise<AgentRow | null> {
    return orNull(await this.one(AGENT_SQL.get, [id]), toAgent);
  }

  async findAgent(ownerKey: string, name: string): Promise<AgentRow | null> {
    return orNull(await this.one(AGENT_SQL.find, [ownerKey, name]), toAgent);
  }

  async listAgents(): Promise<AgentRow[]> {
    return (await this.db.all(AGENT_SQL.list, [])).map(toAgent);
  }

  async revokeAgent(id: string, at: number, by: string): Promise<boolean> {
    return (await this.db.run(AGENT_SQL.revoke, [at, by, id])) > 0;
  }

  async setServiceAccountAgent(accountId: string, agentId: string): Promise<void> {
    expectRow(await this.db.run(AGENT_SQL.setAccountAgent, [agentId, accountId]), 'service account', accountId);
  }

  async agentTokens(agentIds: readonly string[] | 'all'): Promise<TokenRow[]> {
    if (agentIds === 'all') return (await this.db.all(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE agent_id IS NOT NULL ORDER BY created_at, id`, [])).map(toToken);
    const rows: TokenRow[] = [];
    for (let i = 0; i < agentIds.length; i += MAX_IDS_PER_STATEMENT) {
      const ids = padded(agentIds.slice(i, i + MAX_IDS_PER_STATEMENT));
      const sql = `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE agent_id IN (${ids.map(() => '?').join(', ')}) ORDER BY created_at, id`;
      rows.push(...(await this.db.all(sql, ids)).map(toToken));
    }
    return rows;
  }

  async agentUsage(now: number, windowMs: number): Promise<AgentUsageRow[]> {
    const since = now - windowMs;
    const [requests, latest] = await Promise.all([this.db.all(AGENT_SQL.requests, [now - 86_400_000, since, since]), this.db.all(AGENT_SQL.latest, [])]);
    const userAgents = new Map<string, string | null>();
    for (const r of latest) {
      const summary = r.startup_json ? undefined : (await this.one(AGENT_SQL.lastSummary, [r.id as string]))?.summary_json;
      userAgents.set(r.id as string, userAgentOf(r.startup_json, summary));
    }
    return foldUsage(requests, latest, userAgents);
  }

  async liveSessions(): Promise<LiveSessionRow[]> {
    return (await this.db.all(AGENT_SQL.live, [])).map(toLiveSession);
  }

  private async one(sql: string, params: readonly SqlValue[]): Promise<DbRecord | undefined> {
    return (await this.db.all(sql, params))[0];
  }
}

function orNull<T>(record: DbRecord | undefined, to: (r: DbRecord) => T): T | null {
  return record === undefined ? null : to(record);
}

function expectRow(changed: number, what: string, id: string): void {
  if (changed === 0) throw new NotFound(`${what} ${id} does not exist`);
}
