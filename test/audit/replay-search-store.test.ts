/**
 * The audit search and replay queries (store/search-rows.ts, migration 21) on SQLite and on a real
 * PostgreSQL: every filter, time ranges, keyset pages that neither repeat nor skip rows sharing a
 * start time, LIKE wildcards taken literally, values that look like SQL bound as values, and the
 * approvals a held request asked for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { newId } from '../../src/util/ids.ts';
import type { SearchPosition, Store } from '../../src/store/types.ts';
import { ENGINES, interaction, principal, session, token, type EngineHarness } from '../store/fixtures.ts';

const T0 = 1_760_000_000_000;

const rejectsWithCode = (promise: Promise<unknown>, code: string) => assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code);

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine} store: audit search and replay`, () => {
    let harness: EngineHarness;
    let store: Store;
    const alice = principal({ name: 'alice' });
    const bob = principal({ name: 'bob' });
    const evalToken = token(alice.id, { name: 'nightly-eval' });
    const chatToken = token(bob.id, { name: 'chat-bot' });
    // Two sessions share a start time: pages must order them by id too.
    const s1 = session({ principalId: alice.id, principalName: 'alice', tokenId: evalToken.id, connection: 'db-a', startedAt: T0, endedAt: T0 + 1_000 });
    const s2 = session({ principalId: bob.id, principalName: 'bob', tokenId: chatToken.id, connection: 'db-a', protocol: 'http', startedAt: T0 + 2_000 });
    const s3 = session({ principalId: alice.id, principalName: 'alice', tokenId: evalToken.id, connection: 'db-b', startedAt: T0 + 5_000, endedAt: T0 + 6_000 });
    const s4 = session({ principalId: alice.id, principalName: 'alice', tokenId: null, connection: 'db-b', startedAt: T0 + 5_000, endedAt: T0 + 5_500 });
    const rows = [
      interaction(s1.id, 1, { startedAt: T0 + 10, target: 'SELECT * FROM users WHERE pct = 100%' }),
      interaction(s1.id, 2, { startedAt: T0 + 20, decision: 'deny', rule: 'no-vault', target: 'select * from vault' }),
      interaction(s1.id, 3, { startedAt: T0 + 20, target: 'select 1000 from t_x' }),
      interaction(s2.id, 1, { startedAt: T0 + 2_010, kind: 'llm.chat', rule: 'llm', target: '/v1/chat/completions', model: 'gpt' }),
      interaction(s3.id, 1, { startedAt: T0 + 5_010, decision: 'approve', rule: 'deletes-need-a-dba', target: 'delete from orders where id = 1' }),
      interaction(s4.id, 1, { startedAt: T0 + 5_010, target: 'SELECT tx FROM t' }),
    ];

    before(async () => {
      harness = await setup();
      store = await harness.open();
      for (const p of [alice, bob]) await store.insertPrincipal(p);
      for (const t of [evalToken, chatToken]) await store.insertToken(t);
      for (const s of [s1, s2, s3, s4]) await store.insertSession(s);
      for (const r of rows) await store.insertInteraction(r);
    });
    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });

    const sessionIds = async (filter: Partial<Parameters<Store['searchSessions']>[0]>) => (await store.searchSessions({ limit: 100, ...filter })).map((s) => s.id);
    const hitIds = async (filter: Partial<Parameters<Store['searchInteractions']>[0]>) => (await store.searchInteractions({ limit: 100, ...filter })).map((i) => i.id);
    const [i11, i12, i13, i21, i31, i41] = rows.map((r) => r.id) as [string, string, string, string, string, string];
    const newestFirst = (...sessions: { id: string; startedAt: number }[]) => [...sessions].sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1)).map((s) => s.id);

    it('sessions: newest first with counts and the agent; each filter narrows', async () => {
      const all = await store.searchSessions({ limit: 100 });
      assert.deepEqual(all.map((s) => s.id), newestFirst(s1, s2, s3, s4));
      const first = all.find((s) => s.id === s1.id)!;
      assert.deepEqual([first.interactionCount, first.deniedCount, first.agent], [3, 1, 'nightly-eval']);
      assert.equal(all.find((s) => s.id === s4.id)!.agent, null);
      assert.deepEqual(await sessionIds({ principal: 'bob' }), [s2.id]);
      assert.deepEqual(await sessionIds({ principal: bob.id }), [s2.id], 'by id as well as by name');
      assert.deepEqual(await sessionIds({ agent: 'nightly-eval' }), newestFirst(s1, s3));
      assert.deepEqual(await sessionIds({ connection: 'db-b' }), newestFirst(s3, s4));
      assert.deepEqual(await sessionIds({ kind: 'llm.chat' }), [s2.id]);
      assert.deepEqual(await sessionIds({ decision: 'deny' }), [s1.id]);
      assert.deepEqual(await sessionIds({ rule: 'deletes-need-a-dba' }), [s3.id]);
      assert.deepEqual(await sessionIds({ principal: 'alice', decision: 'allow', connection: 'db-b' }), [s4.id], 'filters combine');
    });

    it('sessions: a time range keeps those open during any part of it, an open session included', async () => {
      assert.deepEqual(await sessionIds({ since: T0 + 1_500, until: T0 + 5_000 }), [s2.id], 's1 ended before; s3 and s4 start at until (exclusive)');
      assert.deepEqual(await sessionIds({ since: T0 + 999, until: T0 + 1_001 }), [s1.id], 'ended within the range');
      assert.deepEqual(await sessionIds({ since: T0 + 1_000_000 }), [s2.id], 'still open');
    });

    it('sessions: keyset pages of one row walk every session once, through a shared start time', async () => {
      const seen: string[] = [];
      let position: SearchPosition | undefined;
      for (let page = 0; page < 10; page++) {
        const [row] = await store.searchSessions({ limit: 1, ...(position ? { before: position } : {}) });
        if (!row) break;
        seen.push(row.id);
        position = { startedAt: row.startedAt, id: row.id };
      }
      assert.deepEqual(seen, newestFirst(s1, s2, s3, s4));
    });

    it('interactions: each filter, the session and the agent of each hit, no bodies', async () => {
      const hits = await store.searchInteractions({ limit: 100, connection: 'db-a' });
      assert.deepEqual(hits.map((h) => h.id), [i21, ...[i12, i13].sort().reverse(), i11]);
      assert.deepEqual(hits[0]!.session, { principalId: bob.id, principalName: 'bob', tokenId: chatToken.id, connection: 'db-a', protocol: 'http', agent: 'chat-bot' });
      assert.ok(!('requestBody' in hits[0]!) && !('responseBody' in hits[0]!));
      assert.deepEqual(await hitIds({ decision: 'deny' }), [i12]);
      assert.deepEqual(await hitIds({ rule: 'llm', kind: 'llm.chat' }), [i21]);
      assert.deepEqual(await hitIds({ agent: 'nightly-eval', decision: 'approve' }), [i31]);
      assert.deepEqual(await hitIds({ principal: 'alice', session: s4.id }), [i41]);
      assert.deepEqual(await hitIds({ since: T0 + 20, until: T0 + 2_011 }), [i21, ...[i12, i13].sort().reverse()]);
      assert.deepEqual(await hitIds({ agent: 'no-such-agent' }), []);
    });

    it('interactions: text matches the target ignoring case, its wildcards taken literally', async () => {
      assert.deepEqual(await hitIds({ text: 'FROM VAULT' }), [i12]);
      assert.deepEqual(await hitIds({ text: '100%' }), [i11], '% is a character, not "anything"');
      assert.deepEqual(await hitIds({ text: 't_x' }), [i13], '_ is a character, not "any one"');
      assert.deepEqual(await hitIds({ text: '\\' }), []);
      assert.deepEqual(await hitIds({ text: '%' }), [i11]);
    });

    it('values that look like SQL are values', async () => {
      for (const value of ["alice' OR '1'='1", "'; DROP TABLE sessions; --", '"alice"']) {
        assert.deepEqual(await sessionIds({ principal: value }), [], value);
        assert.deepEqual(await hitIds({ rule: value, text: value }), [], value);
      }
      assert.equal((await store.searchSessions({ limit: 100 })).length, 4, 'nothing was dropped');
    });

    it('interactions: pages of two neither repeat nor skip rows that share a start time', async () => {
      const seen: string[] = [];
      let position: SearchPosition | undefined;
      for (let page = 0; page < 10; page++) {
        const hits = await store.searchInteractions({ limit: 2, ...(position ? { before: position } : {}) });
        if (hits.length === 0) break;
        seen.push(...hits.map((h) => h.id));
        position = { startedAt: hits.at(-1)!.startedAt, id: hits.at(-1)!.id };
      }
      assert.deepEqual(seen, await hitIds({}));
      assert.equal(new Set(seen).size, rows.length);
    });

    it('limits and times out of range are refused, not clamped', async () => {
      for (const limit of [0, -1, 10_001, 1.5, Number.NaN]) {
        await rejectsWithCode(store.searchSessions({ limit }), 'invalid_argument');
        await rejectsWithCode(store.searchInteractions({ limit }), 'invalid_argument');
      }
      await rejectsWithCode(store.searchInteractions({ limit: 1, since: -5 }), 'invalid_argument');
      await rejectsWithCode(store.searchSessions({ limit: 1, before: { startedAt: Number.POSITIVE_INFINITY, id: 'x' } }), 'invalid_argument');
      await rejectsWithCode(store.replayPage(s1.id, -1, 10), 'invalid_argument');
      await rejectsWithCode(store.replayPage(s1.id, 1, 0), 'invalid_argument');
    });

    it('replay pages: from a seq, bounded, with the total and the agent', async () => {
      const page = await store.replayPage(s1.id, 2, 1);
      assert.deepEqual(page.interactions.map((i) => i.seq), [2]);
      assert.equal(page.interactions[0]!.target, 'select * from vault');
      assert.deepEqual([page.total, page.agent], [3, 'nightly-eval']);
      assert.deepEqual(await store.replayPage('s_missing', 1, 10), { interactions: [], total: 0, agent: null });
    });

    it('the approvals held requests asked for, found by their approval.created events within the window', async () => {
      const event = (at: number, interactionId: unknown, target: string, action = 'approval.created') => ({
        id: newId('aud', at), at, replicaId: null, actorId: alice.id, actorName: 'alice', actorKind: 'user' as const, credentialId: null,
        action, target, outcome: 200, details: { interaction: interactionId, rule: 'deletes-need-a-dba' },
      });
      await store.insertAuditEvent(event(T0 + 5_005, i31, 'apr_one'));
      await store.insertAuditEvent(event(T0 + 5_006, i41, 'apr_other_session'));
      await store.insertAuditEvent(event(T0 + 5_007, i31, 'apr_voted', 'approval.voted'));
      await store.insertAuditEvent(event(T0 + 5_008, { not: 'an id' }, 'apr_odd'));
      await store.insertAuditEvent(event(T0 + 9_000, i31, 'apr_after_window'));
      assert.deepEqual([...(await store.approvalsAskedBy([i31], s3.startedAt, T0 + 5_010))], [[i31, 'apr_one']]);
      assert.deepEqual([...(await store.approvalsAskedBy([], s3.startedAt, T0 + 5_010))], []);
    });
  });
}
