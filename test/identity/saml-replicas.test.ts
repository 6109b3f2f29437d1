/**
 * Replay protection and sign-in requests hold across replicas and restarts: two gateways on one
 * PostgreSQL store (how replicas are deployed) with one master key; a sign-in started on one
 * finishes on the other, and a response accepted by one is refused by the other and after a restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { b64, createTestIdp, postAcs, samlYaml, signedResponse, startLogin, type TestIdp } from '../support/saml-idp.ts';

let pg: PostgresServer;
let idp: TestIdp;
let a: TestGateway;
let b: TestGateway;
const masterKey = randomBytes(32);

before(async () => {
  [pg, idp] = await Promise.all([startPostgres(), createTestIdp()]);
  a = await startTestGateway({ databaseUrl: pg.url, masterKey, extraYaml: samlYaml(idp) });
  b = await startTestGateway({ databaseUrl: pg.url, masterKey, extraYaml: samlYaml(idp) });
});
after(async () => {
  await a?.close();
  await b?.close();
  await pg?.stop();
});

test('a sign-in started on one replica completes on the other; the same response is then refused by both', async () => {
  const { requestId } = await startLogin(a.url);
  const encoded = b64(signedResponse({ idp, inResponseTo: requestId, nameId: 'tara@example.com' }));
  const first = await postAcs(b.url, { SAMLResponse: encoded });
  assert.equal(first.status, 303, first.text);
  for (const replica of [a, b]) {
    const again = await postAcs(replica.url, { SAMLResponse: encoded });
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'saml_replayed');
    assert.equal(again.setCookie, null);
  }
});

test('the same response posted to both replicas at once is accepted once', async () => {
  const { requestId } = await startLogin(b.url);
  const encoded = b64(signedResponse({ idp, inResponseTo: requestId, nameId: 'uma@example.com' }));
  const results = await Promise.all([a, b, a, b].map((replica) => postAcs(replica.url, { SAMLResponse: encoded })));
  assert.deepEqual(results.map((r) => r.status).sort(), [303, 401, 401, 401]);
  assert.ok(results.filter((r) => r.status === 401).every((r) => r.json.error.code === 'saml_replayed'));
});

test('a replica with another master key is refused at start, naming the cause', async () => {
  await assert.rejects(startTestGateway({ databaseUrl: pg.url, masterKey: randomBytes(32), extraYaml: samlYaml(idp) }), /GATEHOUSE_MASTER_KEY is not the key this store was sealed with/);
});

test('a gateway with another master key does not recognise the request ids of these replicas', async () => {
  // Request ids carry a MAC, not a store row: another key (on a store of its own) cannot accept them.
  const stranger = await startTestGateway({ masterKey: randomBytes(32), extraYaml: samlYaml(idp) });
  try {
    const { requestId } = await startLogin(a.url);
    const result = await postAcs(stranger.url, { SAMLResponse: b64(signedResponse({ idp, inResponseTo: requestId, nameId: 'wes@example.com' })) });
    assert.equal(result.status, 401);
    assert.equal(result.json.error.code, 'saml_unsolicited');
  } finally {
    await stranger.close();
  }
});

test('a restart forgets nothing: the accepted response is still refused', async () => {
  const { requestId } = await startLogin(a.url);
  const encoded = b64(signedResponse({ idp, inResponseTo: requestId, nameId: 'vic@example.com' }));
  assert.equal((await postAcs(a.url, { SAMLResponse: encoded })).status, 303);
  // restart() stops `a`; its demo model and folder stay for `a.close()` in after().
  const restarted = await a.restart();
  try {
    const again = await postAcs(restarted.url, { SAMLResponse: encoded });
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'saml_replayed');
  } finally {
    await restarted.gateway.close();
  }
});
