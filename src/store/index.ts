/**
 * Opening the store: PostgreSQL when a database URL is configured (several replicas share
 * it), else an SQLite file under ./data. Migrations run before the store is handed out.
 */
import type { Logger } from 'pino';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';
import { MemoryCoordination, type Coordination } from './coordination.ts';
import { PostgresCoordination, type ReplicaTimings } from './coordination-postgres.ts';
import { newId } from '../util/ids.ts';

export type * from './types.ts';
export { createSecretBox, hashToken, parseMasterKey, type SecretBox } from './secret-box.ts';

export const DEFAULT_SQLITE_PATH = './data/gatehouse.db';

export interface OpenStoreOptions {
  /** postgres://… (GATEHOUSE_DATABASE_URL); selects PostgreSQL. */
  databaseUrl?: string;
  /** SQLite file, default ./data/gatehouse.db; its folder is created 0700, the file 0600. */
  sqlitePath?: string;
  logger?: Logger;
}

/** Throws StoreError (`store_unavailable`) when storage cannot be reached or migrated. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const store = options.databaseUrl
    ? openPostgresStore(options.databaseUrl, options.logger)
    : openSqliteStore(options.sqlitePath ?? DEFAULT_SQLITE_PATH, options.logger);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/**
 * This replica's coordination. On PostgreSQL it registers the replica and closes the open work of
 * replicas that are gone, and only theirs: a replica that is still running keeps its sessions. One
 * SQLite node is the only replica there can be, so everything a previous run left open is closed.
 * Either way what is closed ends with `leftOpenReason`, a marker rather than a real end.
 */
export async function openCoordination(store: Store, timings: ReplicaTimings, logger: Logger, leftOpenReason: string): Promise<Coordination> {
  if (store.postgres) return PostgresCoordination.start(store, timings, logger, leftOpenReason);
  const closed = await store.closeWorkOf('all', Date.now(), leftOpenReason);
  if (closed.interactions + closed.sessions > 0) logger.warn(closed, 'closed the sessions and interactions a previous run left open');
  return new MemoryCoordination(newId('rep'), store);
}
