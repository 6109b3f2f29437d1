/**
 * A fresh, empty database per test on one engine (a new SQLite file, or a new database on one
 * real PostgreSQL server): a purge acts on the whole store, so tests must not share one.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../../src/store/index.ts';
import { numberPlaceholders } from '../../src/store/placeholders.ts';
import type { SqlValue } from '../../src/store/rows.ts';
import type { Store } from '../../src/store/types.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';

export interface FreshDb {
  readonly store: Store;
  /** Another store on the same database: a second replica, or a restarted process. */
  open(): Promise<Store>;
  /** Writes behind the store's back (`?` placeholders). */
  exec(sql: string, params?: readonly SqlValue[]): Promise<void>;
  query(sql: string, params?: readonly SqlValue[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface Engine {
  fresh(): Promise<FreshDb>;
  stop(): Promise<void>;
}

export async function engine(kind: 'sqlite' | 'postgres'): Promise<Engine> {
  if (kind === 'sqlite') {
    const dirs: string[] = [];
    return {
      async fresh() {
        const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-retention-'));
        dirs.push(dir);
        const sqlitePath = path.join(dir, 'gatehouse.db');
        const opened: Store[] = [];
        const open = async () => {
          const s = await openStore({ sqlitePath });
          opened.push(s);
          return s;
        };
        const store = await open();
        const withDb = <T>(fn: (db: Database.Database) => T): T => {
          const db = new Database(sqlitePath);
          try {
            return fn(db);
          } finally {
            db.close();
          }
        };
        return {
          store, open,
          exec: async (sql, params = []) => void withDb((db) => db.prepare(sql).run(...params)),
          query: async (sql, params = []) => withDb((db) => db.prepare(sql).all(...params) as Record<string, unknown>[]),
          close: async () => void (await Promise.all(opened.map((s) => s.close()))),
        };
      },
      stop: async () => void (await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))),
    };
  }
  const server: PostgresServer = await startPostgres();
  return {
    async fresh() {
      const name = `r_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      const databaseUrl = url.toString();
      const opened: Store[] = [];
      const open = async () => {
        const s = await openStore({ databaseUrl });
        opened.push(s);
        return s;
      };
      const store = await open();
      const run = async (sql: string, params: readonly SqlValue[]) => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        try {
          return (await client.query(numberPlaceholders(sql), [...params])).rows as Record<string, unknown>[];
        } finally {
          await client.end();
        }
      };
      return {
        store, open,
        exec: async (sql, params = []) => void (await run(sql, params)),
        query: (sql, params = []) => run(sql, params),
        close: async () => void (await Promise.all(opened.map((s) => s.close()))),
      };
    },
    stop: () => server.stop(),
  };
}
