/**
 * What the MCP gateway adds to one tool call: the official SDK client calling an SDK-built tool
 * server (Streamable HTTP, loopback) directly, and through Gatehouse (token check, policy, write-ahead
 * recording to SQLite; and once more with the `pii` masking profile on arguments and results).
 * Calls are sent one at a time, the targets taking turns call by call, over rounds; per round the
 * median and p99 of each target, minus direct's; the figures are medians over rounds.
 *   node --import tsx bench/mcp/run.ts [--calls 300] [--rounds 3]
 * About 30 s on 2 cores. The gateway and the tool server run from source through tsx, each in a process
 * of its own; the client is this process.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MCP_UPSTREAM_TOKEN } from '../../test/support/mcp-server.ts';
import { numericArgs, table } from '../http/report.ts';

const options = numericArgs({ calls: 300, rounds: 3 });
const TARGETS = ['direct', 'gatehouse', 'gatehouse+pii'] as const;
type Target = (typeof TARGETS)[number];

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const median = (values: readonly number[]) => quantile(values, 0.5);

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/** A process of its own for each server, so neither shares an event loop with the client or the other. */
async function start(script: string, env: NodeJS.ProcessEnv) {
  const child = fork(join(import.meta.dirname, script), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [ready] = (await once(child, 'message')) as [{ url: string; token?: string }];
  return {
    ...ready,
    stop: async () => {
      child.send({ type: 'stop' });
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

const upstream = await start('upstream-child.ts', { MCP_UPSTREAM_TOKEN });
const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-mcp-'));
const config = `
http: { listen: 127.0.0.1:0 }
store: { sqlitePath: ${join(dir, 'gatehouse.db')} }
log: { level: warn }
connections:
  - name: tools
    type: mcp
    upstream: ${upstream.url}
    credential: ${MCP_UPSTREAM_TOKEN}
  - name: tools-pii
    type: mcp
    upstream: ${upstream.url}
    credential: ${MCP_UPSTREAM_TOKEN}
policy:
  rules:
    - name: mask-pii
      match: { connections: [tools-pii] }
      mask: pii
      action: allow
    - name: allow-all
      action: allow
`;
const gateway = await start('gateway-child.ts', { GATEHOUSE_BENCH_CONFIG: config, GATEHOUSE_DATABASE_URL: '', GATEHOUSE_ADMIN_TOKEN: '' });
try {
  const ready = { url: gateway.url, token: gateway.token! };
  const clients: Record<Target, Client> = {
    direct: await connect(upstream.url, MCP_UPSTREAM_TOKEN),
    gatehouse: await connect(`${ready.url}/mcp/tools`, ready.token),
    'gatehouse+pii': await connect(`${ready.url}/mcp/tools-pii`, ready.token),
  };
  const args = { text: 'Ada Lovelace, ada@example.com, asks for the quarterly numbers' };
  // Warm-up: code paths compiled, connections open.
  for (const t of TARGETS) for (let i = 0; i < 30; i++) await clients[t].callTool({ name: 'echo', arguments: args });
  const perRound: Record<Target, { p50: number[]; p99: number[] }> = Object.fromEntries(TARGETS.map((t) => [t, { p50: [], p99: [] }])) as never;
  for (let round = 0; round < options.rounds; round++) {
    const samples: Record<Target, number[]> = { direct: [], gatehouse: [], 'gatehouse+pii': [] };
    for (let i = 0; i < options.calls; i++) {
      for (const t of TARGETS) {
        const start = performance.now();
        await clients[t].callTool({ name: 'echo', arguments: args });
        samples[t].push(performance.now() - start);
      }
    }
    for (const t of TARGETS) {
      perRound[t].p50.push(median(samples[t]));
      perRound[t].p99.push(quantile(samples[t], 0.99));
    }
    process.stderr.write(`round ${round + 1}/${options.rounds}: ${TARGETS.map((t) => `${t} ${median(samples[t]).toFixed(2)} ms`).join(', ')}\n`);
  }
  const p50 = (t: Target) => median(perRound[t].p50);
  const p99 = (t: Target) => median(perRound[t].p99);
  const lines = table(
    ['target', 'median ms', 'p99 ms', 'added median ms', 'added p99 ms'],
    TARGETS.map((t) => [t, p50(t).toFixed(2), p99(t).toFixed(2), t === 'direct' ? '' : (p50(t) - p50('direct')).toFixed(2), t === 'direct' ? '' : (p99(t) - p99('direct')).toFixed(2)]),
  );
  for (const line of lines) console.log(line);
  const added = p50('gatehouse') - p50('direct');
  console.log(`added median latency per tool call ${added.toFixed(2)} ms (goal < 5 ms: ${added < 5 ? 'met' : 'MISSED'})`);
  const masked = p50('gatehouse+pii') - p50('direct');
  console.log(`added median latency per tool call with pii masking ${masked.toFixed(2)} ms (goal < 7 ms: ${masked < 7 ? 'met' : 'MISSED'})`);
  for (const c of Object.values(clients)) await c.close();
} finally {
  await gateway.stop();
  await upstream.stop();
  await rm(dir, { recursive: true, force: true });
}
