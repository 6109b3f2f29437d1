/**
 * What Gatehouse costs on the HTTP path, against going direct, a bare Node pass-through proxy
 * and the Portkey gateway, all measured in the same run against the same upstream.
 *   npm run bench:http -- [--rounds 3] [--seconds 4] [--sequential 200] [--ttfb 100]
 * Targets are measured interleaved (direct, bare, gatehouse, portkey, direct, …) for `rounds`
 * rounds; figures are medians over rounds. About 3 minutes with the defaults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopAll } from './children.ts';
import { check, load, sequential, type LoadResult } from './load.ts';
import { numericArgs, sendSummary, summaryLines, table, type SummaryRow } from './report.ts';
import { fixed, median, percentile, ratio } from './stats.ts';
import { directTarget, startBareTarget, startGatehouse, startPortkeyTarget, startUpstream, type Target } from './targets.ts';

export const HTTP_DEFAULTS = { rounds: 3, seconds: 4, sequential: 200, ttfb: 100, low: 10, high: 100 };
export type HttpOptions = typeof HTTP_DEFAULTS;

const GOALS = { vsBare: 0.6, vsPortkey: 5, addedMedianMs: 0.5, addedTtfbMs: 1, peakRssMiB: 160 };

interface Collected {
  readonly low: Map<string, LoadResult[]>;
  readonly high: Map<string, LoadResult[]>;
  /** Per round: median and p99 of per-request latency, ms. */
  readonly latency: Map<string, { median: number; p99: number }[]>;
  readonly ttfb: Map<string, number[]>;
}

const medianOf = (results: readonly LoadResult[], pick: (r: LoadResult) => number) => median(results.map(pick));

async function collect(targets: readonly Target[], options: HttpOptions, say: (line: string) => void): Promise<Collected> {
  const perTarget = <T>() => new Map<string, T[]>(targets.map((t) => [t.name, []]));
  const out: Collected = { low: perTarget(), high: perTarget(), latency: perTarget(), ttfb: perTarget() };

  say('warming up every target (2 s of load and 20 streamed requests each)');
  for (const target of targets) await load(target, { connections: options.low, seconds: 2 });
  await sequential(targets, 20, true);

  for (let round = 1; round <= options.rounds; round++) {
    for (const [connections, into] of [
      [options.low, out.low],
      [options.high, out.high],
    ] as const) {
      const line: string[] = [];
      for (const target of targets) {
        const result = await load(target, { connections, seconds: options.seconds });
        into.get(target.name)!.push(result);
        line.push(`${target.name} ${fixed(result.rps, 0)}${result.failed ? ` (${result.failed} FAILED)` : ''}`);
      }
      say(`round ${round}, ${connections} connections, req/s: ${line.join(', ')}`);
    }
    for (const [name, samples] of await sequential(targets, options.sequential, false)) {
      out.latency.get(name)!.push({ median: median(samples), p99: percentile(samples, 0.99) });
    }
    for (const [name, samples] of await sequential(targets, options.ttfb, true)) out.ttfb.get(name)!.push(median(samples));
    say(`round ${round}: sequential latency and time to first byte done`);
  }
  return out;
}

/** Round by round difference to direct, then the median over rounds. */
function addedOverDirect(perRound: Map<string, number[]>, name: string): number {
  const direct = perRound.get('direct')!;
  return median(perRound.get(name)!.map((value, round) => value - direct[round]!));
}

export async function runHttpBench(options: HttpOptions, say: (line: string) => void = console.log): Promise<SummaryRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-http-'));
  const upstream = await startUpstream();
  const started: Target[] = [];
  let portkeySkipped: string | null = null;
  try {
    started.push(await startBareTarget(upstream));
    const gatehouse = await startGatehouse({ upstream, dir });
    started.push(gatehouse.target('gatehouse', (await gatehouse.issueToken('http benchmark')).token));
    try {
      const portkey = await startPortkeyTarget(upstream);
      started.push(portkey);
      await check(portkey);
    } catch (err) {
      portkeySkipped = (err as Error).message.split('\n')[0]!;
      await started.find((t) => t.name === 'portkey')?.child?.stop();
    }
    const targets = [directTarget(upstream), ...started.filter((t) => t.name !== 'portkey' || portkeySkipped === null)];
    for (const target of targets) await check(target);

    say(`HTTP benchmark: POST /v1/chat/completions (a prompt with a name and an e-mail address) to the demo model`);
    say(`Gatehouse: agent token check, one policy rule, masking profile pii on request and response, recording to SQLite.`);
    say(`Note: the load generator (autocannon), the upstream and the proxy share this machine's cores, so`);
    say(`absolute figures are lower than with a separate client machine; compare the ratios, measured in this run.`);
    if (portkeySkipped) say(`Portkey skipped: ${portkeySkipped}`);

    const data = await collect(targets, options, say);
    const names = targets.map((t) => t.name);
    const rss = new Map<string, number>();
    for (const target of targets) if (target.child) rss.set(target.name, await target.child.peakRssMiB());

    const rps = (which: 'low' | 'high', name: string) => medianOf(data[which].get(name)!, (r) => r.rps);
    const latencyRound = (pick: 'median' | 'p99') => new Map(names.map((n) => [n, data.latency.get(n)!.map((r) => r[pick])]));
    const medians = latencyRound('median');
    const p99s = latencyRound('p99');
    const failed = names.filter((n) => [...data.low.get(n)!, ...data.high.get(n)!].some((r) => r.failed > 0));

    say('');
    say(`Under load, medians of ${options.rounds} rounds of ${options.seconds} s (latency in ms at autocannon's 1 ms resolution):`);
    for (const line of table(
      ['target', `c=${options.low} req/s`, 'p50', 'p99', `c=${options.high} req/s`, 'p50', 'p99', 'vs direct', 'peak RSS MiB'],
      names.map((n) => [
        n,
        fixed(rps('low', n), 0),
        fixed(medianOf(data.low.get(n)!, (r) => r.p50), 0),
        fixed(medianOf(data.low.get(n)!, (r) => r.p99), 0),
        fixed(rps('high', n), 0),
        fixed(medianOf(data.high.get(n)!, (r) => r.p50), 0),
        fixed(medianOf(data.high.get(n)!, (r) => r.p99), 0),
        ratio(rps('high', n) / rps('high', 'direct')),
        rss.has(n) ? fixed(rss.get(n)!, 0) : '',
      ]),
    ))
      say(`  ${line}`);
    if (failed.length > 0) say(`  WARNING: failed requests through ${failed.join(', ')}: their figures are not comparable`);

    say('');
    say(`One connection, sequential (${options.sequential} requests per round; ${options.ttfb} streamed for time to first byte), ms:`);
    for (const line of table(
      ['target', 'median', 'p99', 'added median', 'added p99', 'TTFB', 'added TTFB'],
      names.map((n) => [
        n,
        fixed(median(medians.get(n)!), 3),
        fixed(median(p99s.get(n)!), 3),
        n === 'direct' ? '' : fixed(addedOverDirect(medians, n), 3),
        n === 'direct' ? '' : fixed(addedOverDirect(p99s, n), 3),
        fixed(median(data.ttfb.get(n)!), 3),
        n === 'direct' ? '' : fixed(addedOverDirect(data.ttfb, n), 3),
      ]),
    ))
      say(`  ${line}`);

    const row = (metric: string, value: string, goal: string | null = null, pass: boolean | null = null): SummaryRow => ({
      suite: 'http',
      metric,
      value,
      goal,
      pass,
    });
    const vsBare = rps('high', 'gatehouse') / rps('high', 'bare proxy');
    const addedMedian = addedOverDirect(medians, 'gatehouse');
    const addedTtfb = addedOverDirect(data.ttfb, 'gatehouse');
    const peak = rss.get('gatehouse')!;
    const rows: SummaryRow[] = [
      row(`gatehouse / bare proxy, req/s at c=${options.high}`, ratio(vsBare), `≥ ${GOALS.vsBare}×`, vsBare >= GOALS.vsBare),
    ];
    if (portkeySkipped) rows.push(row('gatehouse / portkey', `skipped: ${portkeySkipped.slice(0, 60)}`, `≥ ${GOALS.vsPortkey}×`, null));
    else {
      const vsPortkey = rps('high', 'gatehouse') / rps('high', 'portkey');
      rows.push(row(`gatehouse / portkey, req/s at c=${options.high}`, ratio(vsPortkey), `≥ ${GOALS.vsPortkey}×`, vsPortkey >= GOALS.vsPortkey));
    }
    for (const n of names.filter((n) => n !== 'direct')) rows.push(row(`${n} / direct, req/s at c=${options.high}`, ratio(rps('high', n) / rps('high', 'direct'))));
    rows.push(
      row('gatehouse added median latency (1 conn)', `${fixed(addedMedian, 3)} ms`, `< ${GOALS.addedMedianMs} ms`, addedMedian < GOALS.addedMedianMs),
      row('bare proxy added median latency (1 conn)', `${fixed(addedOverDirect(medians, 'bare proxy'), 3)} ms`),
      row('gatehouse added TTFB (streamed)', `${fixed(addedTtfb, 3)} ms`, `< ${GOALS.addedTtfbMs} ms`, addedTtfb < GOALS.addedTtfbMs),
    );
    if (!portkeySkipped) {
      rows.push(
        row('portkey added median latency (1 conn)', `${fixed(addedOverDirect(medians, 'portkey'), 3)} ms`),
        row('portkey added TTFB (streamed)', `${fixed(addedOverDirect(data.ttfb, 'portkey'), 3)} ms`),
      );
    }
    rows.push(row('gatehouse peak RSS (VmHWM)', `${fixed(peak, 0)} MiB`, `< ${GOALS.peakRssMiB} MiB`, peak < GOALS.peakRssMiB));
    if (failed.length > 0) rows.push(row('failed requests', failed.join(', '), 'none', false));
    say('');
    for (const line of summaryLines(rows)) say(`  ${line}`);
    return rows;
  } finally {
    await stopAll(started.map((t) => t.child));
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await sendSummary(await runHttpBench(numericArgs(HTTP_DEFAULTS)));
}
