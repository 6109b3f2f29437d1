/**
 * Every path a byte can take from an HTTP upstream to the client under a masking profile (issue
 * 19, item 6; docs/masking.md, "Every channel"). A hostile upstream written on a raw socket puts a
 * secret in each: the reason phrase, 1xx informational responses (103 Early Hints with headers,
 * 100, 102), headers the proxy treats as structural, header names, trailers, chunk extensions,
 * a redirect, an error body, a compressed body, a 101 upgrade, malformed framing. The client
 * (node:http, which shows 1xx responses, the reason phrase and trailers) must see the secret in
 * none of them: each channel is masked, dropped, or the response fails closed.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';

const TOKEN = 'ghp_' + 'Zq8Xw2Rt5Yu7Io9Pa1Sd3Fg4Hj6Kl0Mn2Bv4C';
const CRLF = '\r\n';

function head(status: string, headers: ReadonlyArray<readonly [string, string]>): string {
  return `HTTP/1.1 ${status}${CRLF}${headers.map(([k, v]) => `${k}: ${v}${CRLF}`).join('')}${CRLF}`;
}
const fixed = (status: string, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer): Buffer =>
  Buffer.concat([Buffer.from(head(status, [...headers, ['Content-Length', String(Buffer.byteLength(body))]])), Buffer.from(body)]);
const plain = (body: string) => fixed('200 OK', [['Content-Type', 'text/plain']], body);

/** What the upstream writes for each path, raw. */
const ROUTES: Record<string, () => Buffer | string> = {
  '/reason-phrase': () => fixed(`200 token ${TOKEN}`, [['Content-Type', 'text/plain']], 'ok'),
  '/early-hints': () => head('103 Early Hints', [['Link', `</${TOKEN}.css>; rel=preload`], ['X-Leak', TOKEN]]) + plain('ok').toString(),
  '/early-hints-twice': () =>
    head('103 Early Hints', [['Link', '</a.css>; rel=preload']]) + head(`103 ${TOKEN}`, [['X-Leak', TOKEN]]) + plain('ok').toString(),
  '/unsolicited-100-and-102': () => head(`100 ${TOKEN}`, []) + head('102 Processing', [['X-Leak', TOKEN]]) + plain('ok').toString(),
  '/structural-headers': () =>
    fixed(
      '200 OK',
      [
        ['Content-Type', `text/plain; note=${TOKEN}`],
        ['ETag', `"${TOKEN}"`],
        ['Cache-Control', `private, ${TOKEN}`],
        ['Vary', TOKEN],
        ['Last-Modified', `Tue, 01 Jan 2030 00:00:00 GMT ${TOKEN}`],
        ['Age', `1 ${TOKEN}`],
        ['Accept-Ranges', TOKEN],
        ['Content-Language', TOKEN],
      ],
      'ok',
    ),
  '/ordinary-headers': () =>
    fixed(
      '200 OK',
      [
        ['Content-Type', 'application/json; charset=utf-8'],
        ['ETag', 'W/"5f3a-1b2c"'],
        ['Cache-Control', 'private, max-age=60'],
        ['Last-Modified', 'Tue, 01 Jan 2030 00:00:00 GMT'],
      ],
      '{}',
    ),
  '/header-name': () => fixed('200 OK', [['Content-Type', 'text/plain'], [`X-${TOKEN}`, 'present']], 'ok'),
  '/repeated-header': () => fixed('200 OK', [['Content-Type', 'text/plain'], ['X-Note', 'one'], ['X-Note', `two ${TOKEN}`]], 'ok'),
  '/trailers': () =>
    head('200 OK', [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked'], ['Trailer', 'X-Leak']]) + `2${CRLF}ok${CRLF}0${CRLF}X-Leak: ${TOKEN}${CRLF}${CRLF}`,
  '/chunk-extensions': () =>
    head('200 OK', [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']]) + `2;leak=${TOKEN}${CRLF}ok${CRLF}0${CRLF}${CRLF}`,
  '/secret-split-across-chunks': () =>
    head('200 OK', [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']]) +
    [`key ${TOKEN.slice(0, 10)}`, `${TOKEN.slice(10)} end`].map((c) => `${Buffer.byteLength(c).toString(16)}${CRLF}${c}${CRLF}`).join('') +
    `0${CRLF}${CRLF}`,
  '/redirect': () => fixed('302 Found', [['Location', `https://elsewhere.test/?t=${TOKEN}`], ['Content-Type', 'text/plain']], `moved to ${TOKEN}`),
  '/error-body': () => fixed('500 Internal Server Error', [['Content-Type', 'text/html']], `<pre>Traceback: key=${TOKEN}</pre>`),
  '/gzip-body': () => fixed('200 OK', [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']], gzipSync(`the key is ${TOKEN}`)),
  '/json-body': () => fixed('200 OK', [['Content-Type', 'application/json']], JSON.stringify({ note: `key ${TOKEN}` })),
  '/event-stream': () =>
    head('200 OK', [['Content-Type', 'text/event-stream'], ['Transfer-Encoding', 'chunked']]) +
    [`event: ${TOKEN}\nid: ${TOKEN}\nretry: 10\n: comment ${TOKEN}\ndata: key ${TOKEN}\n\n`].map((c) => `${Buffer.byteLength(c).toString(16)}${CRLF}${c}${CRLF}`).join('') +
    `0${CRLF}${CRLF}`,
  '/switching-protocols': () => head('101 Switching Protocols', [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['X-Leak', TOKEN]]) + `raw ${TOKEN}`,
  '/two-content-lengths': () => `HTTP/1.1 200 OK${CRLF}Content-Type: text/plain${CRLF}Content-Length: 2${CRLF}Content-Length: 60${CRLF}${CRLF}ok${TOKEN}`,
  '/obs-fold': () => `HTTP/1.1 200 OK${CRLF}Content-Type: text/plain${CRLF}X-Fold: a${CRLF} ${TOKEN}${CRLF}Content-Length: 2${CRLF}${CRLF}ok`,
  '/truncated-body': () => `HTTP/1.1 200 OK${CRLF}Content-Type: text/plain${CRLF}Content-Length: 500${CRLF}${CRLF}the key is ${TOKEN.slice(0, 20)}`,
  '/http09-garbage': () => `key ${TOKEN}${CRLF}${CRLF}`,
};

async function startRawUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((socket: Socket) => {
    let seen = '';
    socket.on('error', () => {});
    socket.on('data', (data) => {
      seen += data.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      const path = seen.split(' ')[1]?.split('?')[0] ?? '/';
      const route = ROUTES[path];
      socket.end(route ? route() : plain('none'));
      seen = '';
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Seen {
  readonly status: number | null;
  readonly reason: string;
  readonly informational: Array<{ statusCode: number; statusMessage: string; headers: IncomingHttpHeaders }>;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
  readonly trailers: string[];
  readonly error: string | null;
}

describe('every channel from an HTTP upstream to the client is masked, dropped or fails closed', () => {
  let gateway: TestGateway;
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let agentToken: string;

  before(async () => {
    upstream = await startRawUpstream();
    gateway = await startTestGateway({
      extraConnections: `
  - name: hostile
    type: http
    upstream: ${upstream.url}
`,
      policyYaml: `
policy:
  rules:
    - name: masked
      match: { connections: [hostile] }
      action: allow
      mask: secrets
    - name: allow-all
      action: allow
`,
    });
    agentToken = await gateway.token({ connections: ['hostile'] });
  });

  after(async () => {
    await gateway.close();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  function call(path: string, headers: Record<string, string> = {}): Promise<Seen> {
    const url = new URL(`${gateway.url}/proxy/hostile${path}`);
    return new Promise((resolve) => {
      const informational: Seen['informational'] = [];
      const req = httpRequest(url, { headers: { authorization: `Bearer ${agentToken}`, ...headers } });
      req.on('information', (info) => informational.push({ statusCode: info.statusCode, statusMessage: info.statusMessage, headers: info.headers }));
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? null, reason: res.statusMessage ?? '', informational, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.alloc(0), trailers: [], error: 'upgraded' });
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const done = (error: string | null) =>
          resolve({ status: res.statusCode ?? null, reason: res.statusMessage ?? '', informational, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), trailers: res.rawTrailers, error });
        res.on('end', () => done(null));
        res.on('error', (err) => done(err.message));
        res.on('aborted', () => done('aborted'));
      });
      req.on('error', (err) => resolve({ status: null, reason: '', informational, headers: {}, rawHeaders: [], body: Buffer.alloc(0), trailers: [], error: err.message }));
      req.end();
    });
  }

  /** Everything the client could read, decoded where it is compressed. */
  function readable(seen: Seen): string {
    let body = seen.body;
    if (seen.headers['content-encoding'] === 'gzip') {
      try {
        body = gunzipSync(body);
      } catch {
        // Not gzip after all: the raw bytes are what the client has.
      }
    }
    return JSON.stringify({ ...seen, body: body.toString('latin1') });
  }

  const secretParts = [TOKEN, TOKEN.slice(4, 20), TOKEN.slice(20)];
  function assertNoSecret(path: string, seen: Seen): void {
    const text = readable(seen);
    for (const part of secretParts) assert.ok(!text.includes(part), `${path}: the client could read ${part} in ${text.slice(0, 600)}`);
  }

  it('the reason phrase is the gateway’s, never the upstream’s', async () => {
    const seen = await call('/reason-phrase');
    assertNoSecret('/reason-phrase', seen);
    assert.equal(seen.status, 200);
    assert.equal(seen.reason, 'OK');
  });

  for (const path of ['/early-hints', '/early-hints-twice', '/unsolicited-100-and-102']) {
    it(`1xx informational responses are not relayed (${path})`, async () => {
      const seen = await call(path);
      assertNoSecret(path, seen);
      assert.deepEqual(seen.informational, [], 'no 1xx reached the client');
      // Early Hints are skipped and the final response relayed; an unsolicited 100 may fail the exchange instead.
      if (path !== '/unsolicited-100-and-102') assert.equal(seen.body.toString(), 'ok');
    });
  }

  it('content-type, etag, cache-control, vary and the like are masked; dates and lengths pass only in their strict shape', async () => {
    const seen = await call('/structural-headers');
    assertNoSecret('/structural-headers', seen);
    assert.equal(seen.status, 200);
    assert.equal(seen.body.toString(), 'ok');
    assert.match(String(seen.headers.etag), /\[GITHUB_TOKEN\]/);
  });

  it('ordinary structural headers pass unchanged', async () => {
    const seen = await call('/ordinary-headers');
    assert.equal(seen.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(seen.headers.etag, 'W/"5f3a-1b2c"');
    assert.equal(seen.headers['cache-control'], 'private, max-age=60');
    assert.equal(seen.headers['last-modified'], 'Tue, 01 Jan 2030 00:00:00 GMT');
  });

  it('a header whose name holds a secret is dropped; one value of a repeated header is masked', async () => {
    const named = await call('/header-name');
    assertNoSecret('/header-name', named);
    const repeated = await call('/repeated-header');
    assertNoSecret('/repeated-header', repeated);
    assert.match(String(repeated.headers['x-note']), /one, two \[GITHUB_TOKEN\]/);
  });

  it('trailers are never relayed', async () => {
    const seen = await call('/trailers');
    assertNoSecret('/trailers', seen);
    assert.deepEqual(seen.trailers, []);
    assert.equal(seen.body.toString(), 'ok');
  });

  it('chunk extensions are never relayed, and a secret split across chunks is still masked', async () => {
    assertNoSecret('/chunk-extensions', await call('/chunk-extensions'));
    const split = await call('/secret-split-across-chunks');
    assertNoSecret('/secret-split-across-chunks', split);
    assert.match(split.body.toString(), /key \[GITHUB_TOKEN\] end/);
  });

  it('a redirect’s Location and body, an error body, a JSON body and an event stream’s fields are masked', async () => {
    for (const path of ['/redirect', '/error-body', '/json-body', '/event-stream']) {
      const seen = await call(path);
      assertNoSecret(path, seen);
      assert.ok(seen.status !== null, path);
    }
  });

  it('a compressed body is decoded and masked, or refused', async () => {
    const seen = await call('/gzip-body');
    assertNoSecret('/gzip-body', seen);
  });

  it('a 101 upgrade is never relayed: no tunnel opens, and the client’s own upgrade request is not passed on', async () => {
    const seen = await call('/switching-protocols');
    assertNoSecret('/switching-protocols', seen);
    assert.notEqual(seen.status, 101);
    const asked = await call('/switching-protocols', { connection: 'upgrade', upgrade: 'websocket' });
    assertNoSecret('/switching-protocols (client upgrade)', asked);
    assert.notEqual(asked.status, 101);
  });

  for (const path of ['/two-content-lengths', '/obs-fold', '/truncated-body', '/http09-garbage']) {
    it(`malformed framing fails closed (${path})`, async () => {
      const seen = await call(path);
      assertNoSecret(path, seen);
    });
  }
});
