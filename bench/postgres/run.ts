/**
 * pgbench through Gatehouse (classification and recording on, policy allowing) against the
 * database directly, against PgBouncer in session mode and against a bare Node TCP pass-through
 * (the floor for any Node gateway): select-only (-S) in -M simple,
 * extended and prepared, and the default TPC-B-like mix. Targets are interleaved and repeated;
 * medians are reported. Then the gateway's RSS with 1,000 idle sessions open through it.
 *   node --import tsx bench/postgres/run.ts [--seconds 8] [--rounds 3] [--clients 8] [--idle 1000]
 * About 5 minutes with the defaults on 2 cores. BENCH_CPU_PROF=1 writes a CPU profile of the gateway.
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../test/support/postgres-server.ts';
import { numericArgs, sendSummary, table, type SummaryRow } from '../http/report.ts';
import { findPgbouncer, startPgbouncer, PGBOUNCER_HINT, type Pgbouncer } from './pgbouncer.ts';

export interface PostgresBenchOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly clients: number;
  readonly threads: number;
  readonly scale: number;
  readonly idle: number;
}

export const DEFAULTS: PostgresBenchOptions = { seconds: 8, rounds: 3, clients: 8, threads: 2, scale: 10, idle: 1000 };

export type Target = 'direct' | 'pgbouncer' | 'bare' | 'gatehouse';
const TARGETS: readonly Target[] = ['direct', 'pgbouncer', 'bare', 'gatehouse'];
export const MODES = ['select-only simple', 'select-only extended', 'select-only prepared', 'tpc-b simple'] as const;
export type Mode = (typeof MODES)[number];

export interface ModeFigures {
  readonly mode: Mode;
  /** Median TPS per target; null when the target was skipped. */
  readonly tps: Record<Target, number | null>;
  /** Median average latency in ms per target. */
  readonly latencyMs: Record<Target, number | null>;
}

export interface PostgresBenchResult {
  readonly modes: readonly ModeFigures[];
  readonly pgbouncer: 'ran' | 'missing';
  readonly idleSessions: number;
  /** Gateway RSS growth per idle session, KiB. */
  readonly kibPerIdleSession: number;
}

function pgbenchArgs(mode: Mode, o: PostgresBenchOptions): string[] {
  const [script, protocol] = mode.split(' ') as [string, string];
  return ['-n', '-c', String(o.clients), '-j', String(o.threads), '-T', String(o.seconds), '-M', protocol, ...(script === 'select-only' ? ['-S'] : [])];
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(bin, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${bin} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout + stderr),
    ),
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface GatewayChild {
  readonly child: ChildProcess;
  readonly pgPort: number;
  readonly token: string;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function startGatewayChild(db: PostgresServer, dir: string): Promise<GatewayChild> {
  const config = `
http: { listen: 127.0.0.1:0 }
store: { sqlitePath: ${join(dir, 'gatehouse.db')} }
log: { level: warn }
postgres: { listen: 127.0.0.1:0 }
connections:
  - name: bench
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
policy:
  rules:
    - name: allow-all
      action: allow
`;
  const execArgv = ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.cwd()}`] : [])];
  const child = fork(join(import.meta.dirname, 'gateway-child.ts'), [], {
    execArgv,
    env: { ...process.env, GATEHOUSE_BENCH_CONFIG: config, GATEHOUSE_DATABASE_URL: '', GATEHOUSE_ADMIN_TOKEN: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ pgPort: number; token: string }];
  return {
    child,
    pgPort: ready.pgPort,
    token: ready.token,
    rss: async () => {
      child.send({ type: 'rss' });
      const [msg] = (await once(child, 'message')) as [{ rss: number }];
      return msg.rss;
    },
    stop: async () => {
      child.send({ type: 'stop' });
      await once(child, 'exit');
    },
  };
}

/** The bare pass-through in a process of its own, like the gateway, so neither shares an event loop with the bench. */
async function startBareChild(upstreamPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bare-proxy.ts'), String(upstreamPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const port = /bare proxy listening (\d+)/.exec(out)?.[1];
    if (port) {
      return {
        port: Number(port),
        stop: async () => {
          child.kill();
          if (child.exitCode === null) await once(child, 'exit');
        },
      };
    }
  }
  throw new Error(`the bare proxy did not start: ${out}`);
}

/** Opens `count` idle sessions through the gateway and returns its RSS growth per session in KiB. */
async function idleSessionCost(gw: GatewayChild, count: number): Promise<number> {
  const clients: pg.Client[] = [];
  const open = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.pgPort, database: 'bench', user: 'agent', password: gw.token });
    c.on('error', () => undefined);
    await c.connect();
    await c.query('select 1');
    clients.push(c);
  };
  // a few sessions first, so one-time costs (code paths, buffers) are in the baseline
  for (let i = 0; i < 10; i++) await open();
  const before = await gw.rss();
  const batch = 25;
  for (let opened = 10; opened < count + 10; opened += batch) await Promise.all(Array.from({ length: Math.min(batch, count + 10 - opened) }, open));
  await new Promise((r) => setTimeout(r, 500));
  const afterOpen = await gw.rss();
  process.stderr.write(`idle: ${count} sessions open, gateway RSS ${(before / 1048576).toFixed(1)} → ${(afterOpen / 1048576).toFixed(1)} MiB\n`);
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  return (afterOpen - before) / 1024 / count;
}

export async function runPostgresBench(options: Partial<PostgresBenchOptions> = {}): Promise<PostgresBenchResult> {
  const o = { ...DEFAULTS, ...options };
  const db = await startPostgres({ settings: { max_connections: o.idle + 60, shared_buffers: '128MB' }, timeoutMs: 60_000 });
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-pg-'));
  let gw: GatewayChild | null = null;
  let bouncer: Pgbouncer | null = null;
  let bare: Awaited<ReturnType<typeof startBareChild>> | null = null;
  try {
    const pgbench = join(db.binDir, 'pgbench');
    const baseEnv: NodeJS.ProcessEnv = { ...process.env, PGHOST: '127.0.0.1', PGCLIENTENCODING: 'UTF8' };
    await run(pgbench, ['-i', '-q', '-s', String(o.scale), '-p', String(db.port), '-U', db.user, db.database], { ...baseEnv, PGPASSWORD: db.password }, 120_000);
    gw = await startGatewayChild(db, dir);
    bare = await startBareChild(db.port);
    const binary = findPgbouncer();
    if (binary) bouncer = await startPgbouncer(binary, db, await freePort(), o.clients + 2);

    const targets: Record<Target, { port: number; user: string; password: string; database: string } | null> = {
      direct: { port: db.port, user: db.user, password: db.password, database: db.database },
      pgbouncer: bouncer ? { port: bouncer.port, user: db.user, password: db.password, database: 'bench' } : null,
      bare: { port: bare.port, user: db.user, password: db.password, database: db.database },
      gatehouse: { port: gw.pgPort, user: 'agent', password: gw.token, database: 'bench' },
    };
    const samples = new Map<string, { tps: number[]; latency: number[] }>();
    for (let round = 0; round < o.rounds; round++) {
      for (const mode of MODES) {
        for (const [name, t] of Object.entries(targets) as [Target, (typeof targets)[Target]][]) {
          if (t === null) continue;
          const out = await run(pgbench, [...pgbenchArgs(mode, o), '-p', String(t.port), '-U', t.user, t.database], { ...baseEnv, PGPASSWORD: t.password }, (o.seconds + 30) * 1000);
          const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1] ?? NaN);
          const latency = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? NaN);
          const key = `${mode}|${name}`;
          const entry = samples.get(key) ?? { tps: [], latency: [] };
          entry.tps.push(tps);
          entry.latency.push(latency);
          samples.set(key, entry);
          process.stderr.write(`round ${round + 1}/${o.rounds} ${mode.padEnd(22)} ${name.padEnd(9)} ${tps.toFixed(0)} tps, ${latency} ms\n`);
        }
      }
    }
    const figure = (mode: Mode, target: Target, what: 'tps' | 'latency') => {
      const s = samples.get(`${mode}|${target}`);
      return s ? median(s[what]) : null;
    };
    const per = (mode: Mode, what: 'tps' | 'latency') => Object.fromEntries(TARGETS.map((t) => [t, figure(mode, t, what)])) as Record<Target, number | null>;
    const modes = MODES.map((mode) => ({ mode, tps: per(mode, 'tps'), latencyMs: per(mode, 'latency') }));
    const kibPerIdleSession = await idleSessionCost(gw, o.idle);
    return { modes, pgbouncer: bouncer ? 'ran' : 'missing', idleSessions: o.idle, kibPerIdleSession };
  } finally {
    await gw?.stop().catch(() => undefined);
    await bouncer?.stop().catch(() => undefined);
    await bare?.stop().catch(() => undefined);
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number | null, digits = 0) => (n === null || !Number.isFinite(n) ? 'skipped' : n.toFixed(digits));
const ratio = (a: number | null, b: number | null) => (a === null || b === null ? 'n/a' : `${(a / b).toFixed(2)}×`);

export function report(result: PostgresBenchResult): { lines: string[]; rows: SummaryRow[] } {
  const lines = table(
    ['mode', 'direct tps', 'pgbouncer tps', 'bare node tps', 'gatehouse tps', 'gh/direct', 'gh/pgbouncer', 'gh/bare', 'latency ms direct/pgb/bare/gh'],
    result.modes.map((m) => [
      m.mode,
      fmt(m.tps.direct),
      fmt(m.tps.pgbouncer),
      fmt(m.tps.bare),
      fmt(m.tps.gatehouse),
      ratio(m.tps.gatehouse, m.tps.direct),
      ratio(m.tps.gatehouse, m.tps.pgbouncer),
      ratio(m.tps.gatehouse, m.tps.bare),
      TARGETS.map((t) => fmt(m.latencyMs[t], 3)).join('/'),
    ]),
  );
  if (result.pgbouncer === 'missing') lines.push(`pgbouncer: skipped (not installed; ${PGBOUNCER_HINT})`);
  const idleGoal = result.kibPerIdleSession < 64;
  lines.push(`idle sessions: ${result.idleSessions}, gateway RSS ${result.kibPerIdleSession.toFixed(1)} KiB per session (goal < 64 KiB: ${idleGoal ? 'met' : 'MISSED'})`);
  const rows: SummaryRow[] = result.modes.flatMap((m): SummaryRow[] => [
    {
      suite: 'postgres',
      metric: `${m.mode} tps vs pgbouncer`,
      value: m.tps.pgbouncer === null ? 'skipped' : ratio(m.tps.gatehouse, m.tps.pgbouncer),
      goal: '≥ 1.00×',
      pass: m.tps.pgbouncer === null || m.tps.gatehouse === null ? null : m.tps.gatehouse >= m.tps.pgbouncer,
    },
    { suite: 'postgres', metric: `${m.mode} tps vs bare node tcp proxy`, value: ratio(m.tps.gatehouse, m.tps.bare), goal: null, pass: null },
  ]);
  rows.push({ suite: 'postgres', metric: 'RSS per idle session', value: `${result.kibPerIdleSession.toFixed(1)} KiB`, goal: '< 64 KiB', pass: idleGoal });
  return { lines, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = numericArgs({ ...DEFAULTS });
  const result = await runPostgresBench(options);
  const { lines, rows } = report(result);
  console.log(lines.join('\n'));
  await sendSummary(rows);
}
