/**
 * The one storage interface. Two engines implement it (SQLite embedded, PostgreSQL for
 * several replicas); everything above `store/` sees only these shapes. Times are epoch ms.
 */

export type TokenKind = 'agent' | 'service_account' | 'admin' | 'scim';

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
  /** The agent it belongs to (migration 19); absent on rows written without one. */
  agentId?: string | null;
}

export interface PostgresAccess {
  readonly pool: import('pg').Pool;
  /** How the pool connects, for a connection held outside it (the coordination's LISTEN). */
  readonly clientConfig: import('pg').ClientConfig;
  /** The database URL's password, in every form an error message may show it. */
  readonly secrets: readonly string[];
}

export interface ScramSalt {
  /** base64 */
  salt: string;
  iterations: number;
}

/** A token's SCRAM-SHA-256 verifier (RFC 5802): StoredKey and ServerKey, base64; nothing that gives back the token. */
export interface ScramVerifierRow extends ScramSalt {
  tokenId: string;
  principalId: string;
  storedKey: string;
  serverKey: string;
  createdAt: number;
}

export type TokenState = Pick<TokenRow, 'id' | 'revokedAt' | 'expiresAt'>;

export interface ServiceAccountRow {
  id: string;
  name: string;
  /** The owner's name as it was resolved at creation (kept in step with renames). */
  owner: string;
  /**
   * The owning principal's id (migration 11), which offboarding matches. Null or absent on accounts
   * created before it: their `owner` text is matched against the person's name in any case.
   */
  ownerId?: string | null;
  connections: string[];
  createdAt: number;
  expiresAt: number;
  disabledAt: number | null;
  /** The agent the account is (migration 19). */
  agentId?: string | null;
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
  /** The replica that serves the session: only its own clean-up, or one after it is gone, may close it. */
  replicaId: string | null;
  /** What a PostgreSQL client sent at startup (user, application_name, options …), secret-looking values replaced; null elsewhere. */
  startup?: Readonly<Record<string, string>> | null;
  /** The agent whose credential opened it (migration 19); absent when none. */
  agentId?: string | null;
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
  /**
   * What the seal covers of each body (migration 18): its digest, and when it was cut to the
   * recording bound, the original's size and digest. Null on rows recorded before, which seal the
   * bodies' text itself. audit/retention-bodies.ts reads and describes it.
   */
  bodyDigests?: BodyDigests | null;
  /** When retention removed the bodies (the row, its digests and its seal stay). */
  bodiesPurgedAt?: number | null;
}

/** A body cut to `recording.maxBodyBytes`: the stored text is its first keptBytes bytes. */
export interface TruncationMarker {
  originalBytes: number;
  keptBytes: number;
  /** SHA-256 (hex) of the whole body as it reached the recorder. */
  sha256: string;
}

export interface BodyDigest {
  /** SHA-256 (hex) of the stored text. */
  sha256: string;
  bytes: number;
  truncated?: TruncationMarker;
}

export interface BodyDigests {
  request: BodyDigest | null;
  response: BodyDigest | null;
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
  | 'bodyDigests'
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

export interface InteractionRangeFilter {
  from: number;
  to: number;
  limit: number;
  /** The last id of the previous page. */
  after?: string;
  connection?: string;
}

export type RecordedInteraction = InteractionRow & {
  session: Pick<SessionRow, 'principalId' | 'principalName' | 'tokenId' | 'connection' | 'protocol'>;
};

/** A value sealed under the master key, and where it lives (its SecretBox AAD is `<where>:<key>`). */
export interface SealedValue {
  readonly where: 'connection' | 'setting';
  readonly key: string;
  readonly ciphertext: string;
}

/**
 * One admin action (an API call that changes something, or any call with the break-glass admin
 * token), with who made it. Written before the action runs, with `outcome` null, and completed
 * with the HTTP status it answered; a row left null is an action whose end was never recorded.
 */
export interface AuditEventRow {
  id: string;
  at: number;
  /** The replica that served the call; null where no replica id is known. */
  replicaId: string | null;
  actorId: string;
  actorName: string;
  /** gateway: a change the gateway made itself (an approval expiring), no person acting. */
  actorKind: PrincipalRow['kind'] | 'gateway';
  /** The token the call was made with (its id, never the secret). */
  credentialId: string | null;
  /** The route's operationId, e.g. createToken. */
  action: string;
  /** What it acted on: a token id, a connection or service-account name, a principal name. */
  target: string | null;
  /** The HTTP status answered; null while the action runs. */
  outcome: number | null;
  /** A few safe facts (never an issued token or a credential). */
  details: Record<string, unknown>;
}

export type AuditEventCompletion = Pick<AuditEventRow, 'outcome' | 'target' | 'details'>;

export interface AuditEventFilter {
  limit: number;
  /** Only events older than this event id (the last id of the previous page). */
  before?: string;
  /** Only events by this actor (name or id). */
  actor?: string;
  /** Only this action (operationId). */
  action?: string;
  /** Only events about this target (a token id, an approval id …). */
  target?: string;
}

/**
 * Failures: unreachable or failing storage throws StoreError (`store_unavailable`); a duplicate
 * key throws Conflict (`conflict`); a row naming a missing parent (token parentId, interaction
 * sessionId) throws `invalid_argument`; updating a missing row throws `not_found`.
 */
export interface Store extends LedgerStore, ToolPinStore, AgentStore, S3ObjectStore, SinkCursorStore {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * PostgreSQL only: the engine's pool, for the parts that speak PostgreSQL themselves (limit
   * counters, coordination), so that a replica holds one pool; and what to cut out of their errors.
   */
  readonly postgres: PostgresAccess | null;
  /** Idempotent; records applied versions in a schema_migrations table. */
  migrate(): Promise<void>;
  /** Throws StoreError if unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  /** Sets only when absent; returns the value now stored (so two replicas bootstrapping agree). */
  setSettingIfAbsent(key: string, value: string): Promise<string>;
  /** Every value sealed under the master key: connection credentials and sealed settings (for key rotation). */
  listSealedValues(): Promise<SealedValue[]>;
  /** Replaces a sealed value only while it is still `value.ciphertext`; false when it changed meanwhile. */
  replaceSealedValue(value: SealedValue, ciphertext: string): Promise<boolean>;

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
  /** The principal's SCRAM salt; `fresh` is stored first when it has none (concurrent issues agree on one). */
  scramSalt(principalId: string, fresh: ScramSalt): Promise<ScramSalt>;
  getScramSalt(principalId: string): Promise<ScramSalt | null>;
  insertScramVerifier(row: ScramVerifierRow): Promise<void>;
  /** A principal's verifiers, tokens still live first, newest first, at most `limit`. */
  listScramVerifiers(principalId: string, now: number, limit: number): Promise<ScramVerifierRow[]>;

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
  /**
   * Interactions that started in [from, to), in id order (ids are time-first), at most `limit` after
   * the id `after`, each with its session's caller and connection: policy replay pages through these.
   */
  listInteractionsBetween(filter: InteractionRangeFilter): Promise<RecordedInteraction[]>;

  insertAuditEvent(row: AuditEventRow): Promise<void>;
  /** Sets the outcome (and the target and details known by then) once; a second completion changes nothing. */
  completeAuditEvent(id: string, fields: AuditEventCompletion): Promise<void>;
  /** Newest first. */
  listAuditEvents(filter: AuditEventFilter): Promise<AuditEventRow[]>;
  /**
   * After replicas stopped or died: their still-open interactions become 'interrupted' (in any of
   * their sessions, ended or not) and their open sessions end with `reason` (a marker, not a real
   * end). `replicas` names them, null naming the sessions recorded before replicas had ids; 'all'
   * means every replica's (one node, where no other can be running). Returns how many rows changed.
   */
  closeWorkOf(replicas: readonly (string | null)[] | 'all', at: number, reason: string): Promise<{ interactions: number; sessions: number }>;
  /** Revocation and expiry of these tokens, in one query; ids the store does not know are left out. */
  tokenStates(ids: readonly string[]): Promise<TokenState[]>;

  // Offboarding and SCIM (identity/offboarding.ts, api/scim/).
  /** Keeps the first disabledAt when called again; throws not_found for an unknown id. */
  disablePrincipal(id: string, at: number): Promise<void>;
  enablePrincipal(id: string): Promise<void>;
  setPrincipalGroups(id: string, groups: readonly string[]): Promise<void>;
  /** Renames a principal; service accounts it owns (by ownerId, or by the old name in any case where none is stored) name the new one. */
  renamePrincipal(id: string, name: string): Promise<void>;
  /** Throws Conflict when another SCIM user has this userName, compared case-insensitively. */
  insertScimUser(row: ScimUserRow): Promise<void>;
  getScimUser(principalId: string): Promise<ScimUserRow | null>;
  /** Case-insensitive, as SCIM compares userName. */
  findScimUserByUserName(userName: string): Promise<ScimUserRow | null>;
  /** In creation order. */
  listScimUsers(): Promise<ScimUserRow[]>;
  updateScimUser(row: ScimUserRow): Promise<void>;
  /** Removes the SCIM side of a user and its group memberships; the principal stays. */
  deleteScimUser(principalId: string): Promise<boolean>;
  /** Throws Conflict when another group has this displayName, compared case-insensitively. */
  insertScimGroup(row: ScimGroupRow): Promise<void>;
  getScimGroup(id: string): Promise<ScimGroupRow | null>;
  findScimGroupByName(displayName: string): Promise<ScimGroupRow | null>;
  /** In creation order. */
  listScimGroups(): Promise<ScimGroupRow[]>;
  updateScimGroup(row: ScimGroupRow): Promise<void>;
  /** Removes the group and its memberships. */
  deleteScimGroup(id: string): Promise<boolean>;
  /** Members already present are left as they are; returns how many were added. */
  addScimMembers(groupId: string, principalIds: readonly string[]): Promise<number>;
  /** 'all' empties the group; returns how many were removed. */
  removeScimMembers(groupId: string, principalIds: readonly string[] | 'all'): Promise<number>;
  listScimMemberships(filter: { groupId?: string; principalId?: string }): Promise<ScimMembership[]>;

  // SAML (identity/saml/): ids shared by every replica, so a request or an assertion is used once anywhere.
  /** Inserts the id unless it is there already; returns false then (an id used before: a replay). */
  insertSamlId(row: SamlIdRow): Promise<boolean>;
  /** Deletes every id expired at `now`; returns how many. */
  pruneSamlIds(now: number): Promise<number>;

  // Sign-in identities (identity/external-identities.ts): which principal an issuer's subject is.
  /**
   * Throws Conflict when the identity is linked already, or when a sign-in link is added to a
   * principal that has one (so of two people racing to claim one name, one wins).
   */
  insertExternalIdentity(row: ExternalIdentityRow): Promise<void>;
  getExternalIdentity(protocol: ExternalIdentityRow['protocol'], issuer: string, subject: string): Promise<ExternalIdentityRow | null>;
  /** Every identity linked to the principal, oldest first. */
  listExternalIdentities(principalId: string): Promise<ExternalIdentityRow[]>;
  /** Inserts the ID token's key unless it is there already; returns false then (a token used before: a replay). */
  insertUsedIdToken(row: UsedIdTokenRow): Promise<boolean>;
  /** Deletes every key expired at `now`; returns how many. */
  pruneUsedIdTokens(now: number): Promise<number>;

  // Approvals (approvals/): requests held for people. Status changes are conditional: each returns
  // whether this call changed the row, so of two replicas deciding at once exactly one wins.
  insertApproval(row: ApprovalRow): Promise<void>;
  /**
   * Inserts a pending approval unless its principal already has one pending for the same
   * fingerprint (expired or not): returns the approval that holds the place, `row` itself when it
   * was inserted. Of identical requests held at once, on any replicas, exactly one inserts.
   */
  insertPendingApproval(row: ApprovalRow): Promise<ApprovalRow>;
  getApproval(id: string): Promise<ApprovalRow | null>;
  /** Newest first. */
  listApprovals(filter: ApprovalFilter): Promise<ApprovalRow[]>;
  /** Approvals of this principal's request (by fingerprint) in `status` that expire after `now`, newest first. */
  findLiveApprovals(principalId: string, fingerprint: string, status: 'pending' | 'approved', now: number): Promise<ApprovalRow[]>;
  /** pending → approved | denied | withdrawn; false when it was no longer pending. */
  /** A conditional change of status, from `from` (pending unless said): false when it was no longer so. */
  decideApproval(id: string, to: 'approved' | 'denied' | 'withdrawn', at: number, from?: 'pending' | 'approved'): Promise<boolean>;
  /** approved → used, once, before it expires; false when it was not usable. */
  useApproval(id: string, at: number): Promise<boolean>;
  /** A pending or approved (unused) approval whose expiry has passed at `now` becomes expired; false when it was not one. */
  expireApproval(id: string, now: number): Promise<boolean>;
  /** Ids of pending or approved approvals whose expiry has passed at `now` (at most 500). */
  dueApprovals(now: number): Promise<string[]>;
  /** Stores a vote while the approval is pending and unexpired at `now`; false when it is not. Conflict on a second vote of one approver. */
  insertApprovalVote(row: ApprovalVoteRow, now: number): Promise<boolean>;
  /** In the order they were cast. */
  listApprovalVotes(approvalId: string): Promise<ApprovalVoteRow[]>;

  // Just-in-time access grants (approvals/grants.ts, migration 12). Ending one is conditional, so it ends once.
  /** false when a grant with this id (or for this approval) exists already. */
  insertGrant(row: GrantRow): Promise<boolean>;
  getGrant(id: string): Promise<GrantRow | null>;
  /** Active grants of this principal for this connection that expire after `now`, soonest expiry first. */
  liveGrants(principalId: string, connection: string, now: number): Promise<GrantRow[]>;
  /** Newest first. */
  listGrants(filter: GrantFilter): Promise<GrantRow[]>;
  /** active → revoked (any time) or expired (once `at` reached its expiry); false when it was not. */
  endGrant(id: string, to: 'revoked' | 'expired', at: number, by: string, reason: string): Promise<boolean>;
  /** Ids of active grants whose expiry has passed at `now` (at most 500). */
  dueGrants(now: number): Promise<string[]>;
  /** Approvals of kind `kind` (access requests), newest first. */
  listApprovalsOfKind(kind: string, filter: ApprovalFilter): Promise<ApprovalRow[]>;

  // Audit retention and verify in pages (store/retention-rows.ts, audit/purge.ts, migration 18).
  /** Rows of `kind` past `cutoff`: counted when dryRun (limit ignored), else at most `limit` removed (bodies: emptied at `at`). */
  purgeAudit(kind: PurgeKind, cutoff: number, options: { limit: number; dryRun: boolean; at: number }): Promise<number>;
  /** The last entry of the writer's chain such that it and every entry before it are older than `cutoff`; never the head. */
  ledgerPurgeBound(writer: string, cutoff: number): Promise<LedgerEntryRow | null>;
  /** Removes at most `limit` of the writer's entries up to `toSeq`, first ones first; with none left, its checkpoints up to `toSeq` but the last. */
  deleteLedgerPrefix(writer: string, toSeq: number, limit: number): Promise<number>;
  /** Every writer's head entry, by writer. */
  ledgerHeads(): Promise<LedgerEntryRow[]>;
  sessionsByIds(ids: readonly string[]): Promise<SessionRow[]>;
  interactionsByIds(ids: readonly string[]): Promise<InteractionRow[]>;
  auditEventsByIds(ids: readonly string[]): Promise<AuditEventRow[]>;
  /** Audit events of this action, newest first, at most `limit`. */
  auditEventsOfAction(action: string, limit: number): Promise<AuditEventRow[]>;
  /** Takes a writer chain no process holds (its lease ran out) until `now + ttlMs`, or registers `fresh`; returns the writer. */
  claimLedgerWriter(holder: string, fresh: string, now: number, ttlMs: number): Promise<string>;
  /** false when `holder` no longer holds it. */
  renewLedgerWriter(writer: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  releaseLedgerWriter(writer: string, holder: string): Promise<void>;

  // Audit search and session replay (store/search-rows.ts, migration 21).
  /** Sessions newest first, filtered, after `before` (the previous page's last session). */
  searchSessions(filter: SessionSearch): Promise<SessionHit[]>;
  /** Interactions newest first, without their bodies, filtered, after `before`. */
  searchInteractions(filter: InteractionSearch): Promise<InteractionHit[]>;
  /** A session's interactions from seq `fromSeq` on, in seq order, at most `limit`; and how many it has in all. */
  replayPage(sessionId: string, fromSeq: number, limit: number): Promise<{ interactions: InteractionRow[]; total: number; agent: string | null }>;
  /** Approval ids asked for by these interactions (approval.created events naming them), asked between `from` and `to`. */
  approvalsAskedBy(interactionIds: readonly string[], from: number, to: number): Promise<Map<string, string>>;
}

export type GrantStatus = 'active' | 'expired' | 'revoked';

/** A time-boxed grant of access to one connection, issued when an access request was approved. */
export interface GrantRow {
  id: string;
  /** The approval (access request) it was issued for. */
  approvalId: string;
  principalId: string;
  principalName: string;
  connection: string;
  /** The requester's reason, as masked for approvers. */
  reason: string;
  /** Names of the people whose approvals issued it. */
  approvedBy: string[];
  grantedAt: number;
  expiresAt: number;
  status: GrantStatus;
  endedAt: number | null;
  /** Who revoked it, or `gatehouse` when it expired. */
  endedBy: string | null;
  endReason: string | null;
}

export interface GrantFilter {
  principalId?: string;
  status?: GrantStatus;
  limit: number;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn' | 'used';

/** A request held for approval, as stored: `summary` is the masked request an approver reads. */
export interface ApprovalRow {
  id: string;
  createdAt: number;
  expiresAt: number;
  status: ApprovalStatus;
  /** SHA-256 of the exact request (approvals/fingerprint.ts): the same request retried matches. */
  fingerprint: string;
  principalId: string;
  principalName: string;
  tokenId: string | null;
  /** The name of the token the request came with. */
  agent: string;
  connection: string;
  /** The interaction kind (llm.chat, sql.query …). */
  kind: string;
  rule: string;
  /** Groups whose members may approve. */
  approvers: string[];
  required: number;
  summary: Record<string, unknown>;
  decidedAt: number | null;
  usedAt: number | null;
  replicaId: string | null;
}

export interface ApprovalVoteRow {
  approvalId: string;
  approverId: string;
  approverName: string;
  vote: 'approve' | 'deny';
  comment: string | null;
  at: number;
  /** Cast by a member of approvals.breakGlassGroups, alone enough to approve. */
  breakGlass: boolean;
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
  principalId?: string;
  limit: number;
}

/**
 * An identity provider's account linked to a principal: OIDC (issuer URL, sub) or SAML (IdP
 * entityId, NameID). A principal has at most one link made by a sign-in.
 */
export interface ExternalIdentityRow {
  protocol: 'oidc' | 'saml';
  issuer: string;
  subject: string;
  principalId: string;
  /** 'sign-in': the first sign-in claimed the principal; 'admin': an admin linked a further identity. */
  linkedBy: 'sign-in' | 'admin';
  createdAt: number;
}

/** An ID token a sign-in used up, by a hash (never the token), kept until the token could no longer be accepted. */
export interface UsedIdTokenRow {
  id: string;
  createdAt: number;
  expiresAt: number;
}

/** An id a SAML sign-in used up: the assertion's, and the id of the request it answered. */
export interface SamlIdRow {
  purpose: 'request' | 'assertion';
  id: string;
  createdAt: number;
  expiresAt: number;
}

/** The SCIM side of a user principal, as an identity provider provisioned it. */
export interface ScimUserRow {
  /** The user principal's id, which is also the SCIM resource id. */
  principalId: string;
  /** As the provider sent it; the principal's name is the same, up to case (a person known before SCIM keeps theirs). */
  userName: string;
  externalId: string | null;
  /** What the provider last sent; the principal's disabledAt says whether the person may sign in. */
  active: boolean;
  /** Other SCIM attributes as last sent (name, emails …); nothing in them grants anything. */
  attributes: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/** A group an identity provider pushed; its displayName is a group name in principals' groups. */
export interface ScimGroupRow {
  id: string;
  displayName: string;
  externalId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ScimMembership {
  groupId: string;
  principalId: string;
}

/**
 * One link of a writer's audit chain (audit/ledger.ts, migration 15): the hash of an event's
 * canonical form, chained to the writer's entry before it.
 */
export interface LedgerEntryRow {
  /** The replica (or, on SQLite, the one local writer) that appended it. */
  writer: string;
  /** 1, 2, 3 … per writer, with no gaps. */
  seq: number;
  /** session.start, session.end, interaction, audit.open, audit.event, audit.complete. */
  kind: string;
  /** The session, interaction or audit event id. */
  refId: string;
  eventHash: string;
  /** The writer's previous entry's hash; null for its first. */
  prevHash: string | null;
  hash: string;
  at: number;
}

/** The approved definition of one MCP tool (migration 14, adapters/mcp/pins.ts). */
export interface ToolPinRow {
  connection: string;
  tool: string;
  /** SHA-256 (hex) of the canonical JSON. */
  hash: string;
  /** The definition's canonical JSON, for showing what a change changes. */
  definitionJson: string;
  pinnedAt: number;
  /** The approval that pinned it. */
  approvalId: string | null;
  /** The admin who pinned it directly (`gatehouse mcp pin`, migration 22); null when an approval did. */
  pinnedBy: string | null;
}

/** MCP tool pins (migration 14). */
export interface ToolPinStore {
  /** Every pin of the connection, by tool name. */
  listToolPins(connection: string): Promise<ToolPinRow[]>;
  /** Inserts or replaces the pin of (connection, tool). */
  putToolPin(row: ToolPinRow): Promise<void>;
  /** false when there was none. */
  deleteToolPin(connection: string, tool: string): Promise<boolean>;
}

/** A writer's chain head, signed with an Ed25519 key (audit/checkpoints.ts). */
export interface CheckpointRow {
  writer: string;
  seq: number;
  headHash: string;
  at: number;
  /** The writer's previous checkpoint's hash; null for its first. */
  prevCheckpointHash: string | null;
  keyId: string;
  /** base64 Ed25519 signature of the canonical form. */
  signature: string;
  hash: string;
  /** The other writers' heads this writer saw when it signed (migration 18); absent on older checkpoints. */
  peers?: readonly PeerHead[] | null;
}

/** Another writer's chain head as a checkpoint saw it: deleting that chain or its tail is then detected. */
export interface PeerHead {
  writer: string;
  seq: number;
  hash: string;
}

/** What a retention purge removes: bodies of interactions (the row stays), interactions, sessions, audit events. */
export type PurgeKind = 'bodies' | 'interactions' | 'sessions' | 'events';

/** The audit ledger (migration 15); appended through audit/ledger.ts only. */
export interface LedgerStore {
  appendLedger(row: LedgerEntryRow): Promise<void>;
  /** The writer's entries after `afterSeq`, in seq order. */
  listLedger(writer: string, afterSeq: number, limit: number): Promise<LedgerEntryRow[]>;
  ledgerHead(writer: string): Promise<LedgerEntryRow | null>;
  /** Every writer with a ledger entry or a checkpoint. */
  ledgerWriters(): Promise<string[]>;
  insertCheckpoint(row: CheckpointRow): Promise<void>;
  /** By writer, then seq. */
  listCheckpoints(): Promise<CheckpointRow[]>;
  lastCheckpoint(writer: string): Promise<CheckpointRow | null>;
  getAuditEvent(id: string): Promise<AuditEventRow | null>;
}

/** An agent of the inventory (migration 19, src/inventory/): who runs it and what for. */
export interface AgentRow {
  id: string;
  name: string;
  /** The owner's name: a person's principal name, or a team (group) name. */
  owner: string;
  /** The owning principal's id; null when a team owns it. */
  ownerId: string | null;
  purpose: string | null;
  labels: Record<string, string>;
  createdAt: number;
  createdBy: string | null;
  revokedAt: number | null;
  revokedBy: string | null;
}

/** Usage of one agent's sessions, read from the recorded sessions and interactions. */
export interface AgentUsageRow {
  agentId: string;
  /** Latest session start or interaction start. */
  lastUsedAt: number | null;
  requests24h: number;
  requests30d: number;
  /** Connections it sent requests to in the window. */
  connectionsUsed: string[];
  lastClientAddr: string | null;
  lastUserAgent: string | null;
}

/** A session still open, for live counts and the client addresses a credential is used from. */
export interface LiveSessionRow {
  id: string;
  agentId: string | null;
  tokenId: string | null;
  principalId: string | null;
  connection: string;
  clientAddr: string | null;
}

/** The agent inventory (migration 19). */
export interface AgentStore {
  /** Throws Conflict when the owner has an agent of that name. */
  insertAgent(row: AgentRow, ownerKey: string): Promise<void>;
  /** The owner's agent of that name, inserted from `row` first when absent (racing callers agree on one). */
  ensureAgent(row: AgentRow, ownerKey: string): Promise<AgentRow>;
  getAgent(id: string): Promise<AgentRow | null>;
  findAgent(ownerKey: string, name: string): Promise<AgentRow | null>;
  listAgents(): Promise<AgentRow[]>;
  /** Sets revokedAt once; false when it was revoked already. */
  revokeAgent(id: string, at: number, by: string): Promise<boolean>;
  setServiceAccountAgent(accountId: string, agentId: string): Promise<void>;
  /** Tokens of these agents (revoked and expired ones included). */
  agentTokens(agentIds: readonly string[] | 'all'): Promise<TokenRow[]>;
  /** Usage since `since` (requests) and over all time (last used), per agent with any session. */
  agentUsage(now: number, windowMs: number): Promise<AgentUsageRow[]>;
  liveSessions(): Promise<LiveSessionRow[]>;
}


/** Audit export (migration 17, audit/outbox.ts): how far each sink has delivered each writer's chain. */
export interface SinkCursorStore {
  /** The sink's cursor per writer: the highest seq delivered (writers it never delivered are absent). */
  sinkCursors(sink: string): Promise<Map<string, number>>;
  /** Moves the cursor forward to `seq`; a lower seq than the stored one changes nothing. */
  advanceSinkCursor(sink: string, writer: string, seq: number, at: number): Promise<void>;
  /** Takes or renews the sink's lease until `now + ttlMs`; false while another holder's lease is unexpired at `now`. */
  takeSinkLease(sink: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  releaseSinkLease(sink: string, holder: string): Promise<void>;
}

/** Where a newest-first page ended: the last row's start time and id (audit search, session lists). */
export interface SearchPosition {
  startedAt: number;
  id: string;
}

/** Filters both searches share; each given one must hold. */
interface SearchFilter {
  limit: number;
  /** Rows older than this position: the previous page's last. */
  before?: SearchPosition;
  /** The identity's name or id. */
  principal?: string;
  /** The agent: today the name of the token the session came with. */
  agent?: string;
  connection?: string;
  kind?: string;
  decision?: string;
  rule?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
}

/** Sessions open during [since, until); kind, decision and rule keep sessions with at least one such interaction. */
export type SessionSearch = SearchFilter;

/** Interactions that started in [since, until). */
export interface InteractionSearch extends SearchFilter {
  session?: string;
  /** Text the target (path, SQL, tool name) contains, case-insensitively. */
  text?: string;
}

export type SessionHit = SessionSummary & { agent: string | null };

export type InteractionHit = Omit<InteractionRow, 'requestBody' | 'responseBody'> & {
  session: Pick<SessionRow, 'principalId' | 'principalName' | 'tokenId' | 'connection' | 'protocol'> & { agent: string | null };
};

/** Which request wrote an object through the S3 adapter (migration 20). */
export interface S3ObjectRow {
  interactionId: string;
  connection: string;
  bucket: string;
  key: string;
  etag: string | null;
  versionId: string | null;
  writtenAt: number;
}

export interface S3ObjectStore {
  insertS3Object(row: S3ObjectRow): Promise<void>;
  /** Writes of one object, newest first; on one connection when given. */
  listS3ObjectWrites(bucket: string, key: string, connection?: string, limit?: number): Promise<S3ObjectRow[]>;
}
