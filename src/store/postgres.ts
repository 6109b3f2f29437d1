/**
 * The scale-out engine: a pg.Pool shared by all callers of one replica. The recording writes
 * are group-committed (postgres-group-commit.ts); every other write is one statement, and only
 * migrations and token revocation need a transaction.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { StoreError } from '../errors.ts';
import {
  CREATE_MIGRATIONS_TABLE,
  INSERT_APPLIED_VERSION,
  SELECT_APPLIED_VERSIONS,
  pendingMigrations,
} from './migrations.ts';
import type { GroupedWrite } from './grouped-write.ts';
import { numberPlaceholders } from './placeholders.ts';
import { PostgresGroupCommit } from './postgres-group-commit.ts';
import type { SqlValue } from './rows.ts';
import type { PostgresAccess } from './types.ts';
import { SqlStore, type SqlEngine } from './sql-store.ts';
import { redact, storeFailure, type Violation } from '../util/store-failure.ts';

type DbRecord = Record<string, unknown>;

const INT8_OID = 20;
// Any fixed number: every replica takes this lock before migrating, so they migrate in turn.
const MIGRATION_LOCK_SQL = 'SELECT pg_advisory_xact_lock(7150101021150)';
const DEADLOCK = '40P01';
const REVOKE_ATTEMPTS = 3;

// Epoch-ms times and counts fit a double exactly; strings would leak into every caller.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function openPostgresStore(url: string, logger?: Logger): SqlStore {
  const target = describeUrl(url);
  const clientConfig: pg.ClientConfig = {
    connectionString: url,
    application_name: 'gatehouse',
    statement_timeout: 15_000,
    query_timeout: 20_000,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    types,
  };
  // The store's writes and the limit counters share this one pool; the coordination holds one
  // connection of its own beside it (LISTEN and the heartbeat).
  const pool = new pg.Pool({ ...clientConfig, max: 16, idleTimeoutMillis: 30_000 });
  // An idle client losing its server emits here; without a listener the process would exit.
  pool.on('error', (err) => {
    logger?.warn({ target: target.where, error: redact(err.message, target.secrets) }, 'postgres store connection lost');
  });
  return new SqlStore(new PostgresEngine(pool, clientConfig, target, logger));
}

interface Target {
  /** The URL without password or query, safe to show. */
  where: string;
  secrets: string[];
}

function describeUrl(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: URL errors carry the input, password included.
    throw new StoreError('postgres store unavailable: the database URL is not a valid URL');
  }
  const secrets = [parsed.password, parsed.searchParams.get('password') ?? ''].filter(Boolean);
  for (const secret of [...secrets]) secrets.push(safeDecode(secret));
  const user = parsed.username ? `${parsed.username}@` : '';
  return { where: `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`, secrets };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

class PostgresEngine implements SqlEngine {
  readonly engine = 'postgres';
  readonly lockShared = ' FOR SHARE';
  readonly postgres: PostgresAccess;
  /** Named statements: pg prepares each once per pooled connection and reuses it. */
  private readonly statements = new Map<string, { name: string; text: string }>();
  private ended = false;
  private readonly group: PostgresGroupCommit;

  constructor(
    private readonly pool: pg.Pool,
    clientConfig: pg.ClientConfig,
    private readonly target: Target,
    private readonly logger: Logger | undefined,
  ) {
    this.postgres = { pool, secrets: target.secrets, clientConfig };
    this.group = new PostgresGroupCommit({
      query: (config) => this.pool.query(config),
      runOne: async (write, params) => (await this.pool.query(this.query(write.sql, params))).rowCount ?? 0,
      fail: (err) => this.fail(err),
    });
  }

  async all(sql: string, params: readonly SqlValue[]): Promise<DbRecord[]> {
    try {
      return (await this.pool.query<DbRecord>(this.query(sql, params))).rows;
    } catch (err) {
      throw this.fail(err);
    }
  }

  async run(sql: string, params: readonly SqlValue[]): Promise<number> {
    try {
      return (await this.pool.query(this.query(sql, params))).rowCount ?? 0;
    } catch (err) {
      throw this.fail(err);
    }
  }

  runGrouped(write: GroupedWrite, params: readonly SqlValue[]): Promise<number> {
    return this.group.push(write, params);
  }

  async migrate(): Promise<void> {
    try {
      const applied = await this.transaction(async (client) => {
        await client.query(MIGRATION_LOCK_SQL);
        await client.query(CREATE_MIGRATIONS_TABLE);
        const versions = (await client.query<{ version: number }>(SELECT_APPLIED_VERSIONS)).rows.map((r) => r.version);
        const pending = pendingMigrations(versions);
        for (const m of pending) {
          for (const statement of m.statements) await client.query(statement);
          await client.query(this.query(INSERT_APPLIED_VERSION, [m.version, m.name, Date.now()]));
        }
        return pending.map((m) => m.version);
      });
      if (applied.length > 0) this.logger?.info({ versions: applied }, 'postgres store migrated');
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Repeats the revoking statement in one transaction until it revokes nothing more. Each
   * statement sees children committed before it started and keeps the rows it revoked locked;
   * insertToken holds FOR SHARE on the parent, so a child either committed before (found by
   * the next round) or waits for this commit and then inherits the parent's revocation.
   */
  async revokeTree(sql: string, params: readonly SqlValue[]): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transaction(async (client) => {
          const revoked: string[] = [];
          for (;;) {
            const { rows } = await client.query<{ id: string }>(this.query(sql, params));
            if (rows.length === 0) return revoked;
            for (const row of rows) revoked.push(row.id);
          }
        });
      } catch (err) {
        // Two revocations of overlapping trees can lock rows in opposite order; one is retried.
        if (attempt < REVOKE_ATTEMPTS && (err as { code?: unknown }).code === DEADLOCK) continue;
        throw this.fail(err);
      }
    }
  }

  async ping(): Promise<void> {
    await this.all('SELECT 1', []);
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.group.drain();
    await this.pool.end();
  }

  private query(sql: string, values: readonly SqlValue[]): pg.QueryConfig<SqlValue[]> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = { name: `gatehouse_${this.statements.size}`, text: numberPlaceholders(sql) };
      this.statements.set(sql, statement);
    }
    return { ...statement, values: values as SqlValue[] };
  }

  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that cannot even roll back is dropped from the pool, not reused.
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private fail(err: unknown) {
    return storeFailure('postgres', err, {
      violation: violation(err),
      secrets: this.target.secrets,
      where: this.target.where,
    });
  }
}

function violation(err: unknown): Violation {
  const code = (err as { code?: unknown }).code;
  if (code === '23505') return 'unique';
  if (code === '23503') return 'foreign_key';
  return null;
}
