/**
 * A person removed from a group over SCIM loses the agent tokens issued under the grant that group
 * gave, and a stream running on one of them ends. The reviewer's case: dan's `user` grant for
 * openai came through the group engineering; Okta removes him from it; the gth_ token he issued
 * for openai must stop, not live on until it expires. What stays: tokens still covered by another
 * group, tokens an admin issued for him beyond his grants, and everything of people whose grants
 * did not shrink. Each change records what it cut.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { personWithToken, ROLES_YAML, type Person } from '../support/people.ts';
import { GROUP, PATCH_OP, USER, okta, startScimGateway, type ScimGateway } from './scim-fixtures.ts';

// ROLES_YAML's grants, and two more: llm-users also grants openai, data grants other.
const GRANTS_YAML = `${ROLES_YAML}    - group: llm-users
      role: user
      connections: [openai]
    - group: data
      role: user
      connections: [other]
`;

async function chat(g: ScimGateway, token: string, connection = 'openai'): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${g.t.url}/proxy/${connection}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await response.json()) as any;
  return { status: response.status, code: json.error?.code };
}

describe('SCIM group changes withdraw the agent tokens a lost grant covered', () => {
  let g: ScimGateway;
  const groupIds = new Map<string, string>();

  before(async () => {
    g = await startScimGateway({ extraYaml: GRANTS_YAML, upstreamTimeout: '10m' });
  });
  after(async () => {
    g.t.demo.releaseHeld();
    await g.close();
  });

  /** A person who signed in with `groups`, provisioned over SCIM and made a member of each of those groups there. */
  async function member(name: string, groups: string[]): Promise<Person & { scimId: string }> {
    const person = await personWithToken(g.t.gateway.store, name, groups);
    const created = await g.scim('POST', '/Users', { schemas: [USER], userName: name });
    assert.equal(created.status, 201);
    assert.equal(created.json.id, person.principal.id);
    for (const group of groups) {
      let id = groupIds.get(group);
      if (!id) {
        const made = await g.scim('POST', '/Groups', { schemas: [GROUP], displayName: group, members: [] });
        assert.equal(made.status, 201);
        id = made.json.id as string;
        groupIds.set(group, id);
      }
      assert.equal((await g.scim('PATCH', `/Groups/${id}`, okta.addMembers([{ id: person.principal.id, userName: name }]))).status, 200);
    }
    return { ...person, scimId: created.json.id };
  }

  const own = async (person: Person, connections: string[]) => {
    const issued = await g.t.api('POST', '/tokens', { connections, name: `${person.principal.name} agent` }, person.token);
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    return { id: issued.json.id as string, token: issued.json.token as string };
  };

  const lastEvent = async (action: string) => (await g.t.api('GET', `/audit/events?action=${action}&limit=1`)).json.events[0];

  // Bounded: a stream the cut does not reach would otherwise hold the run forever.
  test('dan removed from engineering (Okta’s PATCH): his openai token is refused and his live stream ends (the reviewer’s case)', { timeout: 60_000 }, async () => {
    const dan = await member('dan', ['engineering']);
    const token = await own(dan, ['openai']);
    assert.equal((await chat(g, token.token)).status, 200);

    const openai = new OpenAI({ baseURL: `${g.t.url}/proxy/openai/v1`, apiKey: token.token, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'demo-hold', stream: true, messages: [{ role: 'user', content: 'a long task' }] });
    const chunks = stream[Symbol.asyncIterator]();
    assert.equal((await chunks.next()).done, false, 'the stream is under way');
    const streamEnd = (async () => {
      for (;;) if ((await chunks.next()).done) return 'clean';
    })().catch(() => 'failed');

    const removed = await g.scim('PATCH', `/Groups/${groupIds.get('engineering')}`, okta.removeMember(dan.scimId));
    assert.equal(removed.status, 200);
    assert.deepEqual(await chat(g, token.token), { status: 401, code: 'auth_revoked' });
    assert.equal(await streamEnd, 'failed', 'the stream ended with an error, not cleanly');
    assert.deepEqual((await g.t.api('GET', '/users/dan')).json.user.groups, []);
    assert.equal((await g.t.api('POST', '/tokens', { connections: ['openai'] }, dan.token)).status, 403, 'and he may not issue a new one');

    const event = await lastEvent('scimPatchGroup');
    assert.equal(event.outcome, 200);
    assert.deepEqual(event.details.grantsLost, [{ user: 'dan', lostAdmin: false, lostConnections: ['analytics-db', 'openai'], revokedTokens: [token.id] }]);
    const logged = g.t.logs.filter((line) => line.includes('a group change took their grant away')).map((line) => JSON.parse(line));
    assert.ok(logged.some((l) => l.user === 'dan' && l.revokedTokens === 1));
    assert.ok(!g.t.logs.some((line) => line.includes(token.token)), 'the token never reaches the log');
  });

  test('what stays: a connection another group still grants, a token an admin issued beyond the grants, other members', async () => {
    const eve = await member('eve', ['engineering', 'llm-users', 'data']);
    const fay = await member('fay', ['engineering']);
    const eveOpenai = await own(eve, ['openai']);
    const eveOther = await own(eve, ['other']);
    const eveBoth = await own(eve, ['openai', 'other']);
    const fayOpenai = await own(fay, ['openai']);
    const byAdmin = await g.t.api('POST', '/tokens', { connections: ['other'], for: { user: 'fay', groups: [] } });
    assert.equal(byAdmin.status, 201);

    // Eve leaves engineering: openai is still hers through llm-users.
    await g.scim('PATCH', `/Groups/${groupIds.get('engineering')}`, okta.removeMember(eve.scimId));
    for (const t of [eveOpenai, eveOther, eveBoth]) assert.equal((await chat(g, t.token, t === eveOther ? 'other' : 'openai')).status, 200);
    assert.equal((await lastEvent('scimPatchGroup')).details.grantsLost, undefined, 'nothing was cut, nothing claimed');

    // Eve leaves data: the tokens reaching other go, the openai one stays.
    await g.scim('PATCH', `/Groups/${groupIds.get('data')}`, okta.removeMember(eve.scimId));
    assert.deepEqual(await chat(g, eveOther.token, 'other'), { status: 401, code: 'auth_revoked' });
    assert.deepEqual(await chat(g, eveBoth.token), { status: 401, code: 'auth_revoked' });
    assert.equal((await chat(g, eveOpenai.token)).status, 200);
    assert.deepEqual([...(await lastEvent('scimPatchGroup')).details.grantsLost[0].revokedTokens].sort(), [eveOther.id, eveBoth.id].sort());

    // Fay was never touched; then she leaves engineering: her own token goes, the admin's stays.
    assert.equal((await chat(g, fayOpenai.token)).status, 200);
    await g.scim('PATCH', `/Groups/${groupIds.get('engineering')}`, okta.removeMember(fay.scimId));
    assert.deepEqual(await chat(g, fayOpenai.token), { status: 401, code: 'auth_revoked' });
    assert.equal((await chat(g, byAdmin.json.token, 'other')).status, 200, 'an admin’s decision is not undone by a group change');
  });

  test('adding people to groups cuts nothing', async () => {
    const gus = await member('gus', ['llm-users']);
    const token = await own(gus, ['openai']);
    const added = await g.scim('PATCH', `/Groups/${groupIds.get('engineering')}`, okta.addMembers([{ id: gus.scimId, userName: 'gus' }]));
    assert.equal(added.status, 200);
    assert.equal((await chat(g, token.token)).status, 200);
  });

  test('a PUT that drops members, a rename and a delete each cut what they took', async () => {
    const hal = await member('hal', ['data']);
    const ida = await member('ida', ['data']);
    const jon = await member('jon', ['data']);
    const [halT, idaT, jonT] = [await own(hal, ['other']), await own(ida, ['other']), await own(jon, ['other'])];
    const dataId = groupIds.get('data')!;
    const current = (await g.scim('GET', `/Groups/${dataId}`)).json;

    // PUT the group without hal: only hal's token goes.
    const kept = current.members.filter((m: any) => m.value !== hal.scimId).map((m: any) => ({ value: m.value }));
    assert.equal((await g.scim('PUT', `/Groups/${dataId}`, { schemas: [GROUP], displayName: 'data', members: kept })).status, 200);
    assert.deepEqual(await chat(g, halT.token, 'other'), { status: 401, code: 'auth_revoked' });
    assert.equal((await chat(g, idaT.token, 'other')).status, 200);

    // Renamed: its members' group is no longer "data", which the grant names.
    const renamed = await g.scim('PATCH', `/Groups/${dataId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'data-old' }] });
    assert.equal(renamed.status, 200);
    assert.deepEqual(await chat(g, idaT.token, 'other'), { status: 401, code: 'auth_revoked' });
    assert.deepEqual(await chat(g, jonT.token, 'other'), { status: 401, code: 'auth_revoked' });
    const users = ((await lastEvent('scimPatchGroup')).details.grantsLost as any[]).map((c) => c.user).sort();
    assert.deepEqual(users, ['ida', 'jon'], 'one change, both on its record');

    // Deleted: (renamed back first, with a fresh token) the delete takes the grant away again.
    await g.scim('PATCH', `/Groups/${dataId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'data' }] });
    const idaAgain = await own(ida, ['other']);
    assert.equal((await g.scim('DELETE', `/Groups/${dataId}`)).status, 204);
    groupIds.delete('data');
    assert.deepEqual(await chat(g, idaAgain.token, 'other'), { status: 401, code: 'auth_revoked' });
    const deleted = await lastEvent('scimDeleteGroup');
    assert.ok((deleted.details.grantsLost as any[]).some((c) => c.user === 'ida' && c.revokedTokens.includes(idaAgain.id)));
  });

  test('an admin by group removed from it over SCIM: tokens beyond the grants left are cut, the rest stay', async () => {
    const kim = await member('kim', ['platform-admins', 'llm-users']);
    const wide = await own(kim, ['openai', 'other']);
    const narrow = await own(kim, ['openai']);
    await g.scim('PATCH', `/Groups/${groupIds.get('platform-admins')}`, okta.removeMember(kim.scimId));
    assert.deepEqual(await chat(g, wide.token), { status: 401, code: 'auth_revoked' });
    assert.equal((await chat(g, narrow.token)).status, 200);
    const [cut] = (await lastEvent('scimPatchGroup')).details.grantsLost;
    assert.equal(cut.user, 'kim');
    assert.equal(cut.lostAdmin, true);
  });
});
