/**
 * The embedded engine: one better-sqlite3 connection. better-sqlite3 is synchronous, so every
 * statement runs to completion before another starts; the promises only match the interface.
 */
import { mkdirSync, openSync, closeSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import {
  CREATE_MIGRATIONS_TABLE,
  INSERT_APPLIED_VERSION,
  SELECT_APPLIED_VERSIONS,
  pendingMigrations,
} from './migrations.ts';
import type { SqlValue } from './rows.ts';
import { SqlStore, type SqlEngine } from './sql-store.ts';
import { storeFailure, type Violation } from '../util/store-failure.ts';

type DbRecord = Record<string, unknown>;

interface PendingWrite {
  readonly statement: Database.Statement;
  readonly params: readonly SqlValue[];
  resolve(changes: number): void;
  reject(error: Error): void;
}

export function openSqliteStore(file: string, logger?: Logger): SqlStore {
  let db: Database.Database;
  try {
    createPrivately(file);
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL loses at most the last commits on power loss, never integrity.
    db.pragma('synchronous = NORMAL');
    // SQLite's own default page cache (2 MB); better-sqlite3 builds with 16 MB, which only holds RSS: the recorder appends and revisits recent rows.
    db.pragma('cache_size = -2000');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
  } catch (err) {
    throw storeFailure('sqlite', err, { where: file });
  }
  logger?.debug({ file }, 'sqlite store opened');
  return new SqlStore(new SqliteEngine(db, logger));
}

/** The folder is created 0700 and the file 0600; SQLite gives its -wal and -shm files the file's mode. */
function createPrivately(file: string): void {
  if (file === ':memory:' || existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
}

class SqliteEngine implements SqlEngine {
  readonly engine = 'sqlite';
  // One connection and one writer at a time: there is nothing to lock against.
  readonly lockShared = '';
  private readonly statements = new Map<string, Database.Statement>();
  private pending: PendingWrite[] = [];

  constructor(
    private readonly db: Database.Database,
    private readonly logger: Logger | undefined,
  ) {}

  async all(sql: string, params: readonly SqlValue[]): Promise<DbRecord[]> {
    try {
      return this.prepare(sql).all(...params) as DbRecord[];
    } catch (err) {
      throw fail(err);
    }
  }

  /**
   * Group commit: every write issued in one event-loop turn runs in one transaction, and each
   * caller's promise settles once that transaction is durable. Two auto-commit writes per proxied
   * request otherwise spend most of their time committing. A failing statement rejects only its
   * own caller; SQLite undoes just that statement.
   */
  run(sql: string, params: readonly SqlValue[]): Promise<number> {
    return new Promise((resolve, reject) => {
      try {
        this.pending.push({ statement: this.prepare(sql), params, resolve, reject });
      } catch (err) {
        reject(fail(err));
        return;
      }
      if (this.pending.length === 1) setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    const results: (number | Error)[] = [];
    try {
      this.db.transaction(() => {
        for (const write of batch) {
          try {
            results.push(write.statement.run(...write.params).changes);
          } catch (err) {
            results.push(fail(err));
          }
        }
      })();
    } catch (err) {
      const error = fail(err);
      for (const write of batch) write.reject(error);
      return;
    }
    batch.forEach((write, i) => {
      const result = results[i]!;
      if (typeof result === 'number') write.resolve(result);
      else write.reject(result);
    });
  };

  async migrate(): Promise<void> {
    try {
      // IMMEDIATE takes the write lock first, so two processes opening one file migrate in turn.
      const applied = this.db
        .transaction(() => {
          this.db.exec(CREATE_MIGRATIONS_TABLE);
          const versions = (this.db.prepare(SELECT_APPLIED_VERSIONS).all() as { version: number }[]).map((r) => r.version);
          const pending = pendingMigrations(versions);
          for (const m of pending) {
            for (const statement of m.statements) this.db.exec(statement);
            this.db.prepare(INSERT_APPLIED_VERSION).run(m.version, m.name, Date.now());
          }
          return pending.map((m) => m.version);
        })
        .immediate();
      if (applied.length > 0) this.logger?.info({ versions: applied }, 'sqlite store migrated');
    } catch (err) {
      throw fail(err);
    }
  }

  async revokeTree(sql: string, params: readonly SqlValue[]): Promise<string[]> {
    // Writers are serialised, so one statement already sees every child there is.
    return (await this.all(sql, params)).map((r) => r.id as string);
  }

  async ping(): Promise<void> {
    await this.all('SELECT 1', []);
  }

  async close(): Promise<void> {
    if (this.pending.length > 0 && this.db.open) this.flush();
    if (this.db.open) this.db.close();
    this.statements.clear();
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function fail(err: unknown) {
  return storeFailure('sqlite', err, { violation: violation(err) });
}

function violation(err: unknown): Violation {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign_key';
  return null;
}
