/**
 * Where Gatehouse spends its CPU at saturation: runs it under `node --cpu-prof` with every
 * control on, loads it at 100 connections and prints the busiest functions and parts.
 *   node --import tsx bench/http/profile.ts [--seconds 10] [--connections 100] [--top 30]
 * The profile file is kept and its path printed, for Chrome DevTools or speedscope.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRecording, mainThreadProfile, summarizeProfile } from './cpu-profile.ts';
import { load } from './load.ts';
import { numericArgs, table } from './report.ts';
import { startGatehouse, startUpstream } from './targets.ts';

const options = numericArgs({ seconds: 10, connections: 100, top: 30 });

/** The request path's parts, as named in the design's folder table. */
const REQUEST_PATH_PARTS: Readonly<Record<string, (code: string) => boolean>> = {
  'src/adapters/http': (c) => c.startsWith('src/adapters/http/'),
  'src/pipeline.ts': (c) => c === 'src/pipeline.ts',
  'src/identity': (c) => c.startsWith('src/identity/'),
  'src/classify': (c) => c.startsWith('src/classify/'),
  'src/policy': (c) => c.startsWith('src/policy/'),
  'src/masking': (c) => c.startsWith('src/masking/'),
  'recording (src/audit, src/store, drivers)': isRecording,
  'metrics (prom-client)': (c) => c === 'prom-client',
  'upstream client (undici)': (c) => c === 'undici',
  'node http server': (c) => /^node:_http_(server|common|outgoing|incoming)/.test(c),
  'garbage collector': (c) => c === '(garbage collector)',
};

let measuredFrom = 0;
const dir = await mkdtemp(join(tmpdir(), 'gatehouse-profile-'));
const upstream = await startUpstream();
try {
  const gatehouse = await startGatehouse({ upstream, dir, cpuProfDir: dir });
  try {
    const target = gatehouse.target('gatehouse', (await gatehouse.issueToken('profile')).token);
    await load(target, { connections: options.connections, seconds: 2 });
    measuredFrom = Number(process.hrtime.bigint() / 1000n);
    const result = await load(target, { connections: options.connections, seconds: options.seconds });
    console.log(`gatehouse at ${options.connections} connections: ${result.rps.toFixed(0)} req/s, ${result.failed} failed`);
  } finally {
    await gatehouse.stop();
  }
  const file = await mainThreadProfile(dir);
  const summary = await summarizeProfile(file, REQUEST_PATH_PARTS, measuredFrom);
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
  console.log(`\n${summary.busySamples} busy samples during the measured load (start-up and warm-up left out); profile: ${file}`);
  console.log('\ninclusive share of busy CPU by part:');
  for (const line of table(['part', 'share'], summary.parts.map((p) => [p.name, pct(p.share)]))) console.log(`  ${line}`);
  console.log(`\ninclusive time, top ${options.top} functions under src/:`);
  const ours = summary.inclusiveFunctions.filter((f) => f.name.includes('  src/')).slice(0, options.top);
  for (const line of table(['function  file', 'share'], ours.map((f) => [f.name, pct(f.share)]))) console.log(`  ${line}`);
  console.log(`\nself time, top ${options.top} functions:`);
  for (const line of table(['function  location', 'share'], summary.functions.slice(0, options.top).map((f) => [f.name, pct(f.share)])))
    console.log(`  ${line}`);
} finally {
  await upstream.stop();
  await rm(join(dir, 'gatehouse.db'), { force: true });
}
