import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';

/** A plain HTTP API: echoes what it received, streams on /stream. */
async function startEchoApi(): Promise<{ server: Server; url: string; seen: { headers: Record<string, unknown>; body: string; url: string }[] }> {
  const seen: { headers: Record<string, unknown>; body: string; url: string }[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    seen.push({ headers: req.headers, body, url: req.url ?? '' });
    if (req.url?.endsWith('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) {
        res.write(`part ${i}\n`);
        await sleep(20);
      }
      return res.end();
    }
    res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
    res.end(JSON.stringify({ method: req.method, url: req.url, body }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('HTTP proxy behaviour', () => {
  let t: TestGateway;
  let echo: Awaited<ReturnType<typeof startEchoApi>>;
  let token: string;

  before(async () => {
    echo = await startEchoApi();
    t = await startTestGateway({
      bodyLimit: '64kb',
      upstreamTimeout: '1s',
      extraConnections: `
  - name: billing
    type: http
    upstream: ${echo.url}/base
    credential: { type: header, header: X-Billing-Key, value: billing-secret-value }
  - name: dead
    type: http
    upstream: http://127.0.0.1:9
`,
    });
    token = await t.token({ connections: ['openai', 'billing', 'dead'] });
  });
  after(async () => {
    await t.close();
    await new Promise((resolve) => echo.server.close(resolve));
  });

  const send = (path: string, init: RequestInit = {}) =>
    fetch(`${t.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

  test('http connections: any method and path, query kept, client credential swapped for the stored one', async () => {
    const response = await send('/proxy/billing/invoices/42?expand=lines', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-api-key': 'client-key' },
      body: JSON.stringify({ paid: true }),
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('x-upstream'), 'yes');
    const body = (await response.json()) as any;
    assert.equal(body.method, 'PATCH');
    assert.equal(body.url, '/base/invoices/42?expand=lines');
    const seen = echo.seen.at(-1)!;
    assert.equal(seen.headers['x-billing-key'], 'billing-secret-value');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-api-key'], undefined);
  });

  test('streamed response bodies pass through as they arrive', async () => {
    const response = await send('/proxy/billing/stream');
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /part 0/);
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    assert.match(rest, /part 4/);
  });

  test('malformed JSON to an LLM endpoint is a 400 and is recorded', async () => {
    const response = await send('/proxy/openai/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "demo", ' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, 'bad_request');
    const sessions = await t.api('GET', '/sessions?connection=openai');
    const all = await Promise.all(sessions.json.sessions.map((s: any) => t.api('GET', `/sessions/${s.id}`)));
    assert.ok(all.some((s) => s.json.interactions.some((i: any) => i.errorCode === 'bad_request')));
  });

  test('bodies over the limit get 413', async () => {
    const response = await send('/proxy/openai/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] }),
    });
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as any).error.code, 'body_too_large');
  });

  test('an unreachable upstream is a 502 naming the connection', async () => {
    const response = await send('/proxy/dead/anything');
    assert.equal(response.status, 502);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, 'upstream_unreachable');
    assert.match(body.error.message, /dead/);
  });

  test('a slow upstream is a 504', async () => {
    const response = await send('/proxy/openai/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-slow', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(response.status, 504);
    assert.equal(((await response.json()) as any).error.code, 'upstream_timeout');
  });

  test('a client that disconnects mid-stream aborts the upstream call', async () => {
    const abortedBefore = t.demo.aborted;
    const controller = new AbortController();
    const response = await send('/proxy/openai/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-hold', stream: true, messages: [{ role: 'user', content: 'x' }] }),
      signal: controller.signal,
    });
    await response.body!.getReader().read();
    controller.abort();
    for (let i = 0; i < 50 && t.demo.aborted === abortedBefore; i++) await sleep(20);
    assert.equal(t.demo.aborted, abortedBefore + 1);
  });

  test('garbage on the socket does not hurt the gateway', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(Number(new URL(t.url).port), '127.0.0.1', () => socket.end('\x00\x01GARBAGE / HTTP/9.9\r\n\r\n\xff\xfe'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    const health = await fetch(`${t.url}/healthz`);
    assert.equal(health.status, 200);
  });

  test('health, readiness and Prometheus metrics', async () => {
    assert.deepEqual(await (await fetch(`${t.url}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${t.url}/readyz`);
    assert.equal(ready.status, 200);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    assert.match(metrics, /gatehouse_requests_total\{connection="openai",kind="llm.chat"/);
    assert.match(metrics, /gatehouse_upstream_errors_total\{connection="dead",code="upstream_unreachable"\} 1/);
    assert.match(metrics, /gatehouse_request_duration_seconds_bucket/);
  });
});

describe('admin.listen: the admin plane on a listener of its own', () => {
  test('the data plane serves the proxy but not the API; the admin listener serves the API', async () => {
    const t = await startTestGateway({ extraYaml: 'admin:\n  listen: 127.0.0.1:0\n' });
    try {
      assert.notEqual(t.gateway.adminUrl, t.gateway.url);
      const onDataPlane = await fetch(`${t.gateway.url}/api/v1/tokens`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(onDataPlane.status, 404);
      const onAdmin = await fetch(`${t.gateway.adminUrl}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ connections: ['openai'] }),
      });
      assert.equal(onAdmin.status, 201);
      const { token } = (await onAdmin.json()) as { token: string };
      const proxied = await fetch(`${t.gateway.url}/proxy/openai/v1/models`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(proxied.status, 200);
      assert.equal((await fetch(`${t.gateway.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${t.gateway.adminUrl}/proxy/openai/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
    } finally {
      await t.close();
    }
  });
});
