/**
 * The gateway under test in a process of its own: started from GATEHOUSE_BENCH_CONFIG (YAML), it
 * reports its URL and an agent token for every connection on IPC. Run by bench/mcp/run.ts.
 */
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger, startGateway } from '../../src/server.ts';

const config = parseConfig(process.env.GATEHOUSE_BENCH_CONFIG ?? '', 'bench.yaml', process.env);
const admin = `gta_${randomBytes(24).toString('hex')}`;
const gateway = await startGateway({ config, masterKey: randomBytes(32), logger: createLogger('warn'), env: { ...process.env, GATEHOUSE_ADMIN_TOKEN: admin } });
// Tools are pinned by default: each connection's list is pinned as an admin would (gatehouse mcp pin), so calls run as in production.
for (const c of config.connections) {
  if (c.type !== 'mcp') continue;
  const pinned = await fetch(`${gateway.url}/api/v1/connections/${c.name}/mcp/pins`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });
  if (!pinned.ok) throw new Error(`could not pin the tools of ${c.name}: HTTP ${pinned.status}`);
}
const token = await gateway.issueAgentToken({ connections: config.connections.map((c) => c.name), ttlMs: 3_600_000, name: 'bench' });
process.send!({ type: 'ready', url: gateway.url, token });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stop') void gateway.close().then(() => process.exit(0));
});
