/**
 * Every benchmark, one after the other, then one table of ratios and goals:
 *   npm run bench
 * Each suite is `bench/<name>/run.ts`, run in a process of its own. Suites that speak the
 * summary protocol (bench/http/report.ts) send their rows over IPC; for the others, their
 * lines naming a goal are taken as they are, with met/missed read from the words.
 * Bounded: each suite has a time limit and the whole run takes under 15 minutes on 2 cores.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './http/children.ts';
import { SUMMARY_MESSAGE, summaryLines, type SummaryRow } from './http/report.ts';

/** Known suites first, in this order, each with its time limit; any other bench/<name>/run.ts after them. */
const LIMITS_S: Readonly<Record<string, number>> = { http: 330, audit: 300, policy: 60, masking: 90, postgres: 420 };
const DEFAULT_LIMIT_S = 120;

function suites(): string[] {
  const found = readdirSync(join(REPO_ROOT, 'bench'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(REPO_ROOT, 'bench', d.name, 'run.ts')))
    .map((d) => d.name);
  const known = Object.keys(LIMITS_S).filter((s) => found.includes(s));
  return [...known, ...found.filter((s) => !known.includes(s)).sort()];
}

/** A goal line of a suite that prints its own verdict ("goal median < 50 µs   met"). */
function goalRow(suite: string, line: string): SummaryRow {
  const missed = /\bMISS(ED)?\b|\bnot met\b/i.test(line);
  const met = !missed && /\b(met|pass(ed)?)\b/i.test(line);
  return { suite, metric: line.trim().replace(/\s{2,}/g, ' '), value: '', goal: null, pass: missed ? false : met ? true : null };
}

async function runSuite(suite: string): Promise<SummaryRow[]> {
  const limit = LIMITS_S[suite] ?? DEFAULT_LIMIT_S;
  const child = spawn(process.execPath, ['--import', 'tsx', join('bench', suite, 'run.ts')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let reported: SummaryRow[] | null = null;
  const goals: SummaryRow[] = [];
  child.on('message', (message: { type?: string; rows?: SummaryRow[] }) => {
    if (message.type === SUMMARY_MESSAGE && message.rows) reported = message.rows;
  });
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (/\bgoals?\b/i.test(line)) goals.push(goalRow(suite, line));
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const timer = setTimeout(() => child.kill('SIGTERM'), limit * 1000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const rows: SummaryRow[] = reported ?? goals;
  if (code !== 0) {
    const why = signal ? `stopped after the ${limit} s limit (${signal})` : `exited with code ${code}`;
    return [...rows, { suite, metric: 'suite', value: why, goal: 'completes', pass: false }];
  }
  return rows.length > 0 ? rows : [{ suite, metric: 'suite', value: 'ran; no goals reported', goal: null, pass: null }];
}

function machine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  return `${model}, ${cpus().length} cores, Node ${process.version}, load average at start ${loadavg()[0]!.toFixed(1)}`;
}

const started = performance.now();
const header = machine();
console.log(`Gatehouse benchmarks on ${header}`);
console.log('Load generators share these cores with the servers they measure: compare ratios, not absolute figures.\n');
const rows: SummaryRow[] = [];
for (const suite of suites()) {
  console.log(`\n=== ${suite} (bench/${suite}/run.ts) ===`);
  rows.push(...(await runSuite(suite)));
}
const minutes = (performance.now() - started) / 60_000;
console.log(`\n=== summary: ${header}; ${minutes.toFixed(1)} minutes ===`);
for (const line of summaryLines(rows)) console.log(line);
const misses = rows.filter((r) => r.pass === false).length;
console.log(`\n${rows.filter((r) => r.pass === true).length} goals met, ${misses} missed`);
process.exitCode = rows.some((r) => r.metric === 'suite' && r.pass === false) ? 1 : 0;
