import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN, startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
});
after(() => t.close());

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

test('a connection credential never comes back: not from PUT, GET, the list, a refusal or the OpenAPI document', async () => {
  const bearer = secret('sk-bearer');
  const header = secret('hdr');
  const password = secret('pw');
  const written = [bearer, header, password, UPSTREAM_KEY];
  const seen: string[] = [];
  const keep = (result: { status: number; json: any }) => {
    seen.push(JSON.stringify(result.json));
    return result;
  };

  assert.equal(keep(await t.api('PUT', '/connections/plain', { type: 'http', upstream: 'https://example.test', credential: bearer })).status, 201);
  assert.equal(keep(await t.api('PUT', '/connections/hdr', { type: 'http', upstream: 'https://example.test', credential: { type: 'header', header: 'x-key', value: header } })).status, 201);
  const db = { type: 'postgres', upstream: 'postgres://db.test:5432/app', credential: { type: 'basic', username: 'app', value: password } };
  assert.equal(keep(await t.api('PUT', '/connections/db', db)).status, 201);
  assert.equal(keep(await t.api('PUT', '/connections/db', db)).status, 200);
  // A refusal must not echo what it refused.
  assert.equal(keep(await t.api('PUT', '/connections/bad', { type: 'http', upstream: 'https://x.test', credential: { type: 'bearer', value: bearer, note: 1 } })).status, 400);
  assert.equal(keep(await t.api('PUT', '/connections/bad', { type: 'postgres', upstream: 'postgres://x/y', credential: header })).status, 400);

  const listed = keep(await t.api('GET', '/connections'));
  assert.deepEqual(
    listed.json.connections.map((c: any) => [c.name, c.hasCredential]),
    [['db', true], ['hdr', true], ['openai', true], ['other', true], ['plain', true]],
  );
  for (const name of ['plain', 'hdr', 'db', 'openai']) keep(await t.api('GET', `/connections/${name}`));
  seen.push(await (await fetch(`${t.url}/api/v1/openapi.json`)).text());

  for (const body of seen) for (const value of written) assert.ok(!body.includes(value), `a response carried a credential: ${body.slice(0, 200)}`);
});

test('the OpenAPI document holds no secret-looking value, and nothing under a credential, token or secret field is an example', async () => {
  const doc = await (await fetch(`${t.url}/api/v1/openapi.json`)).json();
  const text = JSON.stringify(doc);
  assert.doesNotMatch(text, /\b(gth|gts|gta)_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9-]{8,}/);
  assert.ok(!text.includes(ADMIN_TOKEN));

  const offending: string[] = [];
  const walk = (node: unknown, path: string[], underSecret: boolean) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, [...path, String(i)], underSecret));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      // `token_type` and `issued_token_type` (RFC 8693) name a kind of token, fixed by the RFC: not a token.
      const secretField = underSecret || (path.at(-1) === 'properties' && /credential|token|secret|password/i.test(key) && !/_type$/.test(key));
      // Inside a credential, a default of a field that holds no secret (an Entra scope, an AWS region) is
      // documentation; one of the secret itself, or of any field named like a secret, is not allowed.
      const holder = path.at(-1) ?? '';
      const secretHolder = /credential|token|secret|password|value|key/i.test(holder) || path.at(-2) !== 'properties';
      if (secretField && ['example', 'examples', 'default', 'const'].includes(key) && secretHolder) offending.push([...path, key].join('.'));
      walk(value, [...path, key], secretField);
    }
  };
  walk(doc, [], false);
  assert.deepEqual(offending, []);
});

test('issued secrets appear once, in the answer that creates them, and never in a listing', async () => {
  const token = await t.api('POST', '/tokens', { connections: ['openai'] });
  const account = await t.api('POST', '/service-accounts', { name: 'nightly', owner: 'admin', connections: ['openai'], expires: '7d' });
  assert.ok(token.json.token.startsWith('gth_'));
  assert.ok(account.json.secret.startsWith('gts_'));
  const listings = [await t.api('GET', '/tokens?all=true'), await t.api('GET', '/service-accounts'), await t.api('GET', '/whoami'), await t.api('GET', '/sessions')];
  for (const { status, json } of listings) {
    assert.equal(status, 200);
    const text = JSON.stringify(json);
    for (const value of [token.json.token, account.json.secret, ADMIN_TOKEN]) assert.ok(!text.includes(value), text.slice(0, 200));
    assert.doesNotMatch(text, /"hash"/);
  }
});
