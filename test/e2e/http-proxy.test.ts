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

  test('malformed requests on the proxy path are refused by the gateway, reach no upstream, and the next request is served', async () => {
    const token = await t.token();
    const port = Number(new URL(t.url).port);
    const marker = `malformed-${Math.random().toString(36).slice(2)}`;
    const reachedUpstream = () => t.demo.requests.some((r) => r.body.includes(marker));
    const chatHead = (path: string, length: number) =>
      `POST ${path} HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n`;
    const body = JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: marker }] });

    // Bad percent-encoding in the connection name: our router decodes it, not Node's parser.
    const badName = parseResponse(await rawExchange(port, chatHead('/proxy/open%E0%A4%A/v1/chat/completions', body.length) + body));
    assert.ok(badName.status >= 400 && badName.status < 500, `bad percent-encoding answered ${badName.status}`);
    assert.equal(typeof JSON.parse(badName.body).error.code, 'string', 'an OpenAI-shaped error with a gateway code');

    // A body that is not JSON on a JSON endpoint: classified by us and refused before forwarding.
    const notJson = `{"model":"demo","messages":[{"role":"user","content":"${marker}"`;
    const invalid = parseResponse(await rawExchange(port, chatHead('/proxy/openai/v1/chat/completions', notJson.length) + notJson));
    assert.ok(invalid.status >= 400 && invalid.status < 500, `invalid JSON answered ${invalid.status}`);
    assert.equal(typeof JSON.parse(invalid.body).error.code, 'string');

    // A body shorter than its content-length, then the client stops sending: nothing may be forwarded.
    const truncated = await rawExchange(port, chatHead('/proxy/openai/v1/chat/completions', body.length + 1000) + body, true);
    if (truncated !== '') assert.ok(parseResponse(truncated).status >= 400, 'a truncated body is not answered as a success');

    assert.equal(reachedUpstream(), false, 'a malformed request reached the upstream');
    const next = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'after the garbage' }] }),
    });
    assert.equal(next.status, 200);
  });

  test('health, readiness and Prometheus metrics', async () => {
    assert.deepEqual(await (await fetch(`${t.url}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${t.url}/readyz`);
    assert.equal(ready.status, 200);
    const anonymous = await fetch(`${t.url}/metrics`);
    assert.equal(anonymous.status, 401, 'metrics on a listener agents reach need an admin token');
    const agent = await t.token();
    assert.equal((await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${agent}` } })).status, 401, 'an agent token is not enough');
    const metrics = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
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
      assert.equal((await fetch(`${t.gateway.url}/metrics`)).status, 404, 'no metrics on the data plane');
      assert.equal((await fetch(`${t.gateway.adminUrl}/metrics`)).status, 200, 'the internal admin listener serves them to a scraper without a token');
      assert.equal((await fetch(`${t.gateway.adminUrl}/proxy/openai/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
    } finally {
      await t.close();
    }
  });
});

/**
 * Sends raw bytes and collects everything the gateway answers until it closes (the requests say
 * `connection: close`). `endInput` half-closes after sending, so a short body meets end of input.
 */
function rawExchange(port: number, request: string, endInput = false): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => (endInput ? socket.end(request) : socket.write(request)));
    socket.on('data', (d) => (received += d));
    socket.on('close', () => resolve(received));
    socket.on('error', () => undefined);
  });
}

function parseResponse(raw: string): { status: number; body: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? NaN);
  const at = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, at);
  let body = raw.slice(at + 4);
  if (/transfer-encoding: chunked/i.test(head)) {
    // Enough de-chunking for one small JSON body.
    let out = '';
    for (let pos = 0; pos < body.length; ) {
      const eol = body.indexOf('\r\n', pos);
      const size = parseInt(body.slice(pos, eol), 16);
      if (!size) break;
      out += body.slice(eol + 2, eol + 2 + size);
      pos = eol + 2 + size + 2;
    }
    body = out;
  }
  return { status, body };
}
