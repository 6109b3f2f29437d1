/**
 * The upstream talking back (issue 11, class 6): a hostile or careless upstream echoes the
 * credential the gateway sent it. Each test asserts what the upstream received (the gateway's
 * credential, never the agent's), what the agent could read (headers and body) and what was
 * recorded: the credential in none of them, in any form it came back in.
 *
 * The credentials deliberately look like nothing a secret detector knows, so only the
 * connection's own literal value can find them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';

const KEY = `plainUpstreamKey${randomBytes(12).toString('hex')}`;
const USER = 'svc-reporting';
// Characters that JSON, URLs and base64 all write differently.
const PASS = `pw/with+odd=chars"${randomBytes(8).toString('hex')}`;
const BASIC = Buffer.from(`${USER}:${PASS}`).toString('base64');
const GITHUB_TOKEN = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';

/** Every spelling of the credentials an echo could use, each of which must appear nowhere. */
const FORBIDDEN = [
  KEY,
  Buffer.from(KEY).toString('base64').slice(0, 20),
  PASS,
  JSON.stringify(PASS).slice(1, -1),
  JSON.stringify(PASS).slice(1, -1).replaceAll('/', '\\/'),
  encodeURIComponent(PASS),
  BASIC,
  Buffer.from(PASS).toString('base64').slice(0, 20),
];

interface Seen {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const next = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What the upstream received as the credential, exactly as it came (the thing it will echo). */
function credentialOf(req: IncomingMessage): string {
  return String(req.headers.authorization ?? req.headers['x-upstream-token'] ?? '');
}

/** The secret itself: a bearer token or header value, or the password of a Basic pair. */
function secretOf(req: IncomingMessage): string {
  const sent = credentialOf(req);
  if (!sent.startsWith('Basic ')) return sent.replace(/^Bearer /, '');
  const pair = Buffer.from(sent.slice('Basic '.length), 'base64').toString();
  return pair.slice(pair.indexOf(':') + 1);
}

const ROUTES: Record<string, Route> = {
  '/header-echo': (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-echo-key': credentialOf(req), 'x-echo-list': ['a', credentialOf(req)] });
    res.end('{"ok":true}');
  },
  '/www-authenticate': (req, res) => {
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': `Bearer realm="api", error="invalid_token", error_description="token ${secretOf(req)} is revoked"`,
    });
    res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${credentialOf(req)}`, type: 'invalid_request_error' } }));
  },
  '/json-echo': (req, res) => {
    // httpbin's /headers: the request's headers back as JSON.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ headers: req.headers }));
  },
  '/sse-split': async (req, res) => {
    const secret = secretOf(req);
    const event = (content: string) => JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${event('hello ')}\n\n`);
    await next();
    // One event cut in the middle of the credential, sent as two writes.
    const whole = `data: ${event(`the key is ${secret}!`)}\n\n`;
    const cut = whole.indexOf(secret) + 7;
    res.write(whole.slice(0, cut));
    await next();
    res.write(whole.slice(cut));
    await next();
    // And split across two events, as a model would stream it.
    res.write(`data: ${event(secret.slice(0, 9))}\n\n`);
    await next();
    res.write(`data: ${event(secret.slice(9))}\n\n`);
    res.end('data: [DONE]\n\n');
  },
  '/text': (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`debug: you sent ${credentialOf(req)}\n`);
  },
  '/error-500': (req, res) => {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end(`<html><body><pre>Traceback: auth=${credentialOf(req)} failed</pre></body></html>`);
  },
  '/decoded-basic': (req, res) => {
    // The upstream decodes the Basic pair and quotes the password, as JavaScript and PHP write it.
    const password = secretOf(req);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"user":"${USER}","js":${JSON.stringify(password)},"php":${JSON.stringify(password).replaceAll('/', '\\/')}}`);
  },
  '/urlencoded': (req, res) => {
    const encoded = encodeURIComponent(secretOf(req));
    res.writeHead(302, { location: `https://upstream.test/next?key=${encoded}`, 'content-type': 'application/x-www-form-urlencoded' });
    res.end(`redirect=1&key=${encoded}&lower=${encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`);
  },
  '/set-cookie': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': ['upstream_session=abc123; HttpOnly', 'tracking=1'] });
    res.end('cookies set');
  },
  '/header-name': (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', [`x-${secretOf(req)}`]: 'present' });
    res.end('named');
  },
  '/base64-body': (req, res) => {
    // The whole request line and headers base64-encoded, as a debugging echo might send them.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.from(`GET / HTTP/1.1\r\nAuthorization: ${credentialOf(req)}\r\n`).toString('base64'));
  },
  '/masked-headers': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-debug-token': `deploy with ${GITHUB_TOKEN}`, 'x-plain': 'nothing here', etag: '"v1"' });
    res.end('{"ok":true}');
  },
};

async function startHostileUpstream(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    seen.push({ url: req.url ?? '', headers: req.headers });
    const route = ROUTES[(req.url ?? '').split('?')[0]!];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    await route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function assertClean(where: string, text: string): void {
  for (const form of FORBIDDEN) assert.ok(!text.includes(form), `${where} holds the credential (${form.slice(0, 12)}…): ${text.slice(0, 300)}`);
}

describe('attack: an upstream that echoes the connection credential', () => {
  let t: TestGateway;
  let upstream: Awaited<ReturnType<typeof startHostileUpstream>>;
  let token: string;

  before(async () => {
    upstream = await startHostileUpstream();
    process.env.ECHO_KEY = KEY;
    process.env.ECHO_PASS = PASS;
    t = await startTestGateway({
      extraConnections: `
  - name: echo
    type: http
    upstream: ${upstream.url}
    credential: \${ECHO_KEY}
  - name: echo-basic
    type: http
    upstream: ${upstream.url}
    credential: { type: basic, username: ${USER}, value: "\${ECHO_PASS}" }
  - name: echo-header
    type: http
    upstream: ${upstream.url}
    credential: { type: header, header: X-Upstream-Token, value: "\${ECHO_KEY}" }
  - name: echo-masked
    type: http
    upstream: ${upstream.url}
    credential: \${ECHO_KEY}
  - name: echo-cookies
    type: http
    upstream: ${upstream.url}
    credential: \${ECHO_KEY}
    passCookies: true
`,
      policyYaml: `
policy:
  rules:
    - name: masked
      match: { connections: [echo-masked] }
      action: allow
      mask: pii
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['echo', 'echo-basic', 'echo-header', 'echo-masked', 'echo-cookies'] });
  });

  after(async () => {
    await t.close();
    await new Promise((resolve) => upstream.server.close(resolve));
    delete process.env.ECHO_KEY;
    delete process.env.ECHO_PASS;
  });

  /** Calls the gateway; returns the response, its body and every header as one text. */
  async function call(connection: string, path: string, headers: Record<string, string> = {}) {
    const before = upstream.seen.length;
    const response = await fetch(`${t.url}/proxy/${connection}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers }, redirect: 'manual' });
    const body = await response.text();
    const headerText = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    const received = upstream.seen.slice(before);
    assert.equal(received.length, 1, 'the upstream was called once');
    return { response, body, headerText, received: received[0]! };
  }

  /** Every text column of the interaction the gateway named in x-request-id. */
  async function recorded(response: Response): Promise<string> {
    const id = response.headers.get('x-request-id');
    assert.ok(id, 'the response names its record');
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(t.dir, 'gatehouse.db'), { readonly: true });
    try {
      const read = () => db.prepare('SELECT * FROM interactions WHERE id = ?').get(id) as Record<string, unknown> | undefined;
      // The record is completed just after the last byte is sent, so the client can be first.
      await pollUntil(() => read()?.status === 'complete', 'the interaction record completes');
      return JSON.stringify(read());
    } finally {
      db.close();
    }
  }

  async function assertNoEcho(connection: string, path: string, headers?: Record<string, string>) {
    const result = await call(connection, path, headers);
    // The echo is real: the upstream got the gateway's credential, and never the agent's token.
    assert.ok(credentialOf({ headers: result.received.headers } as IncomingMessage).length > 0);
    assert.ok(!JSON.stringify(result.received.headers).includes(token), 'the agent token reached the upstream');
    assertClean('the response headers', result.headerText);
    assertClean('the response body', result.body);
    assertClean('the recording', await recorded(result.response));
    return result;
  }

  test('1. echoed in a response header, and in one value of a repeated header', async () => {
    const { response, headerText } = await assertNoEcho('echo', '/header-echo');
    assert.equal(response.status, 200);
    assert.match(headerText, /x-echo-key: Bearer \[UPSTREAM_CREDENTIAL\]/);
    assert.match(headerText, /x-echo-list: a, Bearer \[UPSTREAM_CREDENTIAL\]/);
  });

  test('2. quoted in www-authenticate and in a 401 JSON error body', async () => {
    const { response, body, headerText } = await assertNoEcho('echo', '/www-authenticate');
    assert.equal(response.status, 401);
    assert.match(headerText, /www-authenticate: Bearer realm="api".*token \[UPSTREAM_CREDENTIAL\] is revoked/);
    assert.equal(JSON.parse(body).error.type, 'invalid_request_error', 'the body is still valid JSON');
  });

  test('3. the request headers echoed back as JSON (httpbin /headers)', async () => {
    const { body } = await assertNoEcho('echo', '/json-echo');
    assert.equal(JSON.parse(body).headers.authorization, 'Bearer [UPSTREAM_CREDENTIAL]');
  });

  test('4. in an event stream, cut across two writes and across two events', async () => {
    const { body, response } = await assertNoEcho('echo', '/sse-split');
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    assert.match(body, /the key is \[UPSTREAM_CREDENTIAL\]!/);
    assert.match(body, /data: \[DONE\]/);
    // Split across two events, neither piece is a form of the credential, so literal matching on
    // the bytes cannot see it: a client joining the deltas can. The recording, which joins them
    // the same way, is clean (asserted above), because the transcript is searched as a whole.
  });

  test('5. in a plain-text body', async () => {
    const { body } = await assertNoEcho('echo', '/text');
    assert.equal(body, 'debug: you sent Bearer [UPSTREAM_CREDENTIAL]\n');
  });

  test('6. in a 500 error page', async () => {
    const { response } = await assertNoEcho('echo', '/error-500');
    assert.equal(response.status, 500);
  });

  test('7. the Basic pair echoed base64-encoded, and the password decoded and JSON-escaped', async () => {
    const echoed = await assertNoEcho('echo-basic', '/json-echo');
    assert.equal(JSON.parse(echoed.body).headers.authorization, 'Basic [UPSTREAM_CREDENTIAL]');
    const decoded = await assertNoEcho('echo-basic', '/decoded-basic');
    assert.deepEqual(JSON.parse(decoded.body), { user: USER, js: '[UPSTREAM_CREDENTIAL]', php: '[UPSTREAM_CREDENTIAL]' });
  });

  test('8. percent-encoded in a Location header and a form body, upper- and lower-case hex', async () => {
    const { response, body } = await assertNoEcho('echo-basic', '/urlencoded');
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'https://upstream.test/next?key=[UPSTREAM_CREDENTIAL]');
    assert.equal(body, 'redirect=1&key=[UPSTREAM_CREDENTIAL]&lower=[UPSTREAM_CREDENTIAL]');
  });

  test('9. a header credential (x-upstream-token) echoed in a header and a JSON body', async () => {
    const headers = await assertNoEcho('echo-header', '/header-echo');
    assert.match(headers.headerText, /x-echo-key: \[UPSTREAM_CREDENTIAL\]/);
    await assertNoEcho('echo-header', '/json-echo');
  });

  test('10. the credential base64-encoded inside a longer block', async () => {
    const { body } = await assertNoEcho('echo', '/base64-body');
    assert.ok(body.includes('[UPSTREAM_CREDENTIAL]'));
  });

  test('11. a header whose name holds the credential is dropped', async () => {
    const { headerText, body } = await assertNoEcho('echo', '/header-name');
    assert.equal(body, 'named');
    assert.ok(!headerText.includes('present'));
  });

  test('12. set-cookie from the upstream never reaches the agent unless the connection passes cookies', async () => {
    const plain = await assertNoEcho('echo', '/set-cookie');
    assert.equal(plain.response.headers.getSetCookie().length, 0);
    const passing = await assertNoEcho('echo-cookies', '/set-cookie');
    assert.deepEqual(passing.response.headers.getSetCookie(), ['upstream_session=abc123; HttpOnly', 'tracking=1']);
  });

  test("13. the agent's cookie never reaches the upstream unless the connection passes cookies", async () => {
    const plain = await assertNoEcho('echo', '/json-echo', { cookie: 'agent_session=xyz' });
    assert.equal(plain.received.headers.cookie, undefined);
    assert.equal(JSON.parse(plain.body).headers.cookie, undefined);
    const passing = await assertNoEcho('echo-cookies', '/json-echo', { cookie: 'agent_session=xyz' });
    assert.equal(passing.received.headers.cookie, 'agent_session=xyz');
  });

  test('14. under a profile, response header values are masked too (structural headers kept)', async () => {
    const { response, headerText } = await assertNoEcho('echo-masked', '/masked-headers');
    assert.ok(!headerText.includes(GITHUB_TOKEN), headerText);
    assert.match(response.headers.get('x-debug-token') ?? '', /^deploy with \[GITHUB_TOKEN\]$/);
    assert.equal(response.headers.get('x-plain'), 'nothing here');
    assert.equal(response.headers.get('etag'), '"v1"');
    assertClean('the recording', await recorded(response));
  });

  test('15. under a profile the echo is caught as well, in headers, JSON and the stream', async () => {
    await assertNoEcho('echo-masked', '/header-echo');
    await assertNoEcho('echo-masked', '/json-echo');
    await assertNoEcho('echo-masked', '/sse-split');
  });

  test('16. the gateway asks a credentialed upstream for an uncompressed body, so an echo stays visible to it', async () => {
    const { received } = await assertNoEcho('echo', '/text', { 'accept-encoding': 'gzip, br' });
    assert.equal(received.headers['accept-encoding'], 'identity');
  });
});
