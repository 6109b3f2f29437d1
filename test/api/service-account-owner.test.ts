/**
 * A service account's owner is a principal, resolved when the account is created, and offboarding
 * matches it by id. The reviewer's case: `--owner alice` for the user alice@corp.com used to be
 * kept as free text that offboarding alice@corp.com never matched, so her account outlived her.
 * Now an owner that names nobody, or several people, is refused with what to send instead; the
 * API still shows the owner's name.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { updatePrincipal } from '../support/people.ts';
import { join } from 'node:path';
import { CUT, entra, scimRequest } from './scim-fixtures.ts';

describe('service-account owners are principals', () => {
  let t: TestGateway;
  let n = 0;
  before(async () => {
    t = await startTestGateway({ extraYaml: 'identity:\n  serviceAccounts: { maxExpiry: 30d }\n' });
  });
  after(() => t.close());

  const create = (owner: unknown) => t.api('POST', '/service-accounts', { name: `sa-${++n}`, owner, connections: ['openai'], expires: '7d' });
  const person = async (name: string) => {
    await t.token({ user: name });
    return (await t.gateway.store.findPrincipal('user', name))!;
  };
  const accountNamed = async (name: string) => (await t.api('GET', '/service-accounts')).json.serviceAccounts.find((a: any) => a.name === name);
  const exchange = (secret: string) => fetch(`${t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{}' });

  function assertRefused(reply: { status: number; json: any }, pattern: RegExp): void {
    assert.equal(reply.status, 400, JSON.stringify(reply.json));
    assert.equal(reply.json.error.code, 'invalid_argument');
    assert.match(reply.json.error.message, pattern);
  }

  test('`--owner alice` for alice@corp.com is refused, naming her; offboarding her then disables the account made right (the reviewer’s case)', async () => {
    const alice = await person('alice@corp.com');
    const before = (await t.api('GET', '/service-accounts')).json.serviceAccounts.length;
    const refused = await create('alice');
    assertRefused(refused, /no user or admin identity has that name/);
    assert.match(refused.json.error.message, /did you mean "alice@corp\.com"/);
    assert.match(refused.json.error.message, /gatehouse users list/);
    assert.equal(refused.json.error.gatehouse.field, 'owner');
    assert.equal((await t.api('GET', '/service-accounts')).json.serviceAccounts.length, before, 'nothing was created');
    assert.equal(await t.gateway.store.findPrincipal('user', 'alice'), null, 'and no user "alice" appeared');

    const made = await create('ALICE@corp.com');
    assert.equal(made.status, 201);
    assert.equal(made.json.owner, 'alice@corp.com', 'the owner as the gateway knows her');
    assert.equal(made.json.ownerId, alice.id);
    const listed = await accountNamed(made.json.name);
    assert.deepEqual({ owner: listed.owner, ownerId: listed.ownerId }, { owner: 'alice@corp.com', ownerId: alice.id });

    const cut = await t.api('POST', `/users/${encodeURIComponent('alice@corp.com')}/disable`);
    assert.deepEqual(cut.json.disabledServiceAccounts, [made.json.name]);
    assert.equal((await exchange(made.json.secret)).status, 401);
    const audit = (await t.api('GET', '/audit/events?action=createServiceAccount&limit=1')).json.events[0];
    assert.equal(audit.details.ownerId, alice.id);
  });

  test('by id, by name in any case, and the admin identity', async () => {
    const bob = await person('bob@corp.com');
    for (const owner of [bob.id, 'bob@corp.com', 'BOB@CORP.COM', ' bob@corp.com ']) {
      const made = await create(owner);
      assert.equal(made.status, 201, `${JSON.stringify(owner)}: ${JSON.stringify(made.json)}`);
      assert.deepEqual({ owner: made.json.owner, ownerId: made.json.ownerId }, { owner: 'bob@corp.com', ownerId: bob.id });
    }
    const admin = await create('admin');
    assert.equal(admin.status, 201);
    assert.equal(admin.json.ownerId, t.gateway.bootstrap.principal.id);
  });

  test('two people whose names differ only in case: refused by name, accepted by id; offboarding one leaves the other’s account', async () => {
    const upper = await person('Cleo@corp.com');
    const lower = await person('cleo@corp.com');
    const refused = await create('cleo@corp.com');
    assertRefused(refused, /names 2 identities/);
    assert.match(refused.json.error.message, new RegExp(`${upper.id}.*${lower.id}|${lower.id}.*${upper.id}`));
    assert.deepEqual([...refused.json.error.gatehouse.candidates].sort(), [upper.id, lower.id].sort());

    const hers = await create(upper.id);
    assert.equal(hers.status, 201);
    assert.equal(hers.json.owner, 'Cleo@corp.com');
    // Matched by name in any case, offboarding cleo@corp.com would have taken Cleo's account too.
    const cut = await t.api('POST', `/users/${encodeURIComponent('cleo@corp.com')}/disable`);
    assert.deepEqual(cut.json.disabledServiceAccounts, []);
    assert.equal((await accountNamed(hers.json.name)).disabledAt, null);
    assert.equal((await exchange(hers.json.secret)).status, 201, 'her account still buys tokens');
    const shown = (await t.api('GET', `/users/${encodeURIComponent('cleo@corp.com')}`)).json;
    assert.deepEqual(shown.serviceAccounts, [], 'nor does she appear to own it');

    // With cleo@corp.com disabled, the name now says which one is meant.
    const byName = await create('CLEO@corp.com');
    assert.equal(byName.status, 201);
    assert.equal(byName.json.ownerId, upper.id);
    const cutUpper = await t.api('POST', `/users/${encodeURIComponent('Cleo@corp.com')}/disable`);
    assert.deepEqual([...cutUpper.json.disabledServiceAccounts].sort(), [hers.json.name, byName.json.name].sort());
  });

  test('the admin identity and a user both named admin: refused by name, the id says which', async () => {
    const user = await person('Admin');
    assertRefused(await create('admin'), /names 2 identities/);
    assert.equal((await create(user.id)).json.ownerId, user.id);
    assert.equal((await create(t.gateway.bootstrap.principal.id)).json.ownerId, t.gateway.bootstrap.principal.id);
  });

  test('a disabled owner is refused', async () => {
    const dan = await person('dan@corp.com');
    updatePrincipal(join(t.dir, 'gatehouse.db'), dan.id, { disabledAt: 1 });
    assertRefused(await create('dan@corp.com'), /is disabled/);
    assertRefused(await create(dan.id), /is disabled/);
  });

  test('hostile owners: nobody, look-alikes, wildcards, other kinds of principal, huge, wrong types', async () => {
    await person('eve@corp.com');
    const robot = await create(t.gateway.bootstrap.principal.id);
    assert.equal(robot.status, 201);
    const nobody = [
      'eve', // the local part only, with no address to suggest beyond eve@corp.com
      'еve@corp.com', // Cyrillic е
      'eve@corp.com\u200b',
      'eve%40corp.com',
      'eve@corp.%',
      '%',
      '_',
      '*',
      "eve@corp.com' OR '1'='1",
      robot.json.name, // a service account is not a person
      robot.json.id,
      'usr_',
      'x'.repeat(100_000),
      '../admin',
      'admin\u0000',
    ];
    for (const owner of nobody) {
      const reply = await create(owner);
      assert.equal(reply.status, 400, `${JSON.stringify(owner.slice(0, 40))}: ${JSON.stringify(reply.json).slice(0, 300)}`);
      assert.equal(reply.json.error.code, 'invalid_argument');
      assert.ok(reply.json.error.message.length < 2_000, 'a huge owner is not echoed whole');
    }
    assert.match((await create('eve')).json.error.message, /did you mean "eve@corp\.com"/);
    for (const owner of ['', 42, null, ['eve@corp.com'], { name: 'eve@corp.com' }]) {
      const reply = await create(owner);
      assert.equal(reply.status, 400, JSON.stringify(owner));
    }
  });

  test('an account made before owners had ids is matched by its owner text, in any case, as before', async () => {
    const fay = await person('fay@corp.com');
    const at = Date.now();
    await t.gateway.store.insertServiceAccount({ id: 'sa_legacy_fay', name: 'legacy-fay', owner: 'FAY@corp.com', connections: ['openai'], createdAt: at, expiresAt: at + 86_400_000, disabledAt: null });
    const listed = await accountNamed('legacy-fay');
    assert.equal(listed.ownerId, null);
    assert.equal(listed.owner, 'FAY@corp.com');
    assert.deepEqual((await t.api('GET', `/users/${encodeURIComponent(fay.name)}`)).json.serviceAccounts, [{ name: 'legacy-fay', disabledAt: null }]);
    const cut = await t.api('POST', `/users/${encodeURIComponent(fay.name)}/disable`);
    assert.deepEqual(cut.json.disabledServiceAccounts, ['legacy-fay']);
  });

  test('renamed over SCIM, the owner follows by id and offboarding still finds the account', async () => {
    const scim = (await t.api('POST', '/scim/tokens', { name: 'entra' })).json.token as string;
    const created = await scimRequest(t.url, 'POST', '/Users', entra.createUser('gil@corp.com', 'ext-gil'), { auth: scim });
    assert.equal(created.status, 201);
    const made = await create('gil@corp.com');
    assert.equal(made.status, 201);
    const renamed = await scimRequest(t.url, 'PATCH', `/Users/${created.json.id}`, entra.updateUserName('gil.new@corp.com'), { auth: scim });
    assert.equal(renamed.status, 200);
    const listed = await accountNamed(made.json.name);
    assert.deepEqual({ owner: listed.owner, ownerId: listed.ownerId }, { owner: 'gil.new@corp.com', ownerId: created.json.id });
    const off = await scimRequest(t.url, 'PATCH', `/Users/${created.json.id}`, entra.disable, { auth: scim });
    assert.deepEqual(off.json[CUT].disabledServiceAccounts, [made.json.name]);
  });
});
