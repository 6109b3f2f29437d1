/**
 * The one storage interface. Two engines implement it (SQLite embedded, PostgreSQL for
 * several replicas); everything above `store/` sees only these shapes. Times are epoch ms.
 */

export type TokenKind = 'agent' | 'service_account' | 'admin';

export interface PrincipalRow {
  id: string;
  kind: 'user' | 'service_account' | 'admin';
  name: string;
  groups: string[];
  createdAt: number;
  disabledAt: number | null;
}

export interface TokenRow {
  id: string;
  /** hashToken() of the secret; the secret itself is never stored. */
  hash: string;
  kind: TokenKind;
  principalId: string;
  name: string;
  /** Connection names the token may reach; null means any. */
  connections: string[] | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  parentId: string | null;
}

export interface ServiceAccountRow {
  id: string;
  name: string;
  owner: string;
  connections: string[];
  createdAt: number;
  expiresAt: number;
  disabledAt: number | null;
}

export interface ConnectionRow {
  name: string;
  type: string;
  upstream: string;
  tags: string[];
  /** Ciphertext from secret-box, sealed with the connection name as AAD. */
  credential: string | null;
  options: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface SessionRow {
  id: string;
  principalId: string | null;
  principalName: string;
  tokenId: string | null;
  connection: string;
  protocol: string;
  clientAddr: string | null;
  startedAt: number;
  endedAt: number | null;
  endReason: string | null;
}

export type InteractionStatus = 'open' | 'complete' | 'interrupted';

export interface InteractionRow {
  id: string;
  sessionId: string;
  seq: number;
  kind: string;
  status: InteractionStatus;
  decision: string;
  rule: string | null;
  reason: string | null;
  method: string | null;
  /** Path, or SQL text, or tool name. */
  target: string | null;
  model: string | null;
  summary: Record<string, unknown>;
  requestBody: string | null;
  responseStatus: number | null;
  responseBody: string | null;
  /**
   * The gateway's own code (a RecordedErrorCode from errors.ts) when it refused or failed the
   * request. A string here, not that type: rows recorded before upstreamCode existed may hold a
   * database's SQLSTATE or 'skipped', and they are read back as they were sealed.
   */
  errorCode: string | null;
  /** The target's own error code as it reported it (a SQLSTATE such as '42P01'); null when it reported none. */
  upstreamCode: string | null;
  bytesIn: number;
  bytesOut: number;
  startedAt: number;
  completedAt: number | null;
  latencyMs: number | null;
  prevHash: string | null;
  hash: string | null;
}

export type InteractionCompletion = Pick<
  InteractionRow,
  | 'status'
  | 'decision'
  | 'rule'
  | 'reason'
  | 'responseStatus'
  | 'responseBody'
  | 'errorCode'
  | 'upstreamCode'
  | 'bytesIn'
  | 'bytesOut'
  | 'completedAt'
  | 'latencyMs'
  | 'prevHash'
  | 'hash'
  | 'requestBody'
>;

export interface TokenFilter {
  principalId?: string;
  includeRevoked?: boolean;
  includeExpired?: boolean;
  now: number;
}

export interface SessionFilter {
  limit: number;
  offset?: number;
  principalName?: string;
  connection?: string;
}

export type SessionSummary = SessionRow & { interactionCount: number; deniedCount: number };

/**
 * Failures: unreachable or failing storage throws StoreError (`store_unavailable`); a duplicate
 * key throws Conflict (`conflict`); a row naming a missing parent (token parentId, interaction
 * sessionId) throws `invalid_argument`; updating a missing row throws `not_found`.
 */
export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /** Idempotent; records applied versions in a schema_migrations table. */
  migrate(): Promise<void>;
  /** Throws StoreError if unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  /** Sets only when absent; returns the value now stored (so two replicas bootstrapping agree). */
  setSettingIfAbsent(key: string, value: string): Promise<string>;

  insertPrincipal(row: PrincipalRow): Promise<void>;
  getPrincipal(id: string): Promise<PrincipalRow | null>;
  findPrincipal(kind: PrincipalRow['kind'], name: string): Promise<PrincipalRow | null>;
  listPrincipals(): Promise<PrincipalRow[]>;

  /** A token whose parent is already revoked is stored revoked (with the parent's revokedAt). */
  insertToken(row: TokenRow): Promise<void>;
  getToken(id: string): Promise<TokenRow | null>;
  getTokenByHash(hash: string): Promise<TokenRow | null>;
  listTokens(filter: TokenFilter): Promise<TokenRow[]>;
  /** Sets revokedAt on the token and on every token whose parentId chain leads to it; returns ids revoked now. */
  revokeToken(id: string, at: number): Promise<string[]>;
  /** Revokes all tokens of a principal (and tokens derived from them); returns ids. */
  revokePrincipalTokens(principalId: string, at: number): Promise<string[]>;

  insertServiceAccount(row: ServiceAccountRow): Promise<void>;
  getServiceAccount(idOrName: string): Promise<ServiceAccountRow | null>;
  listServiceAccounts(): Promise<ServiceAccountRow[]>;
  /** Keeps the first disabledAt when called again. */
  disableServiceAccount(id: string, at: number): Promise<void>;

  /** Inserts or replaces; createdAt of an existing row is kept. */
  upsertConnection(row: ConnectionRow): Promise<void>;
  getConnection(name: string): Promise<ConnectionRow | null>;
  listConnections(): Promise<ConnectionRow[]>;
  deleteConnection(name: string): Promise<boolean>;

  insertSession(row: SessionRow): Promise<void>;
  /** Keeps the first end time and reason when called again. */
  endSession(id: string, at: number, reason: string): Promise<void>;
  getSession(id: string): Promise<SessionRow | null>;
  /** Newest first. */
  listSessions(filter: SessionFilter): Promise<SessionSummary[]>;

  /** Write-ahead: the row as it is before forwarding (status 'open'). */
  insertInteraction(row: InteractionRow): Promise<void>;
  completeInteraction(id: string, fields: InteractionCompletion): Promise<void>;
  /** In seq order. */
  listInteractions(sessionId: string): Promise<InteractionRow[]>;
  getInteraction(id: string): Promise<InteractionRow | null>;
  /** After a crash: every still-open interaction becomes 'interrupted'; returns how many. */
  markOpenInteractionsInterrupted(at: number): Promise<number>;
  /** After a stop: every session still open is ended with this reason (a marker, not a real end); returns how many. */
  closeOpenSessions(at: number, reason: string): Promise<number>;
}
