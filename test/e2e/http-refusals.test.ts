/**
 * Every way the HTTP adapter refuses or fails a request is recorded exactly once, under the id the
 * client was shown (x-request-id), and none of them stops the gateway: after each, the next
 * request is served. The upstream here is hostile on purpose: it answers in shapes the maskers
 * cannot read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const SECRET = 'AKIAIOSFODNN7EXAMPLE';

/** Answers by path: each path one shape a masker must place or refuse. */
function hostileUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const send = (type: string | null, body: Buffer | string, extra: Record<string, string> = {}) => {
      const headers: Record<string, string> = { ...extra };
      if (type) headers['content-type'] = type;
      res.writeHead(200, headers).end(body);
    };
    switch (req.url) {
      case '/octet':
        return send('application/octet-stream', Buffer.from(`bytes ${SECRET}`));
      case '/untyped':
        return send(null, `text ${SECRET}`);
      case '/gzip':
        return send('application/json', gzipSync(JSON.stringify({ key: SECRET })), { 'content-encoding': 'gzip' });
      case '/unknown-encoding':
        return send('application/json', Buffer.from('zzz'), { 'content-encoding': 'x-custom' });
      case '/sse-garbage':
        return send('text/event-stream', `data: not json ${SECRET}\n\n`);
      case '/slow-stream':
        // one event, then nothing until the client gives up
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n');
        return;
      case '/json':
        return send('application/json', JSON.stringify({ key: SECRET }));
      default:
        return send('application/json', '{"ok":true}');
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}

describe('HTTP adapter: refusals and failures are recorded once, and the gateway keeps serving', () => {
  let gw: TestGateway;
  let upstream: Awaited<ReturnType<typeof hostileUpstream>>;
  let token: string;

  before(async () => {
    upstream = await hostileUpstream();
    gw = await startTestGateway({
      extraConnections: `  - name: hostile\n    type: http\n    upstream: ${upstream.url}\n`,
      policyYaml: `
policy:
  rules:
    - name: no-admin-paths
      action: deny
      match: { connections: [hostile] }
      when: request.http.path.startsWith("/admin")
    - name: mask-hostile
      action: allow
      match: { connections: [hostile] }
      mask: secrets
    - name: allow-rest
      action: allow
`,
    });
    token = await gw.token({ connections: ['hostile', 'openai'] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function send(path: string, init: RequestInit = {}, auth: string | null = token) {
    const response = await fetch(`${gw.url}${path}`, {
      ...init,
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(init.headers as Record<string, string> | undefined) },
    });
    const text = await response.text();
    return { status: response.status, text, id: response.headers.get('x-request-id'), code: response.headers.get('x-gatehouse-error') };
  }

  async function recorded(id: string | null) {
    assert.ok(id, 'every response carries x-request-id');
    const row = await gw.gateway.store.getInteraction(id);
    assert.ok(row, `the request ${id} was recorded under the id its client was shown`);
    return row;
  }

  async function countWith(id: string): Promise<number> {
    const row = await gw.gateway.store.getInteraction(id);
    if (!row) return 0;
    return (await gw.gateway.store.listInteractions(row.sessionId)).filter((r) => r.id === id).length;
  }

  const ok = () => send('/proxy/hostile/fine');

  const refusals: { name: string; path: string; init?: RequestInit; auth?: string | null; status: number; code: string }[] = [
    { name: 'no credential', path: '/proxy/hostile/fine', auth: null, status: 401, code: 'auth_missing' },
    { name: 'a made-up token', path: '/proxy/hostile/fine', auth: `gth_${'x'.repeat(40)}`, status: 401, code: 'auth_invalid' },
    { name: 'an unknown connection', path: '/proxy/no-such-thing/x', status: 404, code: 'unknown_connection' },
    { name: 'bad percent-encoding in the connection name', path: '/proxy/%E0%A4%A/x', status: 400, code: 'bad_request' },
    { name: 'a denied path', path: '/proxy/hostile/admin/users', status: 403, code: 'policy_denied' },
    {
      name: 'invalid JSON to a model',
      path: '/proxy/openai/v1/chat/completions',
      init: { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'a body over the limit',
      path: '/proxy/openai/v1/chat/completions',
      init: { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/json' } },
      status: 413,
      code: 'body_too_large',
    },
    { name: 'an octet-stream answer under a profile', path: '/proxy/hostile/octet', status: 502, code: 'masking_failed' },
    { name: 'an untyped answer under a profile', path: '/proxy/hostile/untyped', status: 502, code: 'masking_failed' },
    { name: 'an unknown content-encoding under a profile', path: '/proxy/hostile/unknown-encoding', status: 502, code: 'masking_failed' },
  ];

  for (const r of refusals) {
    it(`${r.name}: ${r.status} ${r.code}, recorded once, secret never shown, next request served`, async () => {
      const res = await send(r.path, r.init ?? {}, r.auth === undefined ? token : r.auth);
      assert.equal(res.status, r.status);
      assert.equal(res.code, r.code);
      assert.ok(!res.text.includes(SECRET), 'the client never sees the unmasked secret');
      const row = await recorded(res.id);
      assert.equal(row.errorCode, r.code);
      assert.equal(await countWith(res.id!), 1);
      assert.ok(!JSON.stringify(row).includes(SECRET), 'the recording holds no raw secret');
      assert.equal((await ok()).status, 200, 'the gateway still serves');
    });
  }

  it('a gzip answer under a profile is decoded, masked and sent uncompressed', async () => {
    const res = await send('/proxy/hostile/gzip');
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes(SECRET));
    assert.match(res.text, /"key"/);
    const row = await recorded(res.id);
    assert.equal(row.errorCode, null);
  });

  it('an event stream it cannot read ends with an error event, never the raw data', async () => {
    const res = await send('/proxy/hostile/sse-garbage');
    assert.equal(res.status, 200, 'the stream had started');
    assert.ok(!res.text.includes(SECRET));
    const row = await recorded(res.id);
    assert.equal(row.errorCode, 'masking_failed');
    assert.equal((await ok()).status, 200);
  });

  it('a client that leaves mid-request is recorded as client_aborted', async () => {
    const id = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/proxy/hostile/slow-stream`, { headers: { authorization: `Bearer ${token}` } });
      req.on('error', () => undefined);
      req.on('response', (res) => {
        resolve(String(res.headers['x-request-id']));
        req.destroy();
      });
      req.on('error', reject);
      req.end();
    });
    let row = await gw.gateway.store.getInteraction(id);
    // bounded by count: the record completes once the gateway has seen the socket close
    for (let i = 0; i < 500 && (row === null || row.status === 'open'); i++) {
      await new Promise((r) => setTimeout(r, 10));
      row = await gw.gateway.store.getInteraction(id);
    }
    assert.equal(row?.status, 'complete');
    assert.equal(row?.errorCode, 'client_aborted');
  });
});
