import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { openStore } from '../../src/store/index.ts';
import { Credentials } from '../../src/identity/credentials.ts';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';

const POLICY = `
policy:
  rules:
    - name: limited-llm
      match: { connections: [openai] }
      action: allow
      limits: { requestsPerMinute: 5 }
`;

function chat(gateway: TestGateway, token: string, connection = 'openai'): Promise<Response> {
  return fetch(`${gateway.url}/proxy/${connection}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

describe('two replicas sharing one PostgreSQL', () => {
  let server: PostgresServer;
  let demo: DemoModel;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    server = await startPostgres();
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY, slowMs: 3000 });
    // Replicas of one deployment share the master key as they share the database.
    const shared = { databaseUrl: server.url, policyYaml: POLICY, demo, masterKey: randomBytes(32) };
    a = await startTestGateway(shared);
    b = await startTestGateway(shared);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await demo?.close();
    await server?.stop();
  });

  test('requests per minute count once across both: 10 alternating requests, exactly 5 pass', async () => {
    const token = await a.token({ user: 'alice' });
    const statuses: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await chat(i % 2 === 0 ? a : b, token);
      statuses.push(response.status);
      const body = (await response.json()) as { error?: { code: string } };
      if (body.error) codes.push(body.error.code);
    }
    assert.equal(statuses.filter((s) => s === 200).length, 5, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 5, `statuses: ${statuses.join(',')}`);
    assert.deepEqual(codes, Array(5).fill('limit_exceeded'));
    // The first five passed, three on one replica and two on the other: each alone was under its limit.
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
  });

  test('a token revoked on one replica is refused by the other once its cached check is cacheTtl old', async () => {
    // Polled on a connection no rule allows: authentication still runs first, and no rate limit interferes.
    const issued = await a.api('POST', '/tokens', { connections: ['other'], name: 'replica-revoke' });
    assert.equal(issued.status, 201);
    const secret = issued.json.token as string;
    // Replica b's verifier, over the same database, on a clock the test moves.
    let now = Date.now();
    const store = await openStore({ databaseUrl: server.url });
    try {
      const cacheTtlMs = 1_000;
      const verifier = new Credentials(store, { defaultTtlMs: 60_000, maxTtlMs: 3_600_000, cacheTtlMs, maxTtlForGroups: () => null }, () => now);
      const verify = () => verifier.verify(secret, 'agent').then(() => 'accepted', (err: { code: string }) => err.code);
      assert.equal(await verify(), 'accepted', 'b has verified and cached the token');

      assert.equal((await a.api('DELETE', `/tokens/${issued.json.id}`)).status, 200);
      now += cacheTtlMs - 1;
      assert.equal(await verify(), 'accepted', 'within cacheTtl b may still trust its cached check (the documented bound)');
      now += 1;
      assert.equal(await verify(), 'auth_revoked', 'at cacheTtl b asks the database again');
    } finally {
      await store.close();
    }
    // And through the real replica: b refuses it once its own cache (1 s by default) has lapsed; a
    // bounded number of tries, each one a full request.
    const codeFrom = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;
    let code = 'policy_denied';
    for (let i = 0; i < 100 && code === 'policy_denied'; i++) {
      await sleep(50);
      code = await codeFrom(await chat(b, secret, 'other'));
    }
    assert.equal(code, 'auth_revoked');
  });
});
