/**
 * Hostile SCIM requests against a real gateway: each is refused in SCIM's error schema with the
 * status and scimType a provider can act on, and changes nothing (checked after each): filter
 * injection, unknown attributes, oversized and deeply nested input, paging edge values, duplicate
 * names, path traversal in PATCH, prototype keys, loose booleans, wrong media types, wrong,
 * missing and revoked credentials.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, ERROR, GROUP, PATCH_OP, entra, okta, startScimGateway, type ScimGateway, type ScimReply } from './scim-fixtures.ts';

function refused(reply: ScimReply, status: number, scimType?: string): void {
  assert.equal(reply.status, status, JSON.stringify(reply.json));
  assert.match(reply.type ?? '', /^application\/scim\+json/);
  assert.deepEqual(reply.json.schemas, [ERROR]);
  assert.equal(reply.json.status, String(status));
  assert.equal(typeof reply.json.detail, 'string');
  if (scimType) assert.equal(reply.json.scimType, scimType);
}

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

describe('SCIM refuses hostile input', () => {
  let g: ScimGateway;
  let alice: any;
  let bob: any;
  let group: any;
  before(async () => {
    g = await startScimGateway();
    alice = (await g.scim('POST', '/Users', okta.createUser('alice@example.com', 'ext-a'))).json;
    bob = (await g.scim('POST', '/Users', okta.createUser('bob@example.com', 'ext-b'))).json;
    group = (await g.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'eng', members: [{ value: alice.id }] })).json;
  });
  after(() => g.close());

  /** Alice and her group as they were set up: a refused request must leave them so. */
  async function unchanged(): Promise<void> {
    const now = (await g.scim('GET', `/Users/${alice.id}`)).json;
    assert.equal(now.userName, 'alice@example.com');
    assert.equal(now.active, true);
    assert.deepEqual(now.name, alice.name);
    const members = (await g.scim('GET', `/Groups/${group.id}`)).json.members.map((m: any) => m.value);
    assert.deepEqual(members, [alice.id]);
  }

  const filter = (text: string) => `/Users?filter=${encodeURIComponent(text)}`;

  const cases: [string, () => Promise<ScimReply>, number, string?][] = [
    ['filter injection: userName eq "a" or 1 eq 1', () => g.scim('GET', filter('userName eq "alice@example.com" or 1 eq 1')), 400, 'invalidFilter'],
    ['filter injection: quote break-out', () => g.scim('GET', filter('userName eq "x" or "1" eq "1"')), 400, 'invalidFilter'],
    ['filter on an attribute Gatehouse does not filter on (password)', () => g.scim('GET', filter('password pr')), 400, 'invalidFilter'],
    ['filter on another schema', () => g.scim('GET', filter('urn:x:evil:userName eq "a"')), 400, 'invalidFilter'],
    ['filter over 1000 characters', () => g.scim('GET', filter(`userName eq "${'a'.repeat(5000)}"`)), 400, 'invalidFilter'],
    ['filter nesting 200 levels', () => g.scim('GET', filter(`${'('.repeat(200)}userName eq "a"${')'.repeat(200)}`)), 400, 'invalidFilter'],
    ['filter with 60 terms', () => g.scim('GET', filter(Array.from({ length: 60 }, (_, i) => `userName eq "u${i}"`).join(' or '))), 400, 'invalidFilter'],
    ['unterminated filter', () => g.scim('GET', filter('userName eq "alice')), 400, 'invalidFilter'],
    ['boolean compared with a string', () => g.scim('GET', filter('active eq "true"')), 400, 'invalidFilter'],
    ['two filter parameters', () => g.scim('GET', '/Users?filter=userName%20eq%20%22a%22&filter=userName%20eq%20%22b%22'), 400, 'invalidFilter'],
    ['count=1e9 (not an integer literal)', () => g.scim('GET', '/Users?count=1e9'), 400, 'invalidValue'],
    ['startIndex=abc', () => g.scim('GET', '/Users?startIndex=abc'), 400, 'invalidValue'],
    ['duplicate userName in another case', () => g.scim('POST', '/Users', okta.createUser('ALICE@example.com', 'ext-dup')), 409, 'uniqueness'],
    ['rename onto another user', () => g.scim('PATCH', `/Users/${bob.id}`, entra.updateUserName('Alice@Example.com')), 409, 'uniqueness'],
    ['duplicate group displayName', () => g.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'ENG' }), 409, 'uniqueness'],
    ['PATCH path traversal: members[value eq "x"].display', () => g.scim('PATCH', `/Groups/${group.id}`, patch({ op: 'replace', path: `members[value eq "${alice.id}"].display`, value: 'x' })), 400, 'invalidPath'],
    ['PATCH add through a member filter', () => g.scim('PATCH', `/Groups/${group.id}`, patch({ op: 'add', path: `members[value eq "${bob.id}"]`, value: { value: bob.id } })), 400, 'invalidPath'],
    ['PATCH path __proto__.polluted', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'add', path: '__proto__.polluted', value: 'yes' })), 400, 'invalidPath'],
    ['PATCH path constructor.prototype.polluted', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'add', path: 'constructor.prototype.polluted', value: 'yes' })), 400, 'invalidPath'],
    ['PATCH value with a __proto__ key', () => g.scim('PATCH', `/Users/${alice.id}`, undefined, { raw: `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","value":{"__proto__":{"polluted":"yes"}}}]}` }), 400, 'invalidSyntax'],
    ['PATCH of an unknown attribute', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'replace', path: 'isAdmin', value: true })), 400, 'invalidPath'],
    ['PATCH of roles (groups give roles, not this)', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'Add', path: 'roles[primary eq "True"].value', value: 'admin' })), 400, 'invalidPath'],
    ['PATCH of the read-only id', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'replace', path: 'id', value: bob.id })), 400, 'mutability'],
    ['PATCH of the read-only groups', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'add', path: 'groups', value: [{ value: group.id }] })), 400, 'mutability'],
    ['op name that is not an op ("delete")', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'delete', path: 'displayName' })), 400, 'invalidSyntax'],
    ['remove without a path', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'remove' })), 400, 'noTarget'],
    ['PatchOp schema missing', () => g.scim('PATCH', `/Users/${alice.id}`, { Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }), 400, 'invalidSyntax'],
    ['101 operations', () => g.scim('PATCH', `/Users/${alice.id}`, patch(...Array.from({ length: 101 }, () => ({ op: 'replace', path: 'displayName', value: 'x' })))), 400, 'tooMany'],
    ['active: "false " (trailing space)', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'Replace', path: 'active', value: 'false ' })), 400, 'invalidValue'],
    ['active: "no"', () => g.scim('PATCH', `/Users/${alice.id}`, patch({ op: 'replace', value: { active: 'no' } })), 400, 'invalidValue'],
    ['active: 0', () => g.scim('PUT', `/Users/${alice.id}`, { ...okta.createUser('alice@example.com', 'ext-a'), active: 0 }), 400, 'invalidValue'],
    ['userName with a NUL', () => g.scim('POST', '/Users', okta.createUser('mallory\u0000@example.com')), 400, 'invalidValue'],
    ['userName with leading whitespace', () => g.scim('POST', '/Users', okta.createUser(' alice@example.com')), 400, 'invalidValue'],
    ['userName missing', () => g.scim('POST', '/Users', { schemas: [okta.createUser('x').schemas[0]], active: true }), 400, 'invalidValue'],
    ['userName given twice in different case', () => g.scim('POST', '/Users', { userName: 'c@example.com', USERNAME: 'admin' }), 400, 'invalidValue'],
    ['a body that is an array', () => g.scim('POST', '/Users', [okta.createUser('arr@example.com')]), 400, 'invalidSyntax'],
    ['member that is no User', () => g.scim('PATCH', `/Groups/${group.id}`, okta.addMembers([{ id: 'usr_not-a-user', userName: 'x' }])), 400, 'invalidValue'],
    ['member without a value', () => g.scim('PATCH', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ display: 'x' }] })), 400, 'invalidValue'],
    ['wrong content type (text/plain)', () => g.scim('POST', '/Users', okta.createUser('plain@example.com'), { type: 'text/plain' }), 415],
    ['wrong content type (form)', () => g.scim('PATCH', `/Users/${alice.id}`, undefined, { type: 'application/x-www-form-urlencoded', raw: 'active=false' }), 415],
    ['malformed JSON', () => g.scim('POST', '/Users', undefined, { raw: '{"userName": "x",' }), 400, 'invalidSyntax'],
    ['JSON bomb: 100,000 nested arrays', () => g.scim('POST', '/Users', undefined, { raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}` }), 400, 'invalidSyntax'],
    ['JSON nested 17 levels inside a value', () => g.scim('PATCH', `/Users/${alice.id}`, undefined, { raw: `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","path":"title","value":${'['.repeat(14)}1${']'.repeat(14)}}]}` }), 400, 'invalidSyntax'],
    ['body over the size limit', () => g.scim('POST', '/Users', undefined, { raw: JSON.stringify({ userName: 'big@example.com', title: 'x'.repeat(2 * 1024 * 1024) }) }), 413],
    ['an id over 256 characters', () => g.scim('GET', `/Users/${'u'.repeat(300)}`), 400, 'invalidValue'],
    ['an unknown user id', () => g.scim('PATCH', '/Users/usr_nobody', okta.deactivate), 404],
    ['an unknown endpoint (/Bulk)', () => g.scim('POST', '/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] }), 404],
  ];

  for (const [name, send, status, scimType] of cases) {
    test(name, async () => {
      refused(await send(), status, scimType);
      await unchanged();
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was touched');
    });
  }

  test('paging edge values are read as RFC 7644 says: count=-1 as 0, startIndex=0 as 1, a huge count capped', async () => {
    const none = (await g.scim('GET', '/Users?count=-1')).json;
    assert.equal(none.itemsPerPage, 0);
    assert.deepEqual(none.Resources, []);
    assert.ok(none.totalResults >= 2);
    const zero = (await g.scim('GET', '/Users?startIndex=0&count=1')).json;
    assert.equal(zero.startIndex, 1);
    assert.equal(zero.Resources[0].id, alice.id);
    const huge = (await g.scim('GET', '/Users?count=1000000000')).json;
    assert.equal(huge.itemsPerPage, huge.totalResults);
    const far = (await g.scim('GET', '/Users?startIndex=99999999999999999999')).json;
    assert.deepEqual(far.Resources, []);
  });

  test('unknown attributes in a create are dropped, never stored or echoed; a password never is either', async () => {
    const created = await g.scim('POST', '/Users', { ...okta.createUser('extra@example.com', 'ext-extra'), isAdmin: true, roles: [{ value: 'admin' }], 'urn:x:evil:User': { admin: true } });
    assert.equal(created.status, 201);
    const shown = JSON.stringify((await g.scim('GET', `/Users/${created.json.id}`)).json);
    for (const word of ['isAdmin', 'roles', 'urn:x:evil', '1mz050nq']) assert.ok(!shown.includes(word), word);
    const listed = (await g.t.api('GET', '/users')).json.users.find((u: any) => u.name === 'extra@example.com');
    assert.deepEqual(listed.groups, []);
  });

  test('op names in any case work as their lower-case selves', async () => {
    for (const op of ['REPLACE', 'rEpLaCe', 'Replace']) {
      const reply = await g.scim('PATCH', `/Users/${bob.id}`, patch({ op, path: 'displayName', value: `Bob ${op}` }));
      assert.equal(reply.status, 200);
      assert.equal(reply.json.displayName, `Bob ${op}`);
    }
  });

  test('credentials: missing, malformed, revoked, or of another kind are 401 in SCIM’s shape, before the body is read', async () => {
    const agent = await g.t.token();
    const other = await g.t.api('POST', '/scim/tokens', { name: 'revoke-me' });
    await g.t.api('DELETE', `/tokens/${other.json.id}`);
    const cases: [string, string | null][] = [
      ['missing', null],
      ['not a token', 'hunter2'],
      ['a gsc_ secret nobody issued', `gsc_${'A'.repeat(40)}`],
      ['revoked', other.json.token],
      ['an admin token', ADMIN_TOKEN],
      ['an agent token', agent],
    ];
    for (const [what, auth] of cases) {
      const reply = await g.scim('POST', '/Users', undefined, { auth, raw: `${'['.repeat(100)}` });
      refused(reply, 401);
      assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/, what);
      assert.equal((await g.scim('GET', '/Users', undefined, { auth })).status, 401, what);
    }
    // And the SCIM token opens nothing else: not the admin API, not the data plane.
    assert.equal((await g.t.api('GET', '/tokens', undefined, g.token)).status, 401);
    const proxied = await fetch(`${g.t.url}/proxy/openai/v1/models`, { headers: { authorization: `Bearer ${g.token}` } });
    assert.equal(proxied.status, 401);
    assert.equal(((await proxied.json()) as any).error.code, 'auth_wrong_kind');
    assert.ok(!g.t.logs.join('').includes(g.token), 'the SCIM secret never reaches a log line');
  });
});
