/**
 * Opening the store: PostgreSQL when a database URL is configured (several replicas share
 * it), else an SQLite file under ./data. Migrations run before the store is handed out.
 */
import type { Logger } from 'pino';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

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
