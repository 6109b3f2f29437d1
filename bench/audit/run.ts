/**
 * Recording under sustained load: Gatehouse recording to SQLite and to PostgreSQL against the
 * bare proxy, interleaved over rounds, and a check that no request goes unrecorded at saturation.
 *   npm run bench:audit -- [--rounds 3] [--amount 5000] [--connections 100] [--profile 6]
 * Each run sends exactly `amount` requests (a fresh agent token, so a fresh recorded session) and
 * then compares three counts: 2xx answers autocannon got, 2xx answers the upstream sent, and
 * completed interactions in the session, whose hash chain must verify.
 * There is no switch to turn recording off, so its cost is estimated from CPU profiles: the
 * share of the gateway's busy CPU spent under the recorder, the store and its driver, taken
 * in a separate profiled run per store (profiling slows the process, so those runs are not
 * used for throughput). About 3 minutes with the defaults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PostgresServer } from '../../test/support/postgres-server.ts';
import { stopAll } from '../http/children.ts';
import { isRecording, mainThreadProfile, summarizeProfile } from '../http/cpu-profile.ts';
import { load, type LoadResult } from '../http/load.ts';
import { numericArgs, sendSummary, summaryLines, table, type SummaryRow } from '../http/report.ts';
import { fixed, median, ratio } from '../http/stats.ts';
import { startBareTarget, startGatehouse, startUpstream, type Gatehouse, type Target, type Upstream } from '../http/targets.ts';

export const AUDIT_DEFAULTS = { rounds: 3, amount: 5000, connections: 100, profile: 6 };
export type AuditOptions = typeof AUDIT_DEFAULTS;

const RECORDING_GOAL = 0.2;

interface InteractionView {
  readonly status: string;
  readonly responseStatus: number | null;
  readonly errorCode: string | null;
}

interface Counted {
  readonly load: LoadResult;
  readonly upstream: number;
  /** Null for the bare proxy, which records nothing. */
  readonly recorded: { readonly complete: number; readonly other: number; readonly chainOk: boolean } | null;
}

/** The recorded interactions of the session a token opened, once none is still open (completion is written after the reply). */
async function recordedFor(gatehouse: Gatehouse, tokenId: string): Promise<NonNullable<Counted['recorded']>> {
  const { sessions } = await gatehouse.api<{ sessions: { id: string; tokenId: string | null }[] }>('/sessions?limit=1000');
  const session = sessions.find((s) => s.tokenId === tokenId);
  if (!session) return { complete: 0, other: 0, chainOk: false };
  for (let attempt = 0; ; attempt++) {
    const detail = await gatehouse.api<{ interactions: InteractionView[]; chain: { ok: boolean } }>(`/sessions/${session.id}`);
    const complete = detail.interactions.filter((i) => i.status === 'complete' && i.responseStatus === 200 && i.errorCode === null).length;
    const open = detail.interactions.filter((i) => i.status === 'open').length;
    if (open === 0 || attempt === 20) return { complete, other: detail.interactions.length - complete, chainOk: detail.chain.ok };
    await sleep(100);
  }
}

/** The upstream's count once requests still in flight from an earlier run (time-boxed load leaves some) have landed. */
async function settledAnswered(upstream: Upstream): Promise<number> {
  let last = await upstream.answered();
  for (;;) {
    await sleep(200);
    const now = await upstream.answered();
    if (now === last) return now;
    last = now;
  }
}

async function measure(upstream: Upstream, name: string, target: Target | Gatehouse, options: AuditOptions): Promise<Counted> {
  const token = 'issueToken' in target ? await target.issueToken(`audit ${name}`) : null;
  const through = token ? (target as Gatehouse).target(name, token.token) : (target as Target);
  const before = await settledAnswered(upstream);
  const result = await load(through, { connections: options.connections, amount: options.amount });
  const answered = (await settledAnswered(upstream)) - before;
  return { load: result, upstream: answered, recorded: token ? await recordedFor(target as Gatehouse, token.id) : null };
}

/** Share of the gateway's busy CPU under recording, from a profiled run at saturation. */
async function recordingShare(upstream: Upstream, databaseUrl: string | undefined, options: AuditOptions): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-audit-prof-'));
  try {
    const gatehouse = await startGatehouse({ upstream, dir, databaseUrl, cpuProfDir: dir, name: 'gatehouse (profiled)' });
    let from = 0;
    try {
      const target = gatehouse.target('profiled', (await gatehouse.issueToken('audit profile')).token);
      await load(target, { connections: options.connections, seconds: 2 });
      from = Number(process.hrtime.bigint() / 1000n);
      await load(target, { connections: options.connections, seconds: options.profile });
    } finally {
      await gatehouse.stop();
    }
    const summary = await summarizeProfile(await mainThreadProfile(dir), { recording: isRecording }, from);
    return summary.parts.find((p) => p.name === 'recording')!.share;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runAuditBench(options: AuditOptions, say: (line: string) => void = console.log): Promise<SummaryRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-audit-'));
  const upstream = await startUpstream();
  let postgres: PostgresServer | null = null;
  let postgresSkipped: string | null = null;
  const stoppable: (Target | Gatehouse)[] = [];
  try {
    const bare = await startBareTarget(upstream);
    stoppable.push(bare);
    const sqlite = await startGatehouse({ upstream, dir: await mkdtemp(join(dir, 'sqlite-')), name: 'gatehouse (sqlite)' });
    stoppable.push(sqlite);
    let pgGateway: Gatehouse | null = null;
    try {
      postgres = await startPostgres();
      pgGateway = await startGatehouse({ upstream, dir: await mkdtemp(join(dir, 'pg-')), databaseUrl: postgres.url, name: 'gatehouse (postgres)' });
      stoppable.push(pgGateway);
    } catch (err) {
      postgresSkipped = (err as Error).message.split('\n')[0]!;
    }
    const runs: [string, Target | Gatehouse][] = [
      ['bare proxy', bare],
      ['gatehouse sqlite', sqlite],
      ...(pgGateway ? [['gatehouse postgres', pgGateway] as [string, Gatehouse]] : []),
    ];

    say(`Audit benchmark: ${options.amount} chat completions per run at ${options.connections} connections, ${options.rounds} rounds, interleaved.`);
    say('Gatehouse records every request write-ahead (one insert before forwarding, one update after) with the pii profile on.');
    say('Note: the load generator, upstream, proxy (and PostgreSQL) share the machine\'s cores; compare ratios.');
    if (postgresSkipped) say(`PostgreSQL skipped: ${postgresSkipped}`);
    for (const [name, target] of runs) {
      const through = 'issueToken' in target ? target.target(name, (await target.issueToken('audit warm-up')).token) : target;
      await load(through, { connections: options.connections, seconds: 2 });
    }

    const counted = new Map<string, Counted[]>(runs.map(([name]) => [name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      const line: string[] = [];
      for (const [name, target] of runs) {
        const result = await measure(upstream, name, target, options);
        counted.get(name)!.push(result);
        line.push(`${name} ${fixed(result.load.rps, 0)}`);
      }
      say(`round ${round}, req/s: ${line.join(', ')}`);
    }

    say('recording cost: profiling each store at saturation');
    const shares = new Map<string, number>([['gatehouse sqlite', await recordingShare(upstream, undefined, options)]]);
    if (postgres) shares.set('gatehouse postgres', await recordingShare(upstream, postgres.url, options));

    const rps = (name: string) => median(counted.get(name)!.map((c) => c.load.rps));
    const sum = (name: string, pick: (c: Counted) => number) => counted.get(name)!.reduce((n, c) => n + pick(c), 0);
    say('');
    say(`Medians of ${options.rounds} rounds; counts summed over all rounds (${options.rounds * options.amount} requests sent per target):`);
    for (const line of table(
      ['target', 'req/s', 'vs bare', '2xx at client', 'failed', '2xx at upstream', 'recorded ok', 'recorded other', 'chains', 'recording CPU'],
      runs.map(([name]) => {
        const recorded = counted.get(name)!.map((c) => c.recorded);
        const isGatehouse = recorded.every((r) => r !== null);
        return [
          name,
          fixed(rps(name), 0),
          ratio(rps(name) / rps('bare proxy')),
          String(sum(name, (c) => c.load.ok)),
          String(sum(name, (c) => c.load.failed)),
          String(sum(name, (c) => c.upstream)),
          isGatehouse ? String(sum(name, (c) => c.recorded!.complete)) : '',
          isGatehouse ? String(sum(name, (c) => c.recorded!.other)) : '',
          isGatehouse ? (recorded.every((r) => r!.chainOk) ? 'verified' : 'BROKEN') : '',
          shares.has(name) ? `${fixed(shares.get(name)! * 100, 1)}%` : '',
        ];
      }),
    ))
      say(`  ${line}`);

    const rows: SummaryRow[] = [];
    const row = (metric: string, value: string, goal: string | null = null, pass: boolean | null = null) =>
      rows.push({ suite: 'audit', metric, value, goal, pass });
    for (const [name] of runs.filter(([n]) => n !== 'bare proxy')) {
      const store = name.replace('gatehouse ', '');
      const lost = counted.get(name)!.reduce((n, c) => n + Math.abs(c.load.ok - c.upstream) + Math.abs(c.upstream - c.recorded!.complete), 0);
      const chains = counted.get(name)!.every((c) => c.recorded!.chainOk);
      const failed = sum(name, (c) => c.load.failed);
      row(`${store}: gatehouse / bare proxy, req/s at c=${options.connections}`, ratio(rps(name) / rps('bare proxy')));
      row(`${store}: recording share of gateway CPU`, `${fixed(shares.get(name)! * 100, 1)}%`, `< ${RECORDING_GOAL * 100}%`, shares.get(name)! < RECORDING_GOAL);
      row(
        `${store}: requests unrecorded or unmatched at saturation`,
        `${lost} of ${options.rounds * options.amount}${failed ? `, ${failed} failed` : ''}${chains ? '' : ', chain BROKEN'}`,
        '0, chains verify',
        lost === 0 && failed === 0 && chains,
      );
    }
    if (postgresSkipped) row('postgres', `skipped: ${postgresSkipped.slice(0, 60)}`);
    say('');
    for (const line of summaryLines(rows)) say(`  ${line}`);
    return rows;
  } finally {
    await stopAll(stoppable.map((t) => ('issueToken' in t ? t : t.child)));
    await upstream.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await sendSummary(await runAuditBench(numericArgs(AUDIT_DEFAULTS)));
}
