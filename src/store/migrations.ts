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

export const MIGRATIONS: readonly Migration[] = [
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
];

export function pendingMigrations(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  return MIGRATIONS.filter((m) => !done.has(m.version));
}
