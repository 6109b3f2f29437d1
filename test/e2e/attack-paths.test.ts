/**
 * Class 4 of the outside attack (paths and methods): spellings of a path or method that a rule on
 * `request.http.path` or on an interaction kind would not see, sent through the real gateway to an
 * upstream that logs every request line it receives. Each attack asserts what reached the upstream,
 * what the client got and what was recorded under the id the client was shown.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, unknown>;
}

/** Answers 200 to anything and logs the raw request line: what the gateway forwarded, byte for byte. */
async function loggingUpstream(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

interface Reply {
  readonly status: number;
  readonly id: string;
  readonly code: string | null;
  readonly text: string;
}

interface Attack {
  readonly name: string;
  /** The request line's target, sent verbatim (node:http does not normalise it; fetch would). */
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly status: number;
  readonly code: string | null;
  /** What the upstream must have received (method and URL), or null when nothing may reach it. */
  readonly upstream: { readonly method: string; readonly url: string } | null;
  /** The rule recorded as deciding, when the policy decided. */
  readonly rule?: string;
  /** The path recorded in the summary (what policy read), when the request got that far. */
  readonly recordedPath?: string;
}

const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
const json = { 'content-type': 'application/json' };

const attacks: readonly Attack[] = [
  // a deny rule on request.http.path.startsWith("/admin")
  { name: 'encoded letters spell /admin', path: '/proxy/app/%61dmin/users', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin/users' },
  { name: 'a whole segment encoded', path: '/proxy/app/%61%64%6d%69%6e', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin' },
  { name: 'dot segments from an allowed path', path: '/proxy/app/public/../admin/users', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin/users' },
  { name: 'encoded dot segments', path: '/proxy/app/public/%2e%2E/admin', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin' },
  { name: 'a single-dot segment in front', path: '/proxy/app/./admin', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin' },
  { name: 'a doubled slash', path: '/proxy/app//admin/users', status: 403, code: 'policy_denied', upstream: null, rule: 'no-admin', recordedPath: '/admin/users' },
  { name: 'a matrix parameter', path: '/proxy/app/admin;x=1/users', status: 400, code: 'bad_request', upstream: null },
  { name: 'an encoded slash', path: '/proxy/app/public%2F..%2Fadmin', status: 400, code: 'bad_request', upstream: null },
  { name: 'backslashes', path: '/proxy/app/public\\..\\admin', status: 400, code: 'bad_request', upstream: null },
  { name: 'encoded backslashes', path: '/proxy/app/public%5C..%5Cadmin', status: 400, code: 'bad_request', upstream: null },
  { name: 'double-encoded dots', path: '/proxy/app/public/%252e%252e/admin', status: 400, code: 'bad_request', upstream: null },
  { name: 'overlong UTF-8 dots', path: '/proxy/app/public/%c0%ae%c0%ae/admin', status: 400, code: 'bad_request', upstream: null },
  { name: 'fullwidth dots', path: '/proxy/app/public/%EF%BC%8E%EF%BC%8E/admin', status: 400, code: 'bad_request', upstream: null },
  { name: 'an encoded NUL', path: '/proxy/app/admin%00/users', status: 400, code: 'bad_request', upstream: null },
  { name: 'a fragment', path: '/proxy/app/public#/../admin', status: 400, code: 'bad_request', upstream: null },
  // leaving the connection's base path
  { name: '.. out of the connection', path: '/proxy/app/../../admin', status: 400, code: 'bad_request', upstream: null },
  { name: 'encoded .. out of the connection', path: '/proxy/app/%2e%2e/%2e%2e/%2e%2e/etc/passwd', status: 400, code: 'bad_request', upstream: null },
  { name: '.. out of the connection after a detour', path: '/proxy/app/a/../../x', status: 400, code: 'bad_request', upstream: null },
  // a deny rule on interactions: [llm.chat]
  { name: 'an encoded letter in the endpoint', path: '/proxy/llm/v1/%63hat/completions', method: 'POST', headers: json, body: CHAT, status: 403, code: 'policy_denied', upstream: null, rule: 'no-chat' },
  { name: 'the endpoint in upper case', path: '/proxy/llm/V1/Chat/Completions', method: 'POST', headers: json, body: CHAT, status: 403, code: 'policy_denied', upstream: null, rule: 'no-chat' },
  { name: 'the endpoint with a trailing slash', path: '/proxy/llm/v1/chat/completions/', method: 'POST', headers: json, body: CHAT, status: 403, code: 'policy_denied', upstream: null, rule: 'no-chat' },
  { name: 'the endpoint behind dot segments', path: '/proxy/llm/v1/models/../chat/./completions', method: 'POST', headers: json, body: CHAT, status: 403, code: 'policy_denied', upstream: null, rule: 'no-chat' },
  { name: 'the endpoint with doubled slashes', path: '/proxy/llm/v1//chat//completions', method: 'POST', headers: json, body: CHAT, status: 403, code: 'policy_denied', upstream: null, rule: 'no-chat' },
  { name: 'the endpoint with a matrix parameter', path: '/proxy/llm/v1/chat/completions;x', method: 'POST', headers: json, body: CHAT, status: 400, code: 'bad_request', upstream: null },
  { name: 'the endpoint with an encoded matrix parameter', path: '/proxy/llm/v1/chat/completions%3bx', method: 'POST', headers: json, body: CHAT, status: 400, code: 'bad_request', upstream: null },
  // methods
  { name: 'a method-override header', path: '/proxy/app/public/items/1', method: 'POST', headers: { 'x-http-method-override': 'DELETE' }, status: 400, code: 'bad_request', upstream: null },
  { name: 'an X-HTTP-Method header', path: '/proxy/app/public/items/1', method: 'POST', headers: { 'X-HTTP-Method': 'DELETE' }, status: 400, code: 'bad_request', upstream: null },
  { name: 'a path-override header', path: '/proxy/app/public/items', headers: { 'x-original-url': '/admin/users' }, status: 400, code: 'bad_request', upstream: null },
  { name: 'a _method query parameter', path: '/proxy/app/public/items/1?_method=DELETE', method: 'POST', status: 400, code: 'bad_request', upstream: null },
  { name: 'an encoded _method query parameter', path: '/proxy/app/public/items/1?%5Fmethod=DELETE', method: 'POST', status: 400, code: 'bad_request', upstream: null },
  { name: 'a _method form field', path: '/proxy/app/public/items/1', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&_method=DELETE', status: 400, code: 'bad_request', upstream: null },
  { name: 'a percent-encoded _method form field', path: '/proxy/app/public/items/1', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&%5Fmethod=DELETE', status: 400, code: 'bad_request', upstream: null },
  { name: 'DELETE itself is decided by policy', path: '/proxy/app/public/items/1', method: 'DELETE', status: 403, code: 'policy_denied', upstream: null, rule: 'no-deletes' },
  // models
  { name: 'a denied model in upper case', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"model":"GPT-4O","input":"x"}', status: 403, code: 'policy_denied', upstream: null, rule: 'no-big-model' },
  { name: 'a denied model with spaces', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"model":" gpt-4o ","input":"x"}', status: 403, code: 'policy_denied', upstream: null, rule: 'no-big-model' },
  { name: 'a model given twice', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"model":"gpt-4o","input":"x","model":"text-embedding-3-small"}', status: 400, code: 'bad_request', upstream: null },
  { name: 'a model given twice, once escaped', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"mod\\u0065l":"gpt-4o","input":"x","model":"text-embedding-3-small"}', status: 400, code: 'bad_request', upstream: null },
  { name: 'a model given as an array', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"model":["gpt-4o"],"input":"x"}', status: 400, code: 'bad_request', upstream: null },
  // ordinary traffic: forwarded in its normal form, below the base path
  { name: 'an allowed path with dots and doubled slashes', path: '/proxy/app/public/./items//1/', status: 200, code: null, upstream: { method: 'GET', url: '/base/api/public/items/1/' }, recordedPath: '/public/items/1/' },
  { name: 'encoded unreserved and UTF-8', path: '/proxy/app/public/%7Euser/%c3%a9?q=%2e%2e', status: 200, code: null, upstream: { method: 'GET', url: '/base/api/public/~user/%C3%A9?q=%2e%2e' }, recordedPath: '/public/~user/%C3%A9' },
  { name: 'an allowed model', path: '/proxy/llm/v1/embeddings', method: 'POST', headers: json, body: '{"model":"Text-Embedding-3-Small","input":"x"}', status: 200, code: null, upstream: { method: 'POST', url: '/llm/v1/embeddings' }, recordedPath: '/v1/embeddings' },
];

describe('attacks on paths and methods', () => {
  let gw: TestGateway;
  let upstream: Awaited<ReturnType<typeof loggingUpstream>>;
  let token: string;

  before(async () => {
    upstream = await loggingUpstream();
    gw = await startTestGateway({
      extraConnections: `  - name: app\n    type: http\n    upstream: ${upstream.url}/base/api\n  - name: llm\n    type: openai\n    upstream: ${upstream.url}/llm\n`,
      policyYaml: `
policy:
  rules:
    - name: no-admin
      action: deny
      match: { connections: [app] }
      when: request.http.path.startsWith("/admin")
    - name: no-deletes
      action: deny
      match: { connections: [app] }
      when: request.http.method == "DELETE"
    - name: no-chat
      action: deny
      match: { connections: [llm], interactions: [llm.chat] }
    - name: no-big-model
      action: deny
      match: { connections: [llm] }
      when: has(request.llm) && request.llm.model == "gpt-4o"
    - name: allow-rest
      action: allow
`,
    });
    token = await gw.token({ connections: ['app', 'llm'] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  function send(attack: Attack): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const body = attack.body === undefined ? undefined : Buffer.from(attack.body);
      const req = httpRequest(`${gw.url}/`, {
        method: attack.method ?? 'GET',
        path: attack.path,
        headers: { authorization: `Bearer ${token}`, ...(attack.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            id: String(res.headers['x-request-id'] ?? ''),
            code: (res.headers['x-gatehouse-error'] as string | undefined) ?? null,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.end(body);
    });
  }

  for (const attack of attacks) {
    it(`${attack.name}: ${attack.path} → ${attack.status}`, async () => {
      const before = upstream.seen.length;
      const reply = await send(attack);
      assert.equal(reply.status, attack.status, reply.text);
      assert.equal(reply.code, attack.code);

      const reached = upstream.seen.slice(before);
      if (attack.upstream === null) assert.deepEqual(reached, [], 'nothing reached the upstream');
      else {
        assert.deepEqual(
          reached.map((s) => ({ method: s.method, url: s.url })),
          [attack.upstream],
        );
        for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url']) assert.equal(reached[0]!.headers[name], undefined);
      }

      assert.ok(reply.id, 'every answer names its record');
      const row = await gw.gateway.store.getInteraction(reply.id);
      assert.ok(row, 'the request was recorded under the id its client was shown');
      assert.equal(row.errorCode, attack.code);
      if (attack.status === 403) assert.equal(row.decision, 'deny');
      if (attack.rule) assert.equal(row.rule, attack.rule);
      if (attack.recordedPath) assert.equal((row.summary as { http?: { path?: string } }).http?.path, attack.recordedPath);
    });
  }

  it('the recorded model is the one sent; policy compared it folded', async () => {
    const reply = await send(attacks.find((a) => a.name === 'a denied model in upper case')!);
    const row = await gw.gateway.store.getInteraction(reply.id);
    assert.equal(row?.model, 'GPT-4O');
    assert.equal((row?.summary as { llm?: { model?: string } }).llm?.model, 'gpt-4o');
  });
});
