/**
 * `gatehouse audit verify | checkpoint | purge | public-key`: the tamper-evident trail. verify asks the
 * gateway; with --public-key it reads the database itself and trusts nothing but the keys given.
 */
import type { Command } from 'commander';
import { verifyOffline } from '../audit/offline-verify.ts';
import type { TrailReport } from '../audit/verify-trail.ts';
import type { PurgeReport } from '../audit/purge.ts';
import { DEFAULT_SQLITE_PATH } from '../store/index.ts';
import { callApi, clientSettings } from './api-client.ts';

type Print = (text: string) => void;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function describe(report: TrailReport): string {
  const writers = report.writers.flatMap((w) => [
    `  ${w.writer}: ${w.entries} entries, ${w.checkpoints} checkpoints, signed up to seq ${w.anchoredSeq}${w.purged ? `, entries ${w.purged.fromSeq}…${w.purged.toSeq} purged` : ''}`,
    ...(w.unanchoredTail > 0 ? [`    unanchored tail: ${w.unanchoredTail} entries after the last checkpoint`] : []),
  ]);
  const head = report.ok ? 'audit trail verified' : 'audit trail BROKEN';
  const signatures = report.signaturesChecked ? '' : '\n  (no checkpoint key configured: signatures not checked)';
  const purges = (report.purges ?? []).map((p) => `  purge ${p.id}: removed records older than ${Object.entries(p.cutoffs).map(([k, at]) => `${k} ${day(at)}`).join(', ')}`);
  const purged = (report.purgedEvents ?? 0) + (report.purgedBodies ?? 0) > 0 ? [`  purged: ${report.purgedEvents} events, the bodies of ${report.purgedBodies} interactions`] : [];
  const problems = report.problems.map((p) => `  ${p.writer} seq ${p.seq}${p.kind ? ` ${p.kind}` : ''}${p.refId ? ` ${p.refId}` : ''}: ${p.problem}`);
  const first = report.firstBreak ? [`first broken link: writer ${report.firstBreak.writer}, seq ${report.firstBreak.seq}`, ...problems] : [];
  return [head + signatures, ...writers, ...purges, ...purged, ...first].join('\n');
}

function describePurge(r: PurgeReport): string {
  const counts = `${r.counts.interactions} interactions, ${r.counts.sessions} sessions, ${r.counts.events} audit events, the bodies of ${r.counts.bodies} interactions, ${r.counts.ledger} ledger entries`;
  if (r.dryRun) return `dry run: would remove ${counts}`;
  return `purged ${counts}; recorded as ${r.id}`;
}

export function addTrailCommands(audit: Command, print: Print): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  audit
    .command('verify')
    .description("walk every writer's hash chain and its signed checkpoints and name the first broken link (exit 1 when broken)")
    .option('--public-key <file>', 'verify offline, trusting only these PEM public keys (repeatable; a file may hold several)', collect, [])
    .option('--checkpoints <file>', 'offline: the checkpoint sink file (JSON lines) kept outside the database')
    .option('--database <url-or-file>', `offline: a postgres:// URL or the SQLite file (default GATEHOUSE_DATABASE_URL, else ${DEFAULT_SQLITE_PATH})`)
    .action(async (opts: { publicKey: string[]; checkpoints?: string; database?: string }, command: Command) => {
      const offline = opts.publicKey.length > 0;
      if (!offline && (opts.checkpoints || opts.database)) throw new Error('--checkpoints and --database verify offline: give --public-key too');
      const report = offline
        ? await verifyOffline({ database: opts.database ?? (process.env.GATEHOUSE_DATABASE_URL || DEFAULT_SQLITE_PATH), publicKeyFiles: opts.publicKey, checkpointsFile: opts.checkpoints })
        : await callApi<TrailReport>(await clientSettings(), 'GET', '/audit/verify');
      print(command.optsWithGlobals().json ? JSON.stringify(report, null, 2) : describe(report));
      if (!report.ok) process.exitCode = 1;
    });
  audit
    .command('checkpoint')
    .description("sign this gateway's chain head now")
    .action(async (_opts: unknown, command: Command) => {
      const { checkpoint } = await callApi<{ checkpoint: Record<string, unknown> | null }>(await clientSettings(), 'POST', '/audit/checkpoints');
      print(command.optsWithGlobals().json ? JSON.stringify(checkpoint, null, 2) : checkpoint ? `checkpoint: writer ${checkpoint.writer}, seq ${checkpoint.seq}, key ${checkpoint.keyId}` : 'nothing new since the last checkpoint');
    });
  audit
    .command('purge')
    .description('remove what is past audit.retention now, recording what was removed on the chain (it also runs every audit.retention.every)')
    .option('--dry-run', 'count what would be removed; change nothing')
    .action(async (opts: { dryRun?: boolean }, command: Command) => {
      const report = await callApi<PurgeReport>(await clientSettings(), 'POST', `/audit/purge${opts.dryRun ? '?dryRun=true' : ''}`);
      print(command.optsWithGlobals().json ? JSON.stringify(report, null, 2) : describePurge(report));
    });
  audit
    .command('public-key')
    .description('print the PEM public key checkpoints are signed with (keep it, and retired ones, outside the gateway)')
    .action(async () => {
      const { publicKey } = await callApi<{ publicKey: string }>(await clientSettings(), 'GET', '/audit/public-key');
      print(publicKey.trimEnd());
    });
}
