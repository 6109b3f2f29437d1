/**
 * SCIM links a provisioned user to the person the gateway already knows, whatever case either
 * side spells the name in (SCIM compares userName case-insensitively): Carol signed in as
 * Carol@corp.com, Okta provisions carol@corp.com, and deactivating her must cut what Carol holds,
 * not a second, empty principal. Two people whose names differ only in case cannot be told apart
 * by a userName: SCIM refuses (409 uniqueness) until an admin settles which one is the person.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { personWithToken, ROLES_YAML } from '../support/people.ts';
import { CUT, ERROR, USER, okta, startScimGateway, type ScimGateway } from './scim-fixtures.ts';

async function chat(g: ScimGateway, token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${g.t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await response.json()) as any;
  return { status: response.status, code: json.error?.code };
}

const usersNamed = async (g: ScimGateway, name: string) =>
  (await g.t.api('GET', '/users')).json.users.filter((u: any) => u.name.toLowerCase() === name.toLowerCase());

const createUser = (g: ScimGateway, userName: string) => g.scim('POST', '/Users', { schemas: [USER], userName, active: true });

describe('SCIM links users whose names differ only in case', () => {
  let g: ScimGateway;
  before(async () => {
    g = await startScimGateway({ extraYaml: ROLES_YAML });
  });
  after(() => g.close());

  test('Carol@corp.com signed in and issued her own token; deactivating SCIM user carol@corp.com cuts it (the reviewer’s case)', async () => {
    const carol = await personWithToken(g.t.gateway.store, 'Carol@corp.com', ['engineering']);
    const own = await g.t.api('POST', '/tokens', { connections: ['openai'], name: 'carol agent' }, carol.token);
    assert.equal(own.status, 201, JSON.stringify(own.json));
    assert.equal((await chat(g, own.json.token)).status, 200);

    const created = await createUser(g, 'carol@corp.com');
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.id, carol.principal.id, 'linked to the principal she signed in as, not a new one');
    assert.equal((await usersNamed(g, 'carol@corp.com')).length, 1, 'no second principal');
    const found = await g.scim('GET', okta.findUser('CAROL@CORP.COM'));
    assert.equal(found.json.totalResults, 1);
    assert.equal(found.json.Resources[0].id, carol.principal.id);

    const off = await g.scim('PATCH', `/Users/${created.json.id}`, okta.deactivate);
    assert.equal(off.status, 200);
    assert.ok(off.json[CUT].revokedTokens.includes(own.json.id), 'her agent token is cut');
    assert.ok(off.json[CUT].revokedTokens.includes(carol.tokenId), 'her API token is cut');
    assert.deepEqual(await chat(g, own.json.token), { status: 401, code: 'auth_revoked' });
    assert.equal((await g.t.api('GET', '/whoami', undefined, carol.token)).status, 401);
    const [listed] = await usersNamed(g, 'carol@corp.com');
    assert.notEqual(listed.disabledAt, null);
    assert.equal(listed.scim, true);
  });

  test('the provider in upper case, the gateway in lower case: linked the other way round too', async () => {
    const person = await personWithToken(g.t.gateway.store, 'ivan@corp.com', ['engineering']);
    const created = await createUser(g, 'IVAN@Corp.Com');
    assert.equal(created.status, 201);
    assert.equal(created.json.id, person.principal.id);
    assert.equal(created.json.userName, 'ivan@corp.com', 'the principal keeps the name it signed in with');
  });

  test('two people whose names differ only in case: 409 uniqueness, nothing created, until an admin disables the wrong one', async () => {
    const upper = await personWithToken(g.t.gateway.store, 'Dave@corp.com', []);
    const lower = await personWithToken(g.t.gateway.store, 'dave@corp.com', []);
    for (const spelling of ['dave@corp.com', 'Dave@corp.com', 'DAVE@CORP.COM']) {
      const refused = await createUser(g, spelling);
      assert.equal(refused.status, 409, spelling);
      assert.equal(refused.json.scimType, 'uniqueness');
      assert.deepEqual(refused.json.schemas, [ERROR]);
      assert.match(refused.json.detail, /differ only in case/);
      assert.match(refused.json.detail, /gatehouse users disable/, 'the refusal says how to settle it');
    }
    assert.equal((await g.scim('GET', okta.findUser('dave@corp.com'))).json.totalResults, 0, 'no SCIM user was created');
    assert.equal((await usersNamed(g, 'dave@corp.com')).length, 2, 'no third principal');

    assert.equal((await g.t.api('POST', `/users/${encodeURIComponent(lower.principal.name)}/disable`)).status, 200);
    const linked = await createUser(g, 'dave@corp.com');
    assert.equal(linked.status, 201);
    assert.equal(linked.json.id, upper.principal.id, 'the one left enabled is the person');
  });

  test('two disabled look-alikes and no enabled one: still refused', async () => {
    for (const name of ['Gina@corp.com', 'gina@corp.com']) {
      const person = await personWithToken(g.t.gateway.store, name, []);
      await g.t.api('POST', `/users/${encodeURIComponent(person.principal.name)}/disable`);
    }
    assert.equal((await createUser(g, 'gina@corp.com')).status, 409);
  });

  test('a user linked already, asked for again in another case: 409, not a second link', async () => {
    await personWithToken(g.t.gateway.store, 'Hana@corp.com', []);
    assert.equal((await createUser(g, 'hana@corp.com')).status, 201);
    const again = await createUser(g, 'HANA@corp.com');
    assert.equal(again.status, 409);
    assert.equal(again.json.scimType, 'uniqueness');
  });

  test('a rename onto another person’s name in another case is refused; a rename of one’s own case goes through', async () => {
    const frank = await personWithToken(g.t.gateway.store, 'Frank@corp.com', []);
    const erin = await createUser(g, 'erin@corp.com');
    assert.equal(erin.status, 201);
    for (const target of ['frank@corp.com', 'FRANK@CORP.COM']) {
      const refused = await g.scim('PATCH', `/Users/${erin.json.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'userName', value: target }] });
      assert.equal(refused.status, 409, target);
      assert.equal(refused.json.scimType, 'uniqueness');
    }
    const put = await g.scim('PUT', `/Users/${erin.json.id}`, { schemas: [USER], userName: 'frank@CORP.com' });
    assert.equal(put.status, 409);
    assert.equal((await g.t.gateway.store.getPrincipal(frank.principal.id))!.name, 'Frank@corp.com');
    assert.equal((await g.t.gateway.store.getPrincipal(erin.json.id))!.name, 'erin@corp.com');

    const own = await g.scim('PATCH', `/Users/${erin.json.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'userName', value: 'Erin@Corp.com' }] });
    assert.equal(own.status, 200);
    assert.equal(own.json.userName, 'Erin@Corp.com');
  });

  test('names that only look alike, or differ by more than case, are different people', async () => {
    const cases: [string, string][] = [
      ['straße@corp.com', 'STRASSE@corp.com'], // upper-casing ß gives SS; lower-casing SS does not give ß
      ['jo@corp.com', 'jo@corp.com '], // a trailing blank
      ['lee@corp.com', 'lee@corp.co'],
      ['max@corp.com', 'max@corp․com'], // U+2024 one dot leader
      ['nia@corp.com', 'nia@corp.com\u200b'], // a zero-width space
    ];
    for (const [known, sent] of cases) {
      const person = await personWithToken(g.t.gateway.store, known, []);
      const created = await createUser(g, sent);
      assert.ok(created.status === 201 || created.status === 400, `${JSON.stringify(sent)}: ${created.status}`);
      if (created.status === 201) assert.notEqual(created.json.id, person.principal.id, `${JSON.stringify(sent)} is not ${known}`);
    }
  });
});
