/**
 * The gateway under test, in a process of its own so its RSS is its own: started from the config
 * in GATEHOUSE_BENCH_CONFIG (YAML), it reports its Postgres port and an agent token on IPC, and
 * answers `rss` requests. Run by bench/postgres/run.ts; add --cpu-prof through BENCH_CPU_PROF=1.
 */
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger, startGateway } from '../../src/server.ts';

const config = parseConfig(process.env.GATEHOUSE_BENCH_CONFIG ?? '', 'bench.yaml', process.env);
const gateway = await startGateway({ config, masterKey: randomBytes(32), logger: createLogger('warn') });
const token = await gateway.issueAgentToken({ connections: ['bench'], ttlMs: 3_600_000, name: 'bench' });
process.send!({ type: 'ready', pgPort: gateway.pgPort, token });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'rss') {
    globalThis.gc?.();
    process.send!({ type: 'rss', rss: process.memoryUsage().rss });
  }
  if (msg.type === 'stop') void gateway.close().then(() => process.exit(0));
});
