/**
 * Traffic from callers without a valid credential: whatever they send, they are refused with a
 * code they can read, they cannot grow the metrics' label sets or the store's sessions without
 * bound, they cannot read /metrics, and nothing they send reaches an upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';

describe('attack: unauthenticated traffic', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => gw?.close());

  async function metrics(): Promise<string> {
    return (await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  }

  const attempts: { name: string; path: string; headers?: Record<string, string>; status: number; code: string }[] = [
    { name: 'a made-up connection', path: '/proxy/made-up-1/v1/models', status: 404, code: 'unknown_connection' },
    { name: 'another made-up connection', path: '/proxy/made-up-2/v1/models', status: 404, code: 'unknown_connection' },
    { name: 'a connection name of 4 KiB', path: `/proxy/${'n'.repeat(4096)}/x`, status: 404, code: 'unknown_connection' },
    { name: 'a connection name with unicode', path: '/proxy/%E2%98%83%F0%9F%92%A5/x', status: 404, code: 'unknown_connection' },
    { name: 'malformed percent-encoding in the name', path: '/proxy/%E0%A4%A/x', status: 400, code: 'bad_request' },
    { name: 'a lone percent sign', path: '/proxy/%/x', status: 400, code: 'bad_request' },
    { name: 'an encoded slash in the name', path: '/proxy/openai%2F..%2Fother/v1/models', status: 404, code: 'unknown_connection' },
    { name: 'no credential on a real connection', path: '/proxy/openai/v1/models', status: 401, code: 'auth_missing' },
    { name: 'a made-up agent token', path: '/proxy/openai/v1/models', headers: { authorization: `Bearer gth_${'a'.repeat(40)}` }, status: 401, code: 'auth_invalid' },
    { name: 'the admin token at the proxy', path: '/proxy/openai/v1/models', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, status: 401, code: 'auth_wrong_kind' },
    { name: 'a service-account secret at the proxy', path: '/proxy/openai/v1/models', headers: { authorization: `Bearer gts_${'b'.repeat(40)}` }, status: 401, code: 'auth_wrong_kind' },
    { name: 'a token in x-api-key that is not ours', path: '/proxy/openai/v1/models', headers: { 'x-api-key': 'sk-live-somebody-elses-key-0123456789' }, status: 401, code: 'auth_invalid' },
    { name: 'an empty bearer', path: '/proxy/openai/v1/models', headers: { authorization: 'Bearer ' }, status: 401, code: 'auth_missing' },
  ];

  for (const a of attempts) {
    it(`${a.name}: ${a.status} ${a.code}, nothing forwarded`, async () => {
      const before = gw.demo.requests.length;
      const res = await fetch(`${gw.url}${a.path}`, { headers: a.headers ?? {} });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, a.status);
      assert.equal(body.error.code, a.code);
      assert.ok(!body.error.message.includes('sk-live'), 'the error never repeats a credential');
      assert.equal(gw.demo.requests.length, before, 'the upstream saw nothing');
      assert.ok(res.headers.get('x-request-id'), 'even a refusal carries its request id');
    });
  }

  it('made-up connection names share one metric label and one recorded session', async () => {
    for (let i = 0; i < 25; i++) await (await fetch(`${gw.url}/proxy/spray-${i}/x`)).text();
    const text = await metrics();
    assert.equal((text.match(/connection="spray-/g) ?? []).length, 0, 'no series per made-up name');
    assert.match(text, /gatehouse_requests_total\{connection="<unknown>"/);
    const sessions = await gw.gateway.store.listSessions({ connection: '<unknown>', limit: 100 });
    assert.equal(sessions.length, 1, 'one anonymous session holds them all');
  });

  it('/metrics is not readable without an admin token, nor with an agent token', async () => {
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 401);
    const agent = await gw.token();
    assert.equal((await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${agent}` } })).status, 401);
    assert.equal((await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
  });
});
