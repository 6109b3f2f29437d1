/**
 * A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster
 * in a temporary folder, TCP on 127.0.0.1 only with scram-sha-256 and a generated password.
 * Each call gets its own folder and port, so test files can run servers side by side.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/database */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Folder holding initdb, pg_ctl, postgres, psql, pgbench … */
  readonly binDir: string;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Database created for the caller (default `gatehouse`; `postgres` creates nothing). */
  database?: string;
  /** Extra postgresql.conf settings, e.g. `{ log_statement: 'all' }`. */
  settings?: Record<string, string | number>;
  /** Limit for each of initdb, start and stop (default 30 s). */
  timeoutMs?: number;
}

const USER = 'gatehouse';
const BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;
const PORT_ATTEMPTS = 5;

/** Servers not yet stopped, so that an aborted test run still leaves no server behind. */
const running = new Map<string, { pgCtl: string; dataDir: string; root: string; asUser: string[] }>();
let exitHookInstalled = false;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findBinDir();
  const timeout = options.timeoutMs ?? 30_000;
  const database = options.database ?? 'gatehouse';
  // initdb and postgres refuse to run as root; Debian's package creates the `postgres` user for this.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const root = await mkdtemp(path.join(tmpdir(), 'gatehouse-pg-'));
  const dataDir = path.join(root, 'data');
  const password = randomBytes(18).toString('base64url');
  const run = (bin: string, args: string[]) => runCommand(asUser, path.join(binDir, bin), args, root, timeout);
  let started = false;
  try {
    if (asUser.length > 0) await chownToPostgres(root);
    const pwFile = path.join(root, 'pwfile');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (asUser.length > 0) await chownToPostgres(pwFile);
    await run('initdb', [
      '-D', dataDir, '-U', USER, `--pwfile=${pwFile}`,
      '--auth-host=scram-sha-256', '--auth-local=scram-sha-256',
      '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions',
    ]);
    await rm(pwFile);
    await appendFile(path.join(dataDir, 'postgresql.conf'), renderSettings(root, options.settings));
    installExitHook();
    running.set(root, { pgCtl: path.join(binDir, 'pg_ctl'), dataDir, root, asUser });
    started = true;
    const port = await startOnFreePort(run, dataDir, root);
    await createDatabase(port, password, database);
    const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    let stopping: Promise<void> | undefined;
    return {
      url, host: '127.0.0.1', port, user: USER, password, database, binDir,
      stop: () => (stopping ??= stopServer(run, dataDir, root)),
    };
  } catch (err) {
    if (started) await stopServer(run, dataDir, root).catch(() => undefined);
    else await rm(root, { recursive: true, force: true });
    throw err;
  }
}

function findBinDir(): string {
  const candidates: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const initdb = path.join(dir, 'initdb');
    if (dir && existsSync(initdb)) candidates.push(path.dirname(realpathSync(initdb)));
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debianRoot, v, 'bin')));
  }
  const found = candidates.find((dir) => BINARIES.every((bin) => existsSync(path.join(dir, bin))));
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (${BINARIES.join(', ')}) not found on PATH or under /usr/lib/postgresql/*/bin; ` +
        "install Debian's postgresql package or run .ci/install-postgres.sh",
    );
  }
  return found;
}

async function chownToPostgres(target: string): Promise<void> {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  let uid: number;
  let gid: number;
  try {
    uid = id('-u');
    gid = id('-g');
  } catch {
    throw new Error(
      "running as root needs the 'postgres' system user to run initdb and postgres; " +
        "install Debian's postgresql package or run .ci/install-postgres.sh",
    );
  }
  await chown(target, uid, gid);
}

function renderSettings(root: string, extra: Record<string, string | number> = {}): string {
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: root,
    // Durability is pointless for a throwaway cluster; these make start-up and writes fast.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: '16MB',
    max_connections: 50,
    ...extra,
  };
  const quote = (value: string | number) =>
    typeof value === 'number' ? String(value) : `'${value.replace(/'/g, "''")}'`;
  return `\n# gatehouse test settings\n${Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`).join('\n')}\n`;
}

type Run = (bin: string, args: string[]) => Promise<string>;

async function startOnFreePort(run: Run, dataDir: string, root: string): Promise<number> {
  const logFile = path.join(root, 'server.log');
  for (let attempt = 1; ; attempt++) {
    // Another process may take the port between our probe and the server's bind; retry then.
    const port = await freePort();
    try {
      await run('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '30', '-o', `-p ${port}`]);
      return port;
    } catch (err) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (attempt < PORT_ATTEMPTS && /could not (bind|create any TCP\/IP sockets)|address already in use/i.test(log)) {
        await writeFile(logFile, '');
        continue;
      }
      throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n--- server log ---\n${tail(log)}`, { cause: err });
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function createDatabase(port: number, password: string, database: string): Promise<void> {
  if (database === 'postgres') return;
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

async function stopServer(run: Run, dataDir: string, root: string): Promise<void> {
  try {
    await run('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30']);
  } catch (err) {
    // A server that already died needs nothing; one pg_ctl could not stop is killed and reported.
    if (killPostmaster(dataDir)) throw err;
  } finally {
    running.delete(root);
    await rm(root, { recursive: true, force: true });
  }
}

/** Kills the postmaster of this data folder (and only it); returns whether one was running. */
function killPostmaster(dataDir: string): boolean {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // A stale pid file may name a reused pid: only kill a process serving this data folder.
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) return false;
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const { pgCtl, dataDir, root, asUser } of running.values()) {
      try {
        const [cmd, ...prefix] = [...asUser, pgCtl];
        execFileSync(cmd!, [...prefix, 'stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10'], {
          cwd: root, stdio: 'ignore', timeout: 15_000,
        });
      } catch {
        killPostmaster(dataDir);
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
}

function runCommand(asUser: string[], bin: string, args: string[], cwd: string, timeout: number): Promise<string> {
  const [cmd, ...prefix] = [...asUser, bin];
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  // Ambient libpq settings (PGDATA, PGPORT, …) must not steer a throwaway cluster.
  for (const key of Object.keys(env)) if (key.startsWith('PG')) delete env[key];
  return new Promise((resolve, reject) => {
    execFile(cmd!, [...prefix, ...args], { cwd, env, timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = err.killed ? `timed out after ${timeout} ms` : `exit code ${String(err.code)}`;
      reject(new Error(`${path.basename(bin)} ${args[0] ?? ''} failed (${why}): ${tail(`${stderr}${stdout}`)}`, { cause: err }));
    });
  });
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}
