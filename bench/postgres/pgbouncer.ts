/**
 * PgBouncer in session mode in front of the bench database, for comparison. Debian's package
 * (`apt-get install -y pgbouncer`); when it is missing the bench prints that column as skipped.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';

export const PGBOUNCER_HINT = 'apt-get install -y pgbouncer';

export function findPgbouncer(): string | null {
  for (const path of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer']) if (existsSync(path)) return path;
  return null;
}

export interface Pgbouncer {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startPgbouncer(
  binary: string,
  db: { port: number; user: string; password: string; database: string },
  port: number,
  poolSize: number,
): Promise<Pgbouncer> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-pgbouncer-'));
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  await writeFile(join(dir, 'users.txt'), `${quote(db.user)} ${quote(db.password)}\n`);
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `bench = host=127.0.0.1 port=${db.port} dbname=${db.database} user=${db.user} password=${db.password}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      `auth_file = ${join(dir, 'users.txt')}`,
      'auth_type = plain',
      'pool_mode = session',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
  );
  // pgbouncer refuses to run as root; Debian's postgresql package provides the postgres user
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const f of ['', 'users.txt', 'pgbouncer.ini']) await chown(join(dir, f), uid, gid);
  }
  const [cmd, ...args] = asRoot ? ['runuser', '-u', 'postgres', '--', binary, join(dir, 'pgbouncer.ini')] : [binary, join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = spawn(cmd!, args, { stdio: 'ignore' });
  await waitForPort(port, 10_000);
  return {
    port,
    stop: async () => {
      // runuser does not pass signals on: stop pgbouncer itself by its pid file
      const pid = Number(await readFile(join(dir, 'pgbouncer.pid'), 'utf8').catch(() => ''));
      if (pid > 0) process.kill(pid, 'SIGINT');
      else child.kill('SIGINT');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pgbouncer did not listen on ${port} within ${ms} ms`);
}
