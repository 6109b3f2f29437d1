import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
});
after(() => t.close());

/** The API's refusal: status, code and the field it names, as a client program reads them. */
function assertRefusal(result: { status: number; json: any }, field: string, where: 'body' | 'query' | 'path') {
  assert.equal(result.status, 400, JSON.stringify(result.json));
  assert.equal(result.json.error.code, 'invalid_argument');
  assert.equal(result.json.error.type, 'invalid_request_error');
  assert.equal(result.json.error.gatehouse.field, field);
  assert.equal(result.json.error.gatehouse.in, where);
  assert.ok(result.json.error.message.startsWith(`${field}: `), result.json.error.message);
}

const cases: { name: string; method: string; path: string; body?: unknown; field: string; where: 'body' | 'query' | 'path' }[] = [
  { name: 'a body field of the wrong type', method: 'POST', path: '/tokens', body: { connections: 'openai' }, field: 'connections', where: 'body' },
  { name: 'a body field failing its check', method: 'POST', path: '/tokens', body: { connections: [] }, field: 'connections', where: 'body' },
  { name: 'a nested body field', method: 'POST', path: '/tokens', body: { connections: ['openai'], for: { user: '' } }, field: 'for.user', where: 'body' },
  { name: 'a duration that does not parse', method: 'POST', path: '/service-accounts', body: { name: 'a', owner: 'b', connections: ['openai'], expires: 'later' }, field: 'expires', where: 'body' },
  { name: 'a missing body', method: 'POST', path: '/tokens', field: 'connections', where: 'body' },
  { name: 'a query value out of range', method: 'GET', path: '/sessions?limit=0', field: 'limit', where: 'query' },
  { name: 'a query value that is not a number', method: 'GET', path: '/sessions?offset=first', field: 'offset', where: 'query' },
  { name: 'a query value outside its choices', method: 'GET', path: '/tokens?all=yes', field: 'all', where: 'query' },
  { name: 'a path parameter no connection could have', method: 'GET', path: '/connections/Not%20A%20Name', field: 'name', where: 'path' },
  { name: 'a connection body whose upstream does not suit its type', method: 'PUT', path: '/connections/db', body: { type: 'postgres', upstream: 'http://x' }, field: 'upstream', where: 'body' },
];

for (const c of cases) {
  test(`${c.name} is a 400 invalid_argument naming ${c.field}`, async () => {
    assertRefusal(await t.api(c.method, c.path, c.body), c.field, c.where);
  });
}

test('unknown fields are refused, in a body and in a query string alike, and nothing is created', async () => {
  const before = (await t.api('GET', '/tokens')).json.tokens.length;
  assertRefusal(await t.api('POST', '/tokens', { connections: ['openai'], colour: 'blue' }), 'colour', 'body');
  assertRefusal(await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'ann', role: 'x' } }), 'for.role', 'body');
  assertRefusal(await t.api('GET', '/sessions?limit=5&colour=blue'), 'colour', 'query');
  const both = await t.api('PUT', '/connections/x', { type: 'http', upstream: 'http://127.0.0.1:9', a: 1, b: 2 });
  assert.equal(both.json.error.code, 'invalid_argument');
  assert.equal(both.json.error.message, 'a, b: unknown fields');
  assert.equal((await t.api('GET', '/tokens')).json.tokens.length, before);
  assert.equal((await t.api('GET', '/connections/x')).status, 404);
});

test('a body that is not JSON is bad_request and one over the limit body_too_large, both in the API error shape', async () => {
  const send = (body: string) =>
    fetch(`${t.url}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${t.env.GATEHOUSE_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body });
  const malformed = await send('{"connections": [');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('x-gatehouse-error'), 'bad_request');
  assert.equal(((await malformed.json()) as any).error.code, 'bad_request');
  const large = await send(JSON.stringify({ connections: ['openai'], name: 'x'.repeat(1_100_000) }));
  assert.equal(large.status, 413);
  assert.equal(((await large.json()) as any).error.code, 'body_too_large');
});

test('valid requests still pass, with defaults filled in and query numbers read as numbers', async () => {
  const created = await t.api('POST', '/tokens', { connections: ['openai'], ttl: '15m' });
  assert.equal(created.status, 201);
  assert.equal(created.json.name, 'agent token');
  assert.ok(created.json.token.startsWith('gth_'));
  const listed = await t.api('GET', '/sessions?limit=1&offset=0');
  assert.equal(listed.status, 200);
  assert.ok(Array.isArray(listed.json.sessions));
});

test('each route accepts exactly the credentials its security in the document names', async () => {
  const doc = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as any;
  const created = await t.api('POST', '/service-accounts', { name: 'ci', owner: 'admin', connections: ['openai'], expires: '1d' });
  const secret: string = created.json.secret;
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const schemes: string[] = (op.security ?? doc.security).flatMap((s: object) => Object.keys(s));
      const call = (token?: string) =>
        fetch(`${t.url}${path.replace(/\{\w+\}/g, 'x')}`, {
          method: method.toUpperCase(),
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(method === 'post' ? { 'content-type': 'application/json' } : {}) },
          ...(method === 'post' ? { body: '{}' } : {}),
        });
      const where = `${method.toUpperCase()} ${path}`;
      const anonymous = await call();
      // A public route is not refused for want of a token; it may still refuse the empty body it was sent.
      if (schemes.length === 0) {
        assert.ok(anonymous.status < 500 && anonymous.status !== 401 && anonymous.status !== 403, `${where} answered ${anonymous.status}`);
        if (anonymous.status >= 400) assert.notEqual(((await anonymous.json()) as any).error?.code, 'auth_missing', where);
      }
      else assert.equal(((await anonymous.json()) as any).error.code, 'auth_missing', where);
      const withSecret = await call(secret);
      if (schemes.includes('serviceAccountSecret')) assert.equal(withSecret.status, 201, where);
      else if (schemes.includes('adminToken')) assert.ok([401, 403].includes(withSecret.status), `${where} let a gts_ secret in`);
    }
  }
});

test('the data-plane health routes keep their own answers (the zod compilers stay inside the API)', async () => {
  const health = await fetch(`${t.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
});
