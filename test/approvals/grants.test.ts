/**
 * Just-in-time access through a real gateway: requests go through the approvals (same rules,
 * same routes), an approved one yields a grant the policy reads as `grants`, the openai SDK is
 * allowed only while its caller holds one, and revocation and expiry take it away. The clock and
 * wake-ups are moved by hand: nothing waits on wall time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { ManualTime } from './manual-time.ts';
import { GRANTS_POLICY, GRANTS_YAML } from './grants-fixtures.ts';

describe('just-in-time access grants', () => {
  let t: TestGateway;
  let time: ManualTime;
  let ada: Person;
  let bob: Person;
  let carol: Person;
  let dan: Person;
  let erin: Person;
  let uma: Person;
  let sam: Person;
  let ivy: Person;
  let adaAgent: string;
  let umaAgent: string;

  before(async () => {
    time = new ManualTime(Date.now());
    t = await startTestGateway({ policyYaml: GRANTS_POLICY, extraYaml: GRANTS_YAML, approvals: { now: time.now, timers: time } });
    const store = t.gateway.store;
    [ada, bob, carol, dan, erin, uma, sam, ivy] = await Promise.all([
      personWithToken(store, 'ada', ['engineering']),
      personWithToken(store, 'bob', ['oncall', 'engineering']),
      personWithToken(store, 'carol', ['oncall']),
      personWithToken(store, 'dan', ['dba']),
      personWithToken(store, 'erin', ['dba']),
      personWithToken(store, 'uma', ['engineering']),
      personWithToken(store, 'sam', ['security']),
      personWithToken(store, 'ivy', ['ic']),
    ]);
    adaAgent = await t.token({ user: 'ada', connections: ['openai', 'other'] });
    umaAgent = await t.token({ user: 'uma', connections: ['openai', 'other'] });
  });
  after(async () => {
    await t?.close();
  });

  const sdk = (token: string, connection = 'openai') => new OpenAI({ baseURL: `${t.url}/proxy/${connection}/v1`, apiKey: token, maxRetries: 0 });
  const chat = (token: string, connection = 'openai') => sdk(token, connection).chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] });
  async function refused(call: Promise<unknown>): Promise<string> {
    try {
      await call;
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIError, String(err));
      return String(err.code);
    }
    assert.fail('expected the call to be refused');
  }
  const ask = (who: Person, body: unknown) => t.api('POST', '/access/requests', body, who.token);
  const approve = (who: Person, id: string) => t.api('POST', `/approvals/${id}/approve`, {}, who.token);
  const revoke = (who: Person, id: string, reason = 'incident over') => t.api('POST', `/access/grants/${id}/revoke`, { reason }, who.token);
  const show = (id: string, who?: Person) => t.api('GET', `/access/requests/${id}`, undefined, who?.token);
  async function audit(action: string): Promise<any[]> {
    return (await t.api('GET', `/audit/events?action=${encodeURIComponent(action)}&limit=100`)).json.events;
  }
  /** Asks for access and has it approved by `approver`: returns the access request as approved. */
  async function granted(who: Person, connection: string, approvers: Person[], duration = '1h', reason = `incident ${Math.random()}`): Promise<any> {
    const asked = await ask(who, { connection, for: duration, reason });
    assert.equal(asked.status, 201, JSON.stringify(asked.json));
    for (const approver of approvers) assert.equal((await approve(approver, asked.json.id)).status, 200);
    const view = (await show(asked.json.id)).json;
    assert.equal(view.status, 'active', JSON.stringify(view));
    return view;
  }
  /** Ends every grant ada and uma hold, so each test starts without one. */
  async function revokeAll(): Promise<void> {
    for (const r of (await t.api('GET', '/access/requests?status=active')).json.requests) await revoke(bob, r.grant.id, 'clean up');
  }

  test('asked, approved by another person: the SDK call is allowed, and the record names the grant it relied on', async () => {
    await revokeAll();
    assert.equal(await refused(chat(adaAgent)), 'policy_denied');
    const asked = await ask(ada, { connection: 'openai', for: '1h', reason: 'incident 4521' });
    assert.equal(asked.status, 201);
    assert.equal(asked.json.status, 'pending');
    assert.deepEqual(asked.json.approvers, ['oncall']);
    assert.equal(asked.json.required, 1);
    assert.equal(asked.json.requestExpiresAt - asked.json.createdAt, 30 * 60_000, 'approvals.access.timeout');
    // The same approvals as any held request: listed to approvers, decided with the approvals routes.
    const approval = (await t.api('GET', `/approvals/${asked.json.id}`, undefined, bob.token)).json;
    assert.equal(approval.kind, 'access.request');
    assert.equal(approval.summary.reason, 'incident 4521');
    assert.equal(approval.summary.duration, '1h');
    assert.equal((await approve(bob, asked.json.id)).status, 200);
    const view = (await show(asked.json.id, ada)).json;
    assert.equal(view.status, 'active');
    assert.match(view.grant.id, /^grt_/);
    assert.deepEqual(view.grant.approvedBy, ['bob']);
    assert.equal(view.grant.expiresAt - view.grant.grantedAt, 3_600_000);

    const reply = await chat(adaAgent);
    assert.ok(reply.choices[0]!.message.content);
    const sessions = (await t.api('GET', '/sessions?principal=ada')).json.sessions;
    const rows = (await Promise.all(sessions.map(async (s: any) => (await t.api('GET', `/sessions/${s.id}`)).json.interactions))).flat();
    const allowed = rows.filter((r: any) => r.decision === 'allow' && r.summary.grants?.includes(view.grant.id));
    assert.equal(allowed.length, 1, 'the allowed call records the grant it relied on');
    // The refusal before the grant records that the decision read grants and found none.
    assert.ok(rows.some((r: any) => r.decision === 'deny' && Array.isArray(r.summary.grants) && r.summary.grants.length === 0));

    const requested = (await audit('access.requested')).find((e) => e.target === asked.json.id);
    assert.equal(requested?.actorName, 'ada');
    const approved = (await audit('access.approved')).find((e) => e.target === view.grant.id);
    assert.equal(approved?.actorName, 'bob');
    assert.equal(approved?.details.connection, 'openai');
  });

  test('revoked early: the next call is denied, the revocation is recorded, and revoking again is refused', async () => {
    await revokeAll();
    const view = await granted(ada, 'openai', [carol]);
    await chat(adaAgent);
    const revoked = await revoke(bob, view.grant.id, 'the incident is closed');
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    assert.equal(revoked.json.status, 'revoked');
    assert.equal(revoked.json.grant.endedBy, 'bob');
    assert.equal(revoked.json.grant.endReason, 'the incident is closed');
    assert.equal(await refused(chat(adaAgent)), 'policy_denied');
    // The HTTP session whose decision read the grant was ended, naming it.
    await pollUntil(async () => {
      const sessions = (await t.api('GET', '/sessions?principal=ada&limit=100')).json.sessions as any[];
      return sessions.some((s) => s.endedAt !== null && String(s.endReason).includes(`access grant ${view.grant.id}`));
    }, 'the session relying on the grant ends');
    const again = await revoke(bob, view.grant.id);
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'conflict');
    const event = (await audit('access.revoked')).find((e) => e.target === view.grant.id);
    assert.equal(event?.actorName, 'bob');
    assert.equal(event?.details.reason, 'the incident is closed');
    // By the access request's id as well, the holder gives up their own grant.
    const mine = await granted(ada, 'openai', [carol]);
    assert.equal((await revoke(ada, mine.id, 'done early')).json.status, 'revoked');
  });

  test('expired (injected clock): the next call no longer sees the grant, and the sweep records the expiry once', async () => {
    await revokeAll();
    const view = await granted(ada, 'openai', [bob], '1h');
    await chat(adaAgent);
    time.advance(3_600_000);
    assert.equal(await refused(chat(adaAgent)), 'policy_denied');
    assert.equal((await show(view.id)).json.status, 'expired');
    time.fire();
    await pollUntil(async () => (await audit('access.expired')).some((e) => e.target === view.grant.id), 'the expiry is recorded');
    const stored = await t.gateway.store.getGrant(view.grant.id);
    assert.equal(stored?.status, 'expired');
    assert.equal((await audit('access.expired')).filter((e) => e.target === view.grant.id).length, 1);
    assert.equal((await revoke(bob, view.grant.id)).status, 409, 'an expired grant cannot be revoked');
  });

  test('nobody approves their own access request; another approver may', async () => {
    const asked = await ask(bob, { connection: 'openai', for: '30m', reason: 'own request' });
    const own = await approve(bob, asked.json.id);
    assert.equal(own.status, 403);
    assert.equal(own.json.error.code, 'forbidden_role');
    assert.equal((await show(asked.json.id)).json.status, 'pending');
    assert.equal((await approve(carol, asked.json.id)).status, 200);
    assert.equal((await show(asked.json.id)).json.status, 'active');
  });

  test('a --for above the maximum is refused with the maximum named; per-connection settings apply (2 of dba, at most 1h)', async () => {
    const over = await ask(ada, { connection: 'openai', for: '5h', reason: 'long job' });
    assert.equal(over.status, 400);
    assert.equal(over.json.error.code, 'invalid_argument');
    assert.match(over.json.error.message, /at most 4h/);
    const overOther = await ask(ada, { connection: 'other', for: '2h', reason: 'long job' });
    assert.match(overOther.json.error.message, /at most 1h/);
    const asked = await ask(ada, { connection: 'other', for: '1h', reason: 'two-person' });
    assert.deepEqual([asked.json.approvers, asked.json.required], [['dba'], 2]);
    assert.equal((await approve(bob, asked.json.id)).json.error.code, 'forbidden_role', 'oncall does not decide other');
    assert.equal((await approve(dan, asked.json.id)).status, 200);
    assert.equal((await show(asked.json.id)).json.status, 'pending', 'one of two');
    assert.equal((await approve(erin, asked.json.id)).status, 200);
    assert.equal((await show(asked.json.id)).json.status, 'active');
  });

  test('a break-glass approver grants alone, and the vote says so', async () => {
    const asked = await ask(ada, { connection: 'other', for: '15m', reason: 'sev1' });
    assert.equal((await approve(ivy, asked.json.id)).status, 200);
    const view = (await show(asked.json.id)).json;
    assert.equal(view.status, 'active');
    assert.equal(view.votes[0].breakGlass, true);
  });

  test('a grant for one connection does not open another', async () => {
    await revokeAll();
    await granted(ada, 'openai', [bob]);
    await chat(adaAgent, 'openai');
    assert.equal(await refused(chat(adaAgent, 'other')), 'policy_denied');
  });

  test("another person's grant is invisible: it does not allow their calls, and their request reads as missing", async () => {
    await revokeAll();
    const view = await granted(ada, 'openai', [bob]);
    assert.equal(await refused(chat(umaAgent)), 'policy_denied');
    assert.equal((await show(view.id, uma)).status, 404);
    assert.equal((await show(view.grant.id, uma)).status, 404);
    const listed = (await t.api('GET', '/access/requests', undefined, uma.token)).json.requests;
    assert.ok(listed.every((r: any) => r.requester.name === 'uma'));
    assert.ok((await t.api('GET', '/access/requests', undefined, sam.token)).json.requests.some((r: any) => r.id === view.id), 'an auditor sees every request');
  });

  test('a denied request yields no grant and is recorded with who denied it', async () => {
    const asked = await ask(ada, { connection: 'openai', for: '1h', reason: 'please' });
    const denied = await t.api('POST', `/approvals/${asked.json.id}/deny`, { reason: 'not now' }, carol.token);
    assert.equal(denied.status, 200);
    const view = (await show(asked.json.id)).json;
    assert.equal(view.status, 'denied');
    assert.equal(view.grant, null);
    await pollUntil(async () => (await audit('access.denied')).some((e) => e.target === asked.json.id && e.actorName === 'carol'), 'the denial is recorded');
  });

  test('a request nobody decides expires with the injected clock', async () => {
    const asked = await ask(uma, { connection: 'openai', for: '1h', reason: 'waiting' });
    time.advance(30 * 60_000);
    time.fire();
    await pollUntil(async () => (await show(asked.json.id)).json.status === 'expired', 'the request expires');
    assert.equal((await approve(bob, asked.json.id)).status, 409);
    await pollUntil(async () => (await audit('access.expired')).some((e) => e.target === asked.json.id), 'the expiry is recorded');
  });

  test('an approval whose grant was never issued (the deciding replica stopped in between) is settled by the sweep', async () => {
    const asked = await ask(uma, { connection: 'other', for: '10m', reason: 'crash in between' });
    // As a decision stored by a replica that stopped before it issued the grant.
    assert.equal(await t.gateway.store.decideApproval(asked.json.id, 'approved', time.now()), true);
    assert.equal((await show(asked.json.id)).json.status, 'approved');
    time.fire();
    await pollUntil(async () => (await show(asked.json.id)).json.status === 'active', 'the sweep issues the grant');
    assert.equal((await t.gateway.store.getApproval(asked.json.id))?.status, 'used');
  });

  describe('hostile input', () => {
    const bad: [string, unknown, number, string][] = [
      ['empty duration', { connection: 'openai', for: '', reason: 'x' }, 400, 'invalid_argument'],
      ['zero duration', { connection: 'openai', for: '0s', reason: 'x' }, 400, 'invalid_argument'],
      ['below a minute', { connection: 'openai', for: '30s', reason: 'x' }, 400, 'invalid_argument'],
      ['bare number', { connection: 'openai', for: '3600', reason: 'x' }, 400, 'invalid_argument'],
      ['negative', { connection: 'openai', for: '-1h', reason: 'x' }, 400, 'invalid_argument'],
      ['upper-case unit', { connection: 'openai', for: '1H', reason: 'x' }, 400, 'invalid_argument'],
      ['fraction', { connection: 'openai', for: '1.5h', reason: 'x' }, 400, 'invalid_argument'],
      ['ISO 8601', { connection: 'openai', for: 'PT1H', reason: 'x' }, 400, 'invalid_argument'],
      ['overflowing', { connection: 'openai', for: '99999999999999d', reason: 'x' }, 400, 'invalid_argument'],
      ['units out of order', { connection: 'openai', for: '30m1h', reason: 'x' }, 400, 'invalid_argument'],
      ['NUL in duration', { connection: 'openai', for: '1h\u0000', reason: 'x' }, 400, 'invalid_argument'],
      ['number for duration', { connection: 'openai', for: 3600, reason: 'x' }, 400, 'invalid_argument'],
      ['empty reason', { connection: 'openai', for: '1h', reason: '' }, 400, 'invalid_argument'],
      ['blank reason', { connection: 'openai', for: '1h', reason: '   ' }, 400, 'invalid_argument'],
      ['huge reason', { connection: 'openai', for: '1h', reason: 'x'.repeat(100_000) }, 400, 'invalid_argument'],
      ['line break in reason', { connection: 'openai', for: '1h', reason: 'ok\napproved by security' }, 400, 'invalid_argument'],
      ['escape sequence in reason', { connection: 'openai', for: '1h', reason: 'ok \u001b[2J' }, 400, 'invalid_argument'],
      ['bidi override in reason', { connection: 'openai', for: '1h', reason: 'fix \u202edb-dorp' }, 400, 'invalid_argument'],
      ['missing reason', { connection: 'openai', for: '1h' }, 400, 'invalid_argument'],
      ['unknown connection', { connection: 'prod-db-2', for: '1h', reason: 'x' }, 404, 'unknown_connection'],
      ['connection in another case', { connection: 'OPENAI', for: '1h', reason: 'x' }, 404, 'unknown_connection'],
      ['path in connection', { connection: '../openai', for: '1h', reason: 'x' }, 404, 'unknown_connection'],
      ['huge connection name', { connection: 'a'.repeat(500), for: '1h', reason: 'x' }, 400, 'invalid_argument'],
      ['connection list', { connection: ['openai'], for: '1h', reason: 'x' }, 400, 'invalid_argument'],
      ['extra field', { connection: 'openai', for: '1h', reason: 'x', approvedBy: 'bob' }, 400, 'invalid_argument'],
      ['not an object', ['openai', '1h'], 400, 'invalid_argument'],
    ];
    for (const [name, body, status, code] of bad) {
      test(`request refused: ${name}`, async () => {
        const before = (await t.api('GET', '/access/requests?limit=1000')).json.requests.length;
        const answer = await ask(ada, body);
        assert.equal(answer.status, status, JSON.stringify(answer.json));
        assert.equal(answer.json.error.code, code);
        assert.equal((await t.api('GET', '/access/requests?limit=1000')).json.requests.length, before, 'nothing was stored');
      });
    }

    test('a secret pasted into a reason never reaches approvers, the grant or the audit log', async () => {
      const key = 'AKIAIOSFODNN7EXAMPLE';
      const asked = await ask(uma, { connection: 'openai', for: '1h', reason: `incident, use key ${key}` });
      assert.equal(asked.status, 201);
      assert.doesNotMatch(JSON.stringify(asked.json), new RegExp(key));
      assert.doesNotMatch(JSON.stringify((await t.api('GET', `/approvals/${asked.json.id}`, undefined, bob.token)).json), new RegExp(key));
      assert.equal((await approve(bob, asked.json.id)).status, 200);
      const view = (await show(asked.json.id)).json;
      assert.equal((await revoke(bob, view.grant.id, `leaked ${key}`)).status, 200);
      const grant = await t.gateway.store.getGrant(view.grant.id);
      assert.doesNotMatch(JSON.stringify(grant), new RegExp(key));
      assert.doesNotMatch(JSON.stringify((await t.api('GET', '/audit/events?limit=500')).json), new RegExp(key));
    });

    test('an agent token (gth_) cannot ask for access, nor can a caller without a token', async () => {
      const agent = await t.api('POST', '/access/requests', { connection: 'openai', for: '1h', reason: 'x' }, adaAgent);
      assert.equal(agent.status, 401);
      const none = await fetch(`${t.url}/api/v1/access/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(none.status, 401);
    });

    test('the same request sent twice while pending is one request (a replay asks nobody twice)', async () => {
      const body = { connection: 'openai', for: '45m', reason: 'replayed' };
      const first = await ask(uma, body);
      const second = await ask(uma, body);
      assert.equal(second.json.id, first.json.id);
      assert.equal((await audit('access.requested')).filter((e) => e.target === first.json.id).length, 1);
    });

    test('a replayed approval is refused once the request was approved, and grants nothing more', async () => {
      const asked = await ask(ada, { connection: 'openai', for: '20m', reason: 'replay the vote' });
      assert.equal((await approve(bob, asked.json.id)).status, 200);
      const replay = await approve(bob, asked.json.id);
      assert.equal(replay.status, 409);
      const other = await approve(carol, asked.json.id);
      assert.equal(other.status, 409);
      const grants = await t.gateway.store.listGrants({ principalId: ada.principal.id, limit: 1000 });
      assert.equal(grants.filter((g) => g.approvalId === asked.json.id).length, 1);
    });

    test('wrong role: a user cannot approve, an auditor cannot revoke another person’s grant, a stranger cannot even see it', async () => {
      const view = await granted(ada, 'openai', [bob]);
      const asked = await ask(ada, { connection: 'openai', for: '10m', reason: 'role check' });
      assert.equal((await approve(uma, asked.json.id)).json.error.code, 'forbidden_role');
      const auditor = await revoke(sam, view.grant.id);
      assert.equal(auditor.status, 403);
      assert.equal(auditor.json.error.code, 'forbidden_role');
      assert.equal((await revoke(uma, view.grant.id)).status, 404);
      assert.equal((await show(view.grant.id)).json.status, 'active', 'still active after the refusals');
    });

    test('revoking: unknown ids, a pending request, no reason or a reason with control characters are refused', async () => {
      assert.equal((await revoke(bob, 'grt_0000000000000000000000')).status, 404);
      assert.equal((await revoke(bob, '%00')).status, 404);
      const asked = await ask(uma, { connection: 'openai', for: '1h', reason: 'still pending' });
      assert.equal((await revoke(bob, asked.json.id)).status, 404);
      const view = await granted(ada, 'openai', [bob]);
      assert.equal((await t.api('POST', `/access/grants/${view.grant.id}/revoke`, {}, bob.token)).status, 400);
      assert.equal((await revoke(bob, view.grant.id, 'done\u0007')).status, 400);
      assert.equal((await show(view.grant.id)).json.status, 'active');
    });

    test('more than ten waiting requests from one person are refused', async () => {
      const codes: number[] = [];
      for (let i = 0; i < 12; i++) codes.push((await ask(dan, { connection: 'openai', for: '1h', reason: `flood ${i}` })).status);
      assert.deepEqual(codes.slice(0, 10), Array(10).fill(201));
      assert.deepEqual(codes.slice(10), [429, 429]);
    });
  });
});
