/**
 * The schema, written once for both engines: only types both understand (TEXT, INTEGER,
 * BIGINT, DOUBLE PRECISION), times as epoch-ms BIGINT, JSON as TEXT, no booleans.
 * Append new versions; never edit one that has shipped.
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Run one by one, inside the engine's migration transaction. */
  readonly statements: readonly string[];
}

export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

export const SELECT_APPLIED_VERSIONS = 'SELECT version FROM schema_migrations';

export const INSERT_APPLIED_VERSION = 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)';

// Kept in version order whatever order entries were appended in (work landing in parallel appends
// out of order); pending ones then run lowest first on every engine.
export const MIGRATIONS: readonly Migration[] = ([
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      )`,
      `CREATE TABLE principals (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        disabled_at BIGINT,
        UNIQUE (kind, name)
      )`,
      // No foreign key to principals: service-account tokens name a service_accounts row.
      `CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        name TEXT NOT NULL,
        connections_json TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        parent_id TEXT REFERENCES tokens (id)
      )`,
      'CREATE UNIQUE INDEX tokens_by_hash ON tokens (hash)',
      'CREATE INDEX tokens_by_principal ON tokens (principal_id)',
      'CREATE INDEX tokens_by_parent ON tokens (parent_id)',
      `CREATE TABLE service_accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        connections_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        disabled_at BIGINT
      )`,
      `CREATE TABLE connections (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        upstream TEXT NOT NULL,
        tags_json TEXT NOT NULL,
        credential TEXT,
        options_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        principal_id TEXT,
        principal_name TEXT NOT NULL,
        token_id TEXT,
        connection TEXT NOT NULL,
        protocol TEXT NOT NULL,
        client_addr TEXT,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        end_reason TEXT
      )`,
      'CREATE INDEX sessions_by_started_at ON sessions (started_at DESC)',
      // latency_ms is DOUBLE PRECISION so sub-millisecond timings store the same on both engines.
      `CREATE TABLE interactions (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        decision TEXT NOT NULL,
        rule TEXT,
        reason TEXT,
        method TEXT,
        target TEXT,
        model TEXT,
        summary_json TEXT NOT NULL,
        request_body TEXT,
        response_status INTEGER,
        response_body TEXT,
        error_code TEXT,
        bytes_in BIGINT NOT NULL,
        bytes_out BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        completed_at BIGINT,
        latency_ms DOUBLE PRECISION,
        prev_hash TEXT,
        hash TEXT
      )`,
      'CREATE UNIQUE INDEX interactions_by_session_seq ON interactions (session_id, seq)',
      // Partial: after a crash only the open rows are looked for, and there are few of them.
      "CREATE INDEX interactions_open ON interactions (status) WHERE status = 'open'",
    ],
  },
  {
    version: 2,
    name: 'limit counters shared between replicas',
    // Only the PostgreSQL engine uses these; on SQLite one node keeps its counters in memory.
    statements: [
      // One fixed one-minute bucket per key; amount is DOUBLE PRECISION as token estimates may be fractional.
      `CREATE TABLE limit_windows (
        key TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (key, window_start)
      )`,
      // One row per slot held; a replica that stops renewing its rows loses them at expires_at.
      `CREATE TABLE limit_leases (
        key TEXT NOT NULL,
        holder_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (key, holder_id)
      )`,
      'CREATE INDEX limit_leases_by_holder ON limit_leases (holder_id)',
    ],
  },
  {
    version: 3,
    name: "interactions record the upstream's own error code apart from the gateway's",
    // Nullable and without a default, so both engines add it without rewriting the table, and rows
    // recorded before it read back null: their hash seals no upstream code (audit/hash-chain.ts).
    statements: ['ALTER TABLE interactions ADD COLUMN upstream_code TEXT'],
  },
  {
    version: 4,
    name: 'replicas: who owns each session, heartbeats, and events every replica hears',
    statements: [
      // Null on sessions recorded before replicas had ids: a start treats them as left by a gone replica.
      'ALTER TABLE sessions ADD COLUMN replica_id TEXT',
      'CREATE INDEX sessions_open_by_replica ON sessions (replica_id) WHERE ended_at IS NULL',
      // Only the PostgreSQL engine fills these two; one SQLite node keeps its replica and events in memory.
      `CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        stopped_at BIGINT,
        stop_reason TEXT
      )`,
      `CREATE TABLE coordination_events (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        origin TEXT NOT NULL,
        type TEXT NOT NULL,
        payload_json TEXT NOT NULL
      )`,
      'CREATE INDEX coordination_events_by_time ON coordination_events (created_at)',
    ],
  },
  {
    version: 5,
    name: 'admin actions recorded with who made them',
    statements: [
      // outcome stays null from the write-ahead insert until the action answers (audit/admin-actions.ts).
      `CREATE TABLE audit_events (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        replica_id TEXT,
        actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        actor_kind TEXT NOT NULL,
        credential_id TEXT,
        action TEXT NOT NULL,
        target TEXT,
        outcome INTEGER,
        details_json TEXT NOT NULL
      )`,
      // Ids start with their time, so id order is time order and an id is the paging cursor.
      'CREATE INDEX audit_events_by_actor ON audit_events (actor_name, id)',
      'CREATE INDEX audit_events_by_action ON audit_events (action, id)',
    ],
  },
  // Keep versions in ascending order: a version 6 goes above this one.
  {
    version: 7,
    name: 'SCIM: users and groups an identity provider provisions',
    statements: [
      // The key columns hold the lower-cased name: SCIM compares userName and displayName case-insensitively.
      // active is what the provider last sent (1 or 0), apart from principals.disabled_at: a routine sync
      // repeating active: true never undoes a disable made in the gateway; only a reactivation does.
      `CREATE TABLE scim_users (
        principal_id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        user_name_key TEXT NOT NULL UNIQUE,
        external_id TEXT,
        active INTEGER NOT NULL,
        attributes_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE TABLE scim_groups (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        display_key TEXT NOT NULL UNIQUE,
        external_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE TABLE scim_group_members (
        group_id TEXT NOT NULL REFERENCES scim_groups (id),
        principal_id TEXT NOT NULL,
        PRIMARY KEY (group_id, principal_id)
      )`,
      'CREATE INDEX scim_group_members_by_principal ON scim_group_members (principal_id)',
    ],
  },
  {
    version: 8,
    name: 'SAML: assertion and request ids a sign-in used, kept until they expire',
    statements: [
      // Each id is kept until what it names could no longer be accepted anyway, then pruned, so
      // the table holds only the last hour or so of sign-ins.
      `CREATE TABLE saml_ids (
        purpose TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (purpose, id)
      )`,
      'CREATE INDEX saml_ids_by_expiry ON saml_ids (expires_at)',
    ],
  },
  {
    version: 9,
    name: 'approvals: requests held for people, and their votes',
    statements: [
      // summary_json holds the request as masked for approvers, never the request itself. Status
      // changes are conditional updates (WHERE status = 'pending'), so two replicas deciding at once
      // cannot both win, and 'used' is set once.
      `CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        token_id TEXT,
        agent TEXT NOT NULL,
        connection TEXT NOT NULL,
        kind TEXT NOT NULL,
        rule TEXT NOT NULL,
        approvers_json TEXT NOT NULL,
        required INTEGER NOT NULL,
        summary_json TEXT NOT NULL,
        decided_at BIGINT,
        used_at BIGINT,
        replica_id TEXT
      )`,
      'CREATE INDEX approvals_by_request ON approvals (principal_id, fingerprint, status)',
      'CREATE INDEX approvals_by_status ON approvals (status, expires_at)',
      `CREATE TABLE approval_votes (
        approval_id TEXT NOT NULL REFERENCES approvals (id),
        approver_id TEXT NOT NULL,
        approver_name TEXT NOT NULL,
        vote TEXT NOT NULL,
        comment TEXT,
        at BIGINT NOT NULL,
        break_glass INTEGER NOT NULL,
        PRIMARY KEY (approval_id, approver_id)
      )`,
    ],
  },
  {
    version: 10,
    name: 'sign-in identities linked to principals; ID tokens used up',
    statements: [
      // A sign-in finds its principal by (issuer, subject), never by a name another issuer could
      // assert too. The partial index lets a principal be claimed by one sign-in only, so two
      // people racing for one name cannot both get it; links an admin adds are not limited.
      `CREATE TABLE external_identities (
        protocol TEXT NOT NULL,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        linked_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (protocol, issuer, subject)
      )`,
      'CREATE INDEX external_identities_by_principal ON external_identities (principal_id)',
      "CREATE UNIQUE INDEX external_identities_one_sign_in ON external_identities (principal_id) WHERE linked_by = 'sign-in'",
      // A hash per ID token a sign-in used, kept until the token would be refused anyway.
      `CREATE TABLE used_id_tokens (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      'CREATE INDEX used_id_tokens_by_expiry ON used_id_tokens (expires_at)',
    ],
  },
  {
    version: 11,
    name: "service accounts: the owner's principal id",
    statements: [
      // Offboarding matches an owner by id, not by a name typed at creation. Accounts made before
      // this keep a null owner_id and are matched by their owner text, in any case, as before.
      'ALTER TABLE service_accounts ADD COLUMN owner_id TEXT',
      'CREATE INDEX service_accounts_by_owner ON service_accounts (owner_id)',
    ],
  },
  {
    version: 12,
    name: 'just-in-time access: time-boxed grants issued by approved access requests',
    statements: [
      // One grant per approved access request: the id is derived from the approval's, so settling
      // the same approval twice (two replicas, a retry) inserts nothing the second time. Ending a
      // grant is a conditional update (WHERE status = 'active'), so it is revoked or expired once.
      `CREATE TABLE access_grants (
        id TEXT PRIMARY KEY,
        approval_id TEXT NOT NULL UNIQUE,
        principal_id TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        connection TEXT NOT NULL,
        reason TEXT NOT NULL,
        approved_by_json TEXT NOT NULL,
        granted_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        ended_at BIGINT,
        ended_by TEXT,
        end_reason TEXT
      )`,
      'CREATE INDEX access_grants_live ON access_grants (principal_id, connection, status, expires_at)',
      'CREATE INDEX access_grants_by_status ON access_grants (status, expires_at)',
    ],
  },
  {
    version: 13,
    name: 'approvals: one pending approval per request of a principal',
    statements: [
      // Two identical requests held at once (on one replica or two) must wait on one approval, not
      // ask approvers twice: the store, not a find-then-insert, decides which insert holds the place.
      // Duplicates an earlier release left pending are withdrawn first, keeping the oldest, so the
      // index can be built; a client still waiting on one asks again.
      `UPDATE approvals SET status = 'withdrawn', decided_at = created_at
        WHERE status = 'pending' AND EXISTS (
          SELECT 1 FROM approvals older
          WHERE older.principal_id = approvals.principal_id AND older.fingerprint = approvals.fingerprint AND older.status = 'pending'
            AND (older.created_at < approvals.created_at OR (older.created_at = approvals.created_at AND older.id < approvals.id)))`,
      "CREATE UNIQUE INDEX approvals_one_pending ON approvals (principal_id, fingerprint) WHERE status = 'pending'",
    ],
  },
  {
    version: 14,
    name: 'MCP tool pins: the approved definition of each tool of an MCP connection',
    statements: [
      // hash is SHA-256 over the tool's canonical JSON (adapters/mcp/pin-hash.ts); definition_json
      // is that canonical JSON, kept so an approver of a change reads what it changes from.
      `CREATE TABLE mcp_tool_pins (
        connection TEXT NOT NULL,
        tool TEXT NOT NULL,
        hash TEXT NOT NULL,
        definition_json TEXT NOT NULL,
        pinned_at BIGINT NOT NULL,
        approval_id TEXT,
        PRIMARY KEY (connection, tool)
      )`,
    ],
  },
  {
    version: 15,
    name: 'audit ledger: one hash chain per writer over every audit event, and signed checkpoints',
    statements: [
      // One row per audit event (a session's start or end, a completed interaction, an audit_events
      // row as written and as completed), chained per writer: a replica appends only its own chain,
      // so replicas never race for a sequence number. event_hash is the event's canonical form.
      `CREATE TABLE audit_ledger (
        writer TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        event_hash TEXT NOT NULL,
        prev_hash TEXT,
        hash TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (writer, seq)
      )`,
      // A writer's head, signed with an Ed25519 key (key_id names which, so keys can rotate).
      `CREATE TABLE audit_checkpoints (
        writer TEXT NOT NULL,
        seq BIGINT NOT NULL,
        head_hash TEXT NOT NULL,
        at BIGINT NOT NULL,
        prev_checkpoint_hash TEXT,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (writer, seq)
      )`,
    ],
  },
  {
    version: 16,
    name: 'PostgreSQL logins: startup parameters on the session; SCRAM-SHA-256 verifiers of tokens',
    statements: [
      // The startup parameters a PostgreSQL client sent (JSON, values that look like secrets replaced).
      'ALTER TABLE sessions ADD COLUMN startup_json TEXT',
      // SCRAM's first server message carries the salt before any proof, so a login names the
      // principal and every live token of it shares that principal's salt.
      `CREATE TABLE scram_salts (
        principal_id TEXT PRIMARY KEY,
        salt TEXT NOT NULL,
        iterations INTEGER NOT NULL
      )`,
      // StoredKey and ServerKey only (RFC 5802): neither lets anyone recover the token.
      `CREATE TABLE scram_verifiers (
        token_id TEXT PRIMARY KEY,
        principal_id TEXT NOT NULL,
        salt TEXT NOT NULL,
        iterations INTEGER NOT NULL,
        stored_key TEXT NOT NULL,
        server_key TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      'CREATE INDEX scram_verifiers_principal ON scram_verifiers (principal_id, created_at)',
    ],
  },
  {
    version: 17,
    name: 'audit export: a delivery cursor per sink over the ledger, and which replica delivers each sink',
    statements: [
      // The outbox is the ledger itself: a sink has delivered a writer's entries up to seq.
      `CREATE TABLE sink_cursors (
        sink TEXT NOT NULL,
        writer TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (sink, writer)
      )`,
      // One replica delivers a sink at a time: it holds the lease until expires_at and renews it.
      `CREATE TABLE sink_leases (
        sink TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 21,
    name: 'audit search and session replay: indexes for the filters',
    statements: [
      // Searches by time use interactions_by_started_at (migration 18, retention's).
      // A session list counts denials per session and keeps sessions with a given decision.
      'CREATE INDEX interactions_by_session_decision ON interactions (session_id, decision)',
      'CREATE INDEX sessions_by_principal ON sessions (principal_name, started_at)',
      'CREATE INDEX sessions_by_connection ON sessions (connection, started_at)',
      'CREATE INDEX sessions_by_token ON sessions (token_id)',
      // A replay reads each approval's trail by its id.
      'CREATE INDEX audit_events_by_target ON audit_events (target, id)',
    ],
  },
  {
    version: 22,
    name: 'MCP tool pins: who pinned a list directly (gatehouse mcp pin), trust on first use by an admin',
    statements: ['ALTER TABLE mcp_tool_pins ADD COLUMN pinned_by TEXT'],
  },
  {
    version: 20,
    name: 'object storage: which request wrote which object',
    statements: [
      `CREATE TABLE s3_object_writes (
        interaction_id TEXT PRIMARY KEY,
        connection TEXT NOT NULL,
        bucket TEXT NOT NULL,
        object_key TEXT NOT NULL,
        etag TEXT,
        version_id TEXT,
        written_at BIGINT NOT NULL
      )`,
      'CREATE INDEX s3_object_writes_by_key ON s3_object_writes (bucket, object_key, written_at)',
    ],
  },
  {
    version: 18,
    name: 'audit retention: body digests on interactions, cross-linked checkpoints, ledger writer leases',
    statements: [
      // What an interaction's seal covers of each body (its digest, and a truncation marker), so
      // retention can drop the bodies and the row still verifies; when they were dropped.
      'ALTER TABLE interactions ADD COLUMN body_digests_json TEXT',
      'ALTER TABLE interactions ADD COLUMN bodies_purged_at BIGINT',
      // The other writers' heads a checkpoint signed beside its own.
      'ALTER TABLE audit_checkpoints ADD COLUMN peers_json TEXT',
      // A purge keeps an event while any ledger entry naming it is younger than its cutoff.
      'CREATE INDEX audit_ledger_by_ref ON audit_ledger (ref_id, at)',
      'CREATE INDEX audit_ledger_by_time ON audit_ledger (writer, at)',
      'CREATE INDEX interactions_by_started_at ON interactions (started_at)',
      'CREATE INDEX audit_events_by_time ON audit_events (at)',
      // Which process appends to which writer's chain: a restarted replica carries on a chain
      // whose holder let go (or went silent) instead of starting one more.
      `CREATE TABLE audit_writers (
        writer TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        held_until BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 19,
    name: 'agent inventory: agents with owners, credentials and sessions linked to them, indexes for usage',
    statements: [
      // owner_key makes a name unique per owner: the owning principal's id, or "group:<name>" for a team.
      `CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        owner_id TEXT,
        owner_key TEXT NOT NULL,
        purpose TEXT,
        labels_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT,
        revoked_at BIGINT,
        revoked_by TEXT,
        UNIQUE (owner_key, name)
      )`,
      'ALTER TABLE tokens ADD COLUMN agent_id TEXT',
      'ALTER TABLE service_accounts ADD COLUMN agent_id TEXT',
      'ALTER TABLE sessions ADD COLUMN agent_id TEXT',
      // Backfilled here rather than on first use: the credentials nobody uses any more are exactly
      // the ones the inventory must show, and they would never reach a first use.
      `INSERT INTO agents (id, name, owner, owner_id, owner_key, purpose, labels_json, created_at, created_by, revoked_at, revoked_by)
        SELECT 'agt_' || sa.id, sa.name, sa.owner, sa.owner_id, 'sa:' || sa.id, NULL, '{}', sa.created_at, 'migration 19', NULL, NULL
        FROM service_accounts sa`,
      "UPDATE service_accounts SET agent_id = 'agt_' || id",
      'UPDATE tokens SET agent_id = (SELECT sa.agent_id FROM service_accounts sa WHERE sa.id = tokens.principal_id) WHERE agent_id IS NULL',
      `INSERT INTO agents (id, name, owner, owner_id, owner_key, purpose, labels_json, created_at, created_by, revoked_at, revoked_by)
        SELECT 'agt_' || MIN(t.id), t.name, COALESCE(p.name, t.principal_id), t.principal_id, t.principal_id, NULL, '{}', MIN(t.created_at), 'migration 19', NULL, NULL
        FROM tokens t LEFT JOIN principals p ON p.id = t.principal_id
        WHERE t.kind = 'agent' AND t.agent_id IS NULL
        GROUP BY t.principal_id, t.name, p.name`,
      `UPDATE tokens SET agent_id = (SELECT a.id FROM agents a WHERE a.owner_key = tokens.principal_id AND a.name = tokens.name)
        WHERE kind = 'agent' AND agent_id IS NULL`,
      'UPDATE sessions SET agent_id = (SELECT t.agent_id FROM tokens t WHERE t.id = sessions.token_id) WHERE token_id IS NOT NULL',
      'CREATE INDEX tokens_by_agent ON tokens (agent_id)',
      'CREATE INDEX service_accounts_by_agent ON service_accounts (agent_id)',
      // Usage is read from what the recorder writes anyway (no counter updated per request).
      'CREATE INDEX sessions_by_agent ON sessions (agent_id, started_at)',
      'CREATE INDEX sessions_live_by_agent ON sessions (agent_id) WHERE ended_at IS NULL',
      'CREATE INDEX sessions_live_by_principal ON sessions (principal_id) WHERE ended_at IS NULL',
      'CREATE INDEX interactions_by_session_start ON interactions (session_id, started_at)',
    ],
  },
] satisfies Migration[]).sort((a, b) => a.version - b.version);

export function pendingMigrations(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  return MIGRATIONS.filter((m) => !done.has(m.version));
}
