/**
 * A real PostgreSQL behind a test gateway, with the helpers the Postgres e2e tests share:
 * connected `pg` clients, `psql` runs, and the recorded sessions.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../support/postgres-server.ts';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../../support/gateway.ts';

export interface PgGateway {
  readonly db: PostgresServer;
  readonly t: TestGateway;
  readonly port: number;
  /** A token scoped to prod-db (or the given connections). */
  token(connections?: string[], ttl?: string): Promise<string>;
  /** A connected pg.Client through the gateway. */
  client(token: string, options?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  /** A pg.Client straight to the database (for checking what really happened). */
  direct(): Promise<pg.Client>;
  /** Runs psql through the gateway; resolves with its output and exit code. */
  psql(token: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts psql without waiting (for signals). */
  spawnPsql(token: string, args: string[]): ChildProcess;
  /** The bin folder of the PostgreSQL install (psql, pgbench …). */
  readonly binDir: string;
  close(): Promise<void>;
}

export interface PgGatewayOptions extends TestGatewayOptions {
  /** Extra postgresql.conf settings for the database. */
  readonly dbSettings?: Record<string, string | number>;
  /** Query string for the upstream URL (default sslmode=disable). */
  readonly upstreamQuery?: string;
}

export const CONNECTION = 'prod-db';

export async function startPgGateway(options: PgGatewayOptions = {}): Promise<PgGateway> {
  const db = await startPostgres({ settings: options.dbSettings });
  let t: TestGateway;
  try {
    t = await startTestGateway({
      ...options,
      postgres: options.postgres ?? {},
      extraConnections: `  - name: ${CONNECTION}
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?${options.upstreamQuery ?? 'sslmode=disable'}
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
    tags: [prod]
${options.extraConnections ?? ''}`,
    });
  } catch (err) {
    await db.stop();
    throw err;
  }
  const port = t.pgPort;
  const clients: pg.Client[] = [];
  const psqlBin = join(db.binDir, 'psql');
  const psqlEnv = (token: string, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) base[k] = v;
    return { ...base, PGPASSWORD: token, PGCLIENTENCODING: 'UTF8', PGCONNECT_TIMEOUT: '10', ...env };
  };
  const psqlArgs = (args: string[]) => ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'agent', '-d', CONNECTION, ...args];
  return {
    db,
    t,
    port,
    binDir: db.binDir,
    token: (connections = [CONNECTION], ttl) => t.token({ connections, ...(ttl ? { ttl } : {}) }),
    client: async (token, extra = {}) => {
      const c = new pg.Client({ host: '127.0.0.1', port, database: CONNECTION, user: 'agent', password: token, ...extra });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    },
    direct: async () => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      clients.push(c);
      return c;
    },
    psql: (token, args, input, env) =>
      new Promise((resolve) => {
        const child = execFile(psqlBin, psqlArgs(args), { env: psqlEnv(token, env), timeout: 30_000 }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
          resolve({ code, stdout, stderr });
        });
        if (input !== undefined) child.stdin!.end(input);
        else child.stdin!.end();
      }),
    spawnPsql: (token, args) => spawn(psqlBin, psqlArgs(args), { env: psqlEnv(token), stdio: ['ignore', 'pipe', 'pipe'] }),
    close: async () => {
      await Promise.allSettled(clients.map((c) => c.end()));
      await t.close();
      await db.stop();
    },
  };
}

/** The recorded sessions on prod-db through the admin API, newest first, with their interactions. */
export async function recordedSessions(t: TestGateway): Promise<{ session: any; interactions: any[] }[]> {
  const list = await t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
  const out = [];
  for (const s of list.json.sessions) out.push((await t.api('GET', `/sessions/${s.id}`)).json);
  return out;
}

/** Waits until `check` returns true (polling), or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
