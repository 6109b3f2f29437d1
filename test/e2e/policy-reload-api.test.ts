/**
 * POST /api/v1/policy/reload asks every replica to re-read its files. Two in-process gateways on
 * one PostgreSQL, started from a config file but without the CLI's file watch, so that only the
 * event can make the second one reload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfigFile } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/server.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { pollUntil } from '../support/poll.ts';

const UPSTREAM_KEY = `sk-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = `gta_${randomBytes(24).toString('hex')}`;

let server: PostgresServer;
let demo: DemoModel;
let dir: string;
let file: string;
const gateways: Gateway[] = [];

const config = (action: 'allow' | 'deny') => `http:
  listen: 127.0.0.1:0
log:
  level: warn
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
policy:
  rules:
    - name: the-rule
      action: ${action}
`;

before(async () => {
  server = await startPostgres();
  demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-reload-api-'));
  file = join(dir, 'gatehouse.yaml');
  await writeFile(file, config('allow'));
  const env = { ...process.env, UPSTREAM_KEY, GATEHOUSE_DATABASE_URL: server.url, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN };
  const masterKey = randomBytes(32);
  for (let i = 0; i < 2; i++) {
    gateways.push(await startGateway({ config: await loadConfigFile(file, env), configFile: file, masterKey, env, logger: pino({ level: 'silent' }) }));
  }
});

after(async () => {
  for (const g of gateways) await g.close();
  await demo?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function call(g: Gateway, method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${g.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('POST /api/v1/policy/reload', () => {
  test('asked of one replica, reloads the other too; an agent token may not ask', async () => {
    const [a, b] = gateways as [Gateway, Gateway];
    const issued = (await (await call(a, 'POST', '/api/v1/tokens', ADMIN_TOKEN, { connections: ['openai'] })).json()) as { token: string };
    const chat = () => call(b, 'POST', '/proxy/openai/v1/chat/completions', issued.token, { model: 'demo', messages: [{ role: 'user', content: 'hi' }] });
    const first = await chat();
    assert.equal(first.status, 200);
    await first.text();

    await writeFile(file, config('deny'));
    const refused = await call(a, 'POST', '/api/v1/policy/reload', issued.token);
    assert.equal(refused.status, 401, 'an agent token is not an API token');
    await refused.text();
    const asked = await call(a, 'POST', '/api/v1/policy/reload', ADMIN_TOKEN);
    assert.equal(asked.status, 202);
    assert.deepEqual(await asked.json(), { requested: true });
    // Nothing else reloads b: it has no file watch, and no SIGHUP is sent.
    await pollUntil(async () => {
      const response = await chat();
      await response.text();
      return response.status === 403;
    }, 'replica b to apply the new policy', 400, 25);
  });
});
