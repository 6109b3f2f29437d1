import { after, before } from 'node:test';
/** Engines to run the shared store behaviours against, and row factories with unique ids. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../../src/store/index.ts';
import { numberPlaceholders } from '../../src/store/placeholders.ts';
import type { SqlValue } from '../../src/store/rows.ts';
import type {
  ConnectionRow,
  InteractionCompletion,
  InteractionRow,
  PrincipalRow,
  ServiceAccountRow,
  SessionRow,
  Store,
  TokenRow,
} from '../../src/store/types.ts';
import { startPostgres } from '../support/postgres-server.ts';

export interface EngineHarness {
  /** A new Store on the same database (like a restarted process or a second replica). */
  open(): Promise<Store>;
  /** Reads the database behind the store's back. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /**
   * Writes the database behind the store's back, `?` placeholders: e.g. to build it as an older
   * release left it, before any store has opened it.
   */
  exec(sql: string, params?: readonly SqlValue[]): Promise<void>;
  stopDatabase(): Promise<void>;
  /** The database password, where there is one. */
  secret: string | null;
}

export const ENGINES: Record<'sqlite' | 'postgres', () => Promise<EngineHarness>> = {
  async sqlite() {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-store-'));
    const sqlitePath = path.join(dir, 'data', 'gatehouse.db');
    return {
      open: () => openStore({ sqlitePath }),
      async query(sql) {
        const db = new Database(sqlitePath, { readonly: true });
        try {
          return db.prepare(sql).all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      },
      async exec(sql, params = []) {
        mkdirSync(path.dirname(sqlitePath), { recursive: true });
        const db = new Database(sqlitePath);
        try {
          db.prepare(sql).run(...params);
        } finally {
          db.close();
        }
      },
      stopDatabase: () => rm(dir, { recursive: true, force: true }),
      secret: null,
    };
  },
  async postgres() {
    const server = await startPostgres();
    return {
      open: () => openStore({ databaseUrl: server.url }),
      async query(sql) {
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          return (await client.query(sql)).rows;
        } finally {
          await client.end();
        }
      },
      async exec(sql, params = []) {
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          await client.query(numberPlaceholders(sql), [...params]);
        } finally {
          await client.end();
        }
      },
      stopDatabase: () => server.stop(),
      secret: server.password,
    };
  },
};

export const id = (prefix: string) => `${prefix}_${randomUUID()}`;

export function principal(over: Partial<PrincipalRow> = {}): PrincipalRow {
  return { id: id('p'), kind: 'user', name: id('user'), groups: ['eng', 'oncall'], createdAt: 1_700_000_000_000, disabledAt: null, ...over };
}

export function token(principalId: string, over: Partial<TokenRow> = {}): TokenRow {
  return {
    id: id('t'), hash: id('hash'), kind: 'agent', principalId, name: 'ci agent', connections: ['prod-db'],
    createdAt: 1_700_000_000_000, expiresAt: null, revokedAt: null, parentId: null, ...over,
  };
}

export function serviceAccount(over: Partial<ServiceAccountRow> = {}): ServiceAccountRow {
  return {
    id: id('sa'), name: id('deployer'), owner: 'alice', connections: ['prod-db', 'openai'],
    createdAt: 1_700_000_000_000, expiresAt: 1_800_000_000_000, disabledAt: null, ...over,
  };
}

export function connection(over: Partial<ConnectionRow> = {}): ConnectionRow {
  return {
    name: id('conn'), type: 'postgres', upstream: 'postgres://db.internal:5432/app', tags: ['prod'],
    credential: 'v1:AAAA', options: { tls: { verify: true }, poolSize: 4 }, createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000, ...over,
  };
}

export function session(over: Partial<SessionRow> = {}): SessionRow {
  return {
    id: id('s'), principalId: id('p'), principalName: 'alice', tokenId: id('t'), connection: 'prod-db',
    protocol: 'postgres', clientAddr: '10.0.0.7', startedAt: 1_700_000_000_000, endedAt: null, endReason: null, replicaId: null, ...over,
  };
}

export function interaction(sessionId: string, seq: number, over: Partial<InteractionRow> = {}): InteractionRow {
  return {
    id: id('i'), sessionId, seq, kind: 'sql.query', status: 'open', decision: 'allow', rule: 'read-only',
    reason: null, method: null, target: 'SELECT * FROM users', model: null,
    summary: { sql: { kinds: ['select'], tables: ['users'] }, entities: [] }, requestBody: null,
    responseStatus: null, responseBody: null, errorCode: null, upstreamCode: null, bytesIn: 0, bytesOut: 0,
    startedAt: 1_700_000_000_000 + seq, completedAt: null, latencyMs: null, prevHash: null, hash: null, ...over,
  };
}

export function completion(over: Partial<InteractionCompletion> = {}): InteractionCompletion {
  return {
    status: 'complete', decision: 'allow', rule: 'read-only', reason: null, responseStatus: 200, responseBody: '{"ok":true}',
    errorCode: null, upstreamCode: null, bytesIn: 10, bytesOut: 20, completedAt: 1_700_000_000_900, latencyMs: 0.5, prevHash: null,
    hash: 'c'.repeat(64), requestBody: null, ...over,
  };
}

/**
 * Two stores on one database, as two replicas open it: opened before the suite's tests, closed
 * (and the database removed) after them. `onOpen` receives them once they are open.
 */
export function openTwoStores(setup: () => Promise<EngineHarness>, onOpen: (stores: { a: Store; b: Store }) => void): void {
  let harness: EngineHarness | undefined;
  let stores: { a: Store; b: Store } | undefined;
  before(async () => {
    harness = await setup();
    stores = { a: await harness.open(), b: await harness.open() };
    onOpen(stores);
  });
  after(async () => {
    await stores?.a.close();
    await stores?.b.close();
    await harness?.stopDatabase();
  });
}
