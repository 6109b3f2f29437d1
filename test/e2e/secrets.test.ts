import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestGateway, ADMIN_TOKEN, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';

const API_CREDENTIAL = 'sk-api-added-credential-0123456789abcdef';

describe('secrets never leak: not to agents, logs, recordings, API responses or the store file', () => {
  let t: TestGateway;
  const issued: string[] = [];
  const responses: string[] = [];

  let second: DemoModel;

  before(async () => {
    t = await startTestGateway();
    // A second model that accepts only the API-added credential.
    second = await startDemoModel({ apiKey: API_CREDENTIAL });
    const put = await t.api('PUT', '/connections/added', { type: 'openai', upstream: second.url, credential: API_CREDENTIAL });
    assert.equal(put.status, 201);
    responses.push(JSON.stringify(put.json));
    const token = await t.token({ connections: ['openai', 'added'] });
    const sa = await t.api('POST', '/service-accounts', { name: 'ci', owner: 'admin', connections: ['openai'], expires: '1d' });
    issued.push(token, sa.json.secret);
    const exchanged = await fetch(`${t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${sa.json.secret}` } });
    const exchangedToken = ((await exchanged.json()) as any).token as string;
    issued.push(exchangedToken);

    // The agent's own prompt may come back in the model's answer (the demo echoes), so that one answer is
    // left out of the response check; its recording is still checked.
    const call = async (connection: string, bearer: string, body: unknown, keep = true) => {
      const response = await fetch(`${t.url}/proxy/${connection}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (keep) responses.push(text);
      return response.status;
    };
    // Successful, streaming, refused, failing upstream and malformed calls, one of them quoting a token in its prompt.
    assert.equal(await call('openai', token, { model: 'demo', messages: [{ role: 'user', content: 'hello' }] }), 200);
    assert.equal(await call('added', token, { model: 'demo', stream: true, messages: [{ role: 'user', content: 'hello' }] }), 200);
    assert.equal(await call('openai', exchangedToken, { model: 'demo', messages: [{ role: 'user', content: `my token is ${token}` }] }, false), 200);
    assert.equal(await call('openai', sa.json.secret, { model: 'demo', messages: [] }), 401);
    assert.equal(await call('openai', token, { model: 'demo-error-500', messages: [{ role: 'user', content: 'x' }] }), 500);
    assert.equal(await call('ghost', token, {}), 404);
    for (const path of ['/connections', '/connections/added', '/tokens?all=true', '/service-accounts', '/sessions']) {
      responses.push(JSON.stringify((await t.api('GET', path)).json));
    }
    for (const s of (await t.api('GET', '/sessions')).json.sessions) responses.push(JSON.stringify((await t.api('GET', `/sessions/${s.id}`)).json));
  });
  after(async () => {
    await t.close();
    await second.close();
  });

  test('the upstream credentials reached the upstream (so the test is meaningful)', () => {
    const keys = [...t.demo.requests, ...second.requests].map((r) => r.headers.authorization);
    assert.ok(keys.includes(`Bearer ${UPSTREAM_KEY}`));
    assert.ok(keys.includes(`Bearer ${API_CREDENTIAL}`));
  });

  test('no API response, proxy response or recording contains an upstream credential or a Gatehouse token', () => {
    const all = responses.join('\n');
    assert.ok(all.length > 1000);
    for (const secret of [UPSTREAM_KEY, API_CREDENTIAL, ADMIN_TOKEN, ...issued]) {
      assert.ok(!all.includes(secret), `leaked: ${secret.slice(0, 8)}…`);
    }
  });

  test('no log line contains a credential', () => {
    const logs = t.logs.join('\n');
    assert.ok(logs.includes('gateway listening'), 'logs were captured');
    for (const secret of [UPSTREAM_KEY, API_CREDENTIAL, ADMIN_TOKEN, ...issued]) assert.ok(!logs.includes(secret), `leaked in logs: ${secret.slice(0, 8)}…`);
  });

  test('the store file holds neither credentials nor tokens in plain text', async () => {
    const files = (await readdir(t.dir)).filter((f) => f.startsWith('gatehouse.db'));
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(t.dir, f)))));
    assert.ok(bytes.length > 0);
    for (const secret of [API_CREDENTIAL, ADMIN_TOKEN, ...issued]) {
      assert.equal(bytes.indexOf(secret), -1, `found in the store: ${secret.slice(0, 8)}…`);
    }
  });
});
