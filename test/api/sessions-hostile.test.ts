/**
 * Hostile input to the replay and search routes, through a real gateway: odd ids, limits and
 * positions out of range or of the wrong type, duplicated parameters, injection-shaped filters,
 * unknown decisions, tampered page tokens and bad times are refused with invalid_argument (or find
 * nothing), never a 5xx; and only the roles the routes name may read them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pageToken } from '../../src/audit/search-query.ts';

const ROLES = `
identity:
  roles:
    - group: audit
      role: auditor
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [openai]
`;

const token = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('replay and search under hostile input', () => {
  let t: TestGateway;
  let auditor: Person;
  let approver: Person;
  let user: Person;
  let sessionId: string;

  before(async () => {
    t = await startTestGateway({ extraYaml: ROLES });
    auditor = await personWithToken(t.gateway.store, 'audrey', ['audit']);
    approver = await personWithToken(t.gateway.store, 'otto', ['oncall']);
    user = await personWithToken(t.gateway.store, 'uli', ['engineering']);
    const agent = await t.token();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: `hello ${i}` }] }),
      });
      await res.arrayBuffer();
    }
    sessionId = (await t.api('GET', '/sessions?limit=1')).json.sessions[0].id;
  });
  after(() => t?.close());

  const long = 'a'.repeat(101);
  const CASES: [string, number, string | null][] = [
    ['/sessions/ses_00000000000000000000000000/replay', 404, 'not_found'],
    ['/sessions/%00/replay', 400, 'invalid_argument'],
    // Fastify's own bound on a path parameter (maxParamLength 100) answers first.
    [`/sessions/${long}/replay`, 414, null],
    [`/sessions/${'a'.repeat(100)}/replay`, 404, 'not_found'],
    ["/sessions/x'%20OR%20'1'%3D'1/replay", 404, 'not_found'],
    ['/sessions/%2e%2e%2f%2e%2e/replay', 404, 'not_found'],
    ['/sessions/SID/replay?limit=1000000', 400, 'invalid_argument'],
    ['/sessions/SID/replay?limit=-1', 400, 'invalid_argument'],
    ['/sessions/SID/replay?limit=NaN', 400, 'invalid_argument'],
    ['/sessions/SID/replay?limit=2.5', 400, 'invalid_argument'],
    ['/sessions/SID/replay?from=0', 400, 'invalid_argument'],
    ['/sessions/SID/replay?from=1e400', 400, 'invalid_argument'],
    ['/sessions/SID/replay?from=1&from=2', 400, 'invalid_argument'],
    ['/sessions/SID/replay?speed=10', 400, 'invalid_argument'],
    ['/sessions?limit=1001', 400, 'invalid_argument'],
    ['/sessions?limit=', 400, 'invalid_argument'],
    ['/sessions?offset=5001', 400, 'invalid_argument'],
    ['/sessions?decision=maybe', 400, 'invalid_argument'],
    ['/sessions?decision=DENY', 400, 'invalid_argument'],
    ['/sessions?decision=allow&decision=deny', 400, 'invalid_argument'],
    ['/sessions?kind=sql.query%3B%20drop%20table%20sessions', 400, 'invalid_argument'],
    ['/sessions?principal=%00', 400, 'invalid_argument'],
    ['/sessions?connection=%1B%5B31m', 400, 'invalid_argument'],
    [`/sessions?rule=${'r'.repeat(257)}`, 400, 'invalid_argument'],
    ['/sessions?after=not%20a%20token!', 400, 'invalid_argument'],
    [`/sessions?after=${token('abc.ses_x')}`, 400, 'invalid_argument'],
    [`/sessions?after=${token('1700000000000.ses_x')}%3D`, 400, 'invalid_argument'],
    [`/sessions?after=${token('1700000000000.ses x')}`, 400, 'invalid_argument'],
    [`/sessions?after=${token('-1.ses_x')}`, 400, 'invalid_argument'],
    [`/sessions?after=${token('99999999999999999999.ses_x')}`, 400, 'invalid_argument'],
    [`/sessions?after=${'A'.repeat(301)}`, 400, 'invalid_argument'],
    ['/sessions?since=yesterday', 400, 'invalid_argument'],
    ['/sessions?since=7d&until=8d', 400, 'invalid_argument'],
    ['/sessions?since=2026-13-45', 400, 'invalid_argument'],
    ['/sessions?since=1e3', 400, 'invalid_argument'],
    ['/sessions?since=99999999999999999', 400, 'invalid_argument'],
    ['/sessions?since=90m1h', 400, 'invalid_argument'],
    ['/audit/search?limit=0', 400, 'invalid_argument'],
    [`/audit/search?session=${long}`, 400, 'invalid_argument'],
    [`/audit/search?text=${'t'.repeat(201)}`, 400, 'invalid_argument'],
    ['/audit/search?text=a%0Ab', 400, 'invalid_argument'],
    ['/audit/search?bodies=true', 400, 'invalid_argument'],
  ];

  test(`${CASES.length} hostile requests are refused with the right code, never a 5xx`, async () => {
    for (const [path, status, code] of CASES) {
      const { status: got, json } = await t.api('GET', path.replace('SID', sessionId));
      assert.equal(got, status, `${path}: ${JSON.stringify(json)}`);
      if (code) assert.equal(json.error.code, code, path);
    }
  });

  test('injection-shaped filters are compared as values and find nothing; wildcards in text are literal', async () => {
    for (const value of ["' OR '1'='1", "'; DELETE FROM sessions; --", '*', '%']) {
      const q = encodeURIComponent(value);
      assert.deepEqual((await t.api('GET', `/sessions?principal=${q}`)).json.sessions, [], value);
      assert.deepEqual((await t.api('GET', `/audit/search?rule=${q}&agent=${q}`)).json.interactions, [], value);
    }
    assert.deepEqual((await t.api('GET', '/audit/search?text=%25')).json.interactions, [], 'no target holds a %');
    assert.equal((await t.api('GET', '/audit/search?text=COMPLETIONS')).json.interactions.length, 3, 'case ignored');
    assert.equal((await t.api('GET', '/sessions?limit=1000')).json.sessions.length, 1, 'nothing was deleted');
  });

  test('a well-formed token for any position is only a position: the page after it, nothing else', async () => {
    const far = pageToken({ startedAt: 0, id: 'ses_0' });
    assert.deepEqual((await t.api('GET', `/sessions?after=${far}`)).json, { sessions: [], next: null });
    const future = pageToken({ startedAt: 9_999_999_999_999, id: 'zzz' });
    assert.equal((await t.api('GET', `/sessions?after=${future}`)).json.sessions.length, 1);
    const page = (await t.api('GET', '/audit/search?limit=2')).json;
    assert.equal(page.interactions.length, 2);
    const rest = (await t.api('GET', `/audit/search?limit=2&after=${page.next}`)).json;
    assert.deepEqual([rest.interactions.length, rest.next], [1, null]);
  });

  test('roles: an auditor may replay and search; an approver may replay but not search; a user neither; an agent token never', async () => {
    const agent = await t.token();
    const expect: [Person | string, string, number][] = [
      [auditor, `/sessions/${sessionId}/replay`, 200],
      [auditor, '/audit/search', 200],
      [approver, `/sessions/${sessionId}/replay`, 200],
      [approver, '/audit/search', 403],
      [user, `/sessions/${sessionId}/replay`, 403],
      [user, '/audit/search', 403],
      [agent, `/sessions/${sessionId}/replay`, 401],
      [agent, '/audit/search', 401],
    ];
    for (const [who, path, status] of expect) {
      const { status: got, json } = await t.api('GET', path, undefined, typeof who === 'string' ? who : who.token);
      assert.equal(got, status, `${typeof who === 'string' ? 'agent' : who.principal.name} ${path}: ${JSON.stringify(json).slice(0, 200)}`);
    }
  });
});
