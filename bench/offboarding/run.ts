/**
 * How fast offboarding ends what a person runs: the time from sending the SCIM deactivation (as
 * Entra ID sends it) to the end of her live work, a Postgres session through the gateway (the pg
 * driver's FATAL) and an SSE stream held open by the upstream (the stream's failure), whichever
 * ends last. Baseline, measured interleaved in the same run: revoking the same kind of token
 * directly with DELETE /api/v1/tokens/{id}.
 *   npm run bench:offboarding -- [--runs 20]
 * Two settings: one replica (SQLite store), and two replicas on one PostgreSQL store with the
 * sessions on the replica that did not receive the request (the revocation travels as an event).
 * Goal: every session ends within 5 s (p95 of the SCIM path well under it).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../../test/support/gateway.ts';
import { startPostgres, type PostgresServer } from '../../test/support/postgres-server.ts';
import { numericArgs, sendSummary, table, type SummaryRow } from '../http/report.ts';
import { fixed, median, percentile, ratio } from '../http/stats.ts';

const DEFAULTS = { runs: 20 };
const GOAL_MS = 5_000;
const DB = 'prod-db';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

interface Setting {
  readonly name: string;
  /** Receives the SCIM request and the revocation. */
  readonly control: TestGateway;
  /** Serves the person's sessions. */
  readonly data: TestGateway;
  readonly scimToken: string;
}

async function scim(gateway: TestGateway, token: string, method: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${gateway.url}/scim/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`SCIM ${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Opens a Postgres session and a held SSE stream with one token; resolves with a promise of their end. */
async function live(gateway: TestGateway, token: string): Promise<{ ended: Promise<number> }> {
  const client = new pg.Client({ host: '127.0.0.1', port: gateway.pgPort, database: DB, user: 'agent', password: token });
  const sqlEnded = new Promise<number>((resolve) => client.on('error', () => resolve(performance.now())));
  await client.connect();
  await client.query('select 1');
  const response = await fetch(`${gateway.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo-hold', stream: true, messages: [{ role: 'user', content: 'a long task' }] }),
  });
  if (response.status !== 200) throw new Error(`stream: ${response.status}`);
  const reader = response.body!.getReader();
  await reader.read();
  const streamEnded = (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // The cut: the stream fails.
    }
    return performance.now();
  })();
  return { ended: Promise.all([sqlEnded, streamEnded]).then((ends) => Math.max(...ends)) };
}

/** One SCIM deactivation: ms from sending it to the end of both sessions. */
async function scimCut(s: Setting, n: number): Promise<number> {
  const userName = `scim-${s.name}-${n}@bench.local`;
  const user = await scim(s.control, s.scimToken, 'POST', '/Users', { schemas: [USER], userName, externalId: `ext-${n}`, active: true });
  const issued = await s.control.api('POST', '/tokens', { connections: [DB, 'openai'], for: { user: userName, groups: [] } });
  const { ended } = await live(s.data, issued.json.token);
  const start = performance.now();
  await scim(s.control, s.scimToken, 'PATCH', `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
  return (await ended) - start;
}

/** The baseline: one token revoked with DELETE /api/v1/tokens/{id}. */
async function directCut(s: Setting, n: number): Promise<number> {
  const issued = await s.control.api('POST', '/tokens', { connections: [DB, 'openai'], for: { user: `direct-${s.name}-${n}`, groups: [] } });
  const { ended } = await live(s.data, issued.json.token);
  const start = performance.now();
  const revoked = await s.control.api('DELETE', `/tokens/${issued.json.id}`);
  if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status}`);
  return (await ended) - start;
}

function gatewayOptions(db: PostgresServer, demo: DemoModel, extra: Record<string, unknown>) {
  return {
    demo,
    upstreamTimeout: '10m',
    postgres: {},
    extraConnections: `  - name: ${DB}\n    type: postgres\n    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable\n    credential: { type: basic, username: ${db.user}, value: "${db.password}" }\n`,
    ...extra,
  };
}

async function main(): Promise<void> {
  const { runs } = numericArgs(DEFAULTS);
  const upstreamDb = await startPostgres();
  const storeDb = await startPostgres();
  const demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
  const gateways: TestGateway[] = [];
  const rows: SummaryRow[] = [];
  try {
    const single = await startTestGateway(gatewayOptions(upstreamDb, demo, {}));
    gateways.push(single);
    const shared = gatewayOptions(upstreamDb, demo, { databaseUrl: storeDb.url, masterKey: randomBytes(32) });
    const [a, b] = [await startTestGateway(shared), await startTestGateway(shared)];
    gateways.push(a, b);
    const token = async (g: TestGateway) => (await g.api('POST', '/scim/tokens', { name: 'bench' })).json.token as string;
    const settings: Setting[] = [
      { name: 'one replica (SQLite)', control: single, data: single, scimToken: await token(single) },
      { name: 'other replica (PostgreSQL)', control: a, data: b, scimToken: await token(a) },
    ];
    console.log(`offboarding: ${runs} runs per setting, SCIM deactivation and direct token revocation interleaved`);
    const lines: string[][] = [];
    for (const s of settings) {
      const scimMs: number[] = [];
      const directMs: number[] = [];
      for (let n = 0; n < runs; n++) {
        scimMs.push(await scimCut(s, n));
        directMs.push(await directCut(s, n));
      }
      const p95 = percentile(scimMs, 0.95);
      lines.push([s.name, fixed(median(scimMs), 1), fixed(p95, 1), fixed(median(directMs), 1), fixed(percentile(directMs, 0.95), 1), ratio(median(scimMs) / median(directMs))]);
      rows.push({ suite: 'offboarding', metric: `SCIM deactivation to session end, p95, ${s.name}`, value: `${fixed(p95, 1)} ms`, goal: `< ${GOAL_MS} ms`, pass: p95 < GOAL_MS });
      rows.push({ suite: 'offboarding', metric: `SCIM / direct revocation, median, ${s.name}`, value: ratio(median(scimMs) / median(directMs)), goal: null, pass: null });
    }
    for (const line of table(['setting', 'SCIM median ms', 'SCIM p95 ms', 'direct median ms', 'direct p95 ms', 'SCIM / direct'], lines)) console.log(line);
    for (const row of rows) if (row.goal) console.log(`goal: ${row.metric} ${row.goal}: ${row.value}  ${row.pass ? 'met' : 'MISS'}`);
  } finally {
    demo.releaseHeld();
    for (const g of gateways) await g.close().catch(() => undefined);
    await demo.close();
    await upstreamDb.stop();
    await storeDb.stop();
  }
  await sendSummary(rows);
}

await main();
