import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import type { Store, TokenRow } from '../../src/store/types.ts';
import {
  ENGINES,
  type EngineHarness,
  completion,
  connection,
  id,
  interaction,
  principal,
  serviceAccount,
  session,
  token,
} from './fixtures.ts';

interface Ctx {
  readonly store: Store;
  readonly harness: EngineHarness;
  /** Closes the store and opens a new one on the same database, as a restart does. */
  reopen(): Promise<Store>;
}

const rejectsWithCode = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code);

/** Builds root → child → grandchild for one principal; returns them in that order. */
async function tokenChain(store: Store, principalId: string): Promise<[TokenRow, TokenRow, TokenRow]> {
  const root = token(principalId);
  const child = token(principalId, { parentId: root.id });
  const grandchild = token(principalId, { parentId: child.id });
  for (const t of [root, child, grandchild]) await store.insertToken(t);
  return [root, child, grandchild];
}

const CASES: { name: string; run(ctx: Ctx): Promise<void> }[] = [
  {
    name: 'migrations run twice without error and record each version once',
    async run({ store, harness }) {
      await store.migrate();
      await store.migrate();
      const rows = await harness.query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version));
    },
  },
  {
    name: 'settings: get, set, overwrite, and set-if-absent keeps the first value',
    async run({ store }) {
      const key = id('setting');
      assert.equal(await store.getSetting(key), null);
      assert.equal(await store.setSettingIfAbsent(key, 'first'), 'first');
      assert.equal(await store.setSettingIfAbsent(key, 'second'), 'first');
      await store.setSetting(key, 'third');
      assert.equal(await store.getSetting(key), 'third');
    },
  },
  {
    name: 'setSettingIfAbsent from concurrent replicas agrees on one value',
    async run({ store, harness }) {
      const other = await harness.open();
      try {
        const key = id('bootstrap');
        const candidates = ['a', 'b', 'c', 'd', 'e', 'f'];
        const results = await Promise.all(
          candidates.map((value, i) => (i % 2 ? other : store).setSettingIfAbsent(key, value)),
        );
        assert.equal(new Set(results).size, 1);
        assert.ok(candidates.includes(results[0]!));
        assert.equal(await store.getSetting(key), results[0]);
      } finally {
        await other.close();
      }
    },
  },
  {
    name: 'principals round-trip, find by kind and name, and reject duplicates',
    async run({ store }) {
      const alice = principal({ groups: ['eng', 'ünïcödé'] });
      const robot = principal({ kind: 'service_account', name: alice.name, groups: [], disabledAt: 1_700_000_000_500 });
      await store.insertPrincipal(alice);
      await store.insertPrincipal(robot);
      assert.deepEqual(await store.getPrincipal(alice.id), alice);
      assert.deepEqual(await store.findPrincipal('user', alice.name), alice);
      assert.deepEqual(await store.findPrincipal('service_account', alice.name), robot);
      assert.equal(await store.findPrincipal('admin', alice.name), null);
      assert.equal(await store.getPrincipal(id('missing')), null);
      const listed = await store.listPrincipals();
      assert.deepEqual(listed.find((p) => p.id === robot.id), robot);
      await rejectsWithCode(store.insertPrincipal({ ...alice, id: id('p') }), 'conflict');
      await rejectsWithCode(store.insertPrincipal(alice), 'conflict');
    },
  },
  {
    name: 'tokens round-trip by id and by hash, with null and listed connections',
    async run({ store }) {
      const anyConnection = token('p1', { connections: null, expiresAt: 1_900_000_000_000, kind: 'admin' });
      const scoped = token('p1', { connections: ['a', 'b'] });
      await store.insertToken(anyConnection);
      await store.insertToken(scoped);
      assert.deepEqual(await store.getToken(anyConnection.id), anyConnection);
      assert.deepEqual(await store.getTokenByHash(scoped.hash), scoped);
      assert.equal(await store.getTokenByHash(id('hash')), null);
      await rejectsWithCode(store.insertToken({ ...scoped, id: id('t') }), 'conflict');
      await rejectsWithCode(store.insertToken(token('p1', { parentId: id('missing') })), 'invalid_argument');
    },
  },
  {
    name: 'revokeToken cascades to every descendant, once, and leaves other trees alone',
    async run({ store }) {
      const [root, child, grandchild] = await tokenChain(store, 'p2');
      const sibling = token('p2', { parentId: root.id });
      const unrelated = token('p2');
      await store.insertToken(sibling);
      await store.insertToken(unrelated);

      assert.deepEqual((await store.revokeToken(child.id, 10)).sort(), [child.id, grandchild.id].sort());
      const revoked = (await store.revokeToken(root.id, 20)).sort();
      assert.deepEqual(revoked, [root.id, sibling.id].sort(), 'already revoked tokens are not reported again');
      assert.equal((await store.getToken(grandchild.id))?.revokedAt, 10, 'the first revocation time is kept');
      assert.equal((await store.getToken(sibling.id))?.revokedAt, 20);
      assert.equal((await store.getToken(unrelated.id))?.revokedAt, null);
      assert.deepEqual(await store.revokeToken(root.id, 30), []);
      assert.deepEqual(await store.revokeToken(id('missing'), 30), []);
    },
  },
  {
    name: 'a token issued under a revoked parent is stored revoked',
    async run({ store }) {
      const parent = token('p3');
      await store.insertToken(parent);
      await store.revokeToken(parent.id, 42);
      const child = token('p3', { parentId: parent.id });
      await store.insertToken(child);
      assert.equal((await store.getToken(child.id))?.revokedAt, 42);
    },
  },
  {
    name: 'revokePrincipalTokens revokes that principal’s tokens and their descendants only',
    async run({ store }) {
      const [root, child] = await tokenChain(store, 'p4');
      const delegated = token('p5', { parentId: child.id });
      const bystander = token('p5');
      await store.insertToken(delegated);
      await store.insertToken(bystander);
      const ids = await store.revokePrincipalTokens('p4', 50);
      assert.equal(ids.length, 4);
      assert.ok(ids.includes(root.id) && ids.includes(delegated.id));
      assert.equal((await store.getToken(bystander.id))?.revokedAt, null);
      assert.deepEqual(await store.revokePrincipalTokens('p4', 60), []);
    },
  },
  {
    name: 'listTokens hides revoked and expired tokens unless asked',
    async run({ store }) {
      const owner = id('p');
      const live = token(owner, { createdAt: 1, expiresAt: null });
      const notYetExpired = token(owner, { createdAt: 2, expiresAt: 2_000 });
      const expired = token(owner, { createdAt: 3, expiresAt: 1_000 });
      const revoked = token(owner, { createdAt: 4 });
      for (const t of [live, notYetExpired, expired, revoked]) await store.insertToken(t);
      await store.revokeToken(revoked.id, 5);
      const ids = async (filter: { includeRevoked?: boolean; includeExpired?: boolean }) =>
        (await store.listTokens({ principalId: owner, now: 1_500, ...filter })).map((t) => t.id);
      assert.deepEqual(await ids({}), [live.id, notYetExpired.id]);
      assert.deepEqual(await ids({ includeExpired: true }), [live.id, notYetExpired.id, expired.id]);
      assert.deepEqual(await ids({ includeRevoked: true }), [live.id, notYetExpired.id, revoked.id]);
      assert.deepEqual(await ids({ includeRevoked: true, includeExpired: true }), [live.id, notYetExpired.id, expired.id, revoked.id]);
      const everyone = await store.listTokens({ now: 1_500 });
      assert.ok(everyone.some((t) => t.id === live.id) && !everyone.some((t) => t.id === expired.id));
    },
  },
  {
    name: 'revocation racing with new child tokens leaves no live descendant',
    async run({ store, harness }) {
      const other = await harness.open();
      try {
        const owner = id('p');
        const root = token(owner);
        await store.insertToken(root);
        const nodes = [root.id];
        // Grow the tree from a second replica while the first revokes it.
        const grow = (async () => {
          for (let i = 0; i < 40; i++) {
            const child = token(owner, { parentId: nodes[(i * 7) % nodes.length]! });
            await other.insertToken(child);
            nodes.push(child.id);
          }
        })();
        await new Promise((resolve) => setTimeout(resolve, 5));
        const [revoked] = await Promise.all([store.revokeToken(root.id, 70), grow]);
        const all = await store.listTokens({ principalId: owner, includeRevoked: true, includeExpired: true, now: 0 });
        assert.equal(all.length, 41);
        assert.deepEqual(all.filter((t) => t.revokedAt === null).map((t) => t.id), []);
        assert.equal(new Set(revoked).size, revoked.length);
      } finally {
        await other.close();
      }
    },
  },
  {
    name: 'service accounts round-trip by id and by name; disabling keeps the first time',
    async run({ store }) {
      const sa = serviceAccount();
      await store.insertServiceAccount(sa);
      assert.deepEqual(await store.getServiceAccount(sa.id), sa);
      assert.deepEqual(await store.getServiceAccount(sa.name), sa);
      assert.equal(await store.getServiceAccount(id('nobody')), null);
      assert.ok((await store.listServiceAccounts()).some((s) => s.id === sa.id));
      await store.disableServiceAccount(sa.id, 100);
      await store.disableServiceAccount(sa.id, 200);
      assert.equal((await store.getServiceAccount(sa.id))?.disabledAt, 100);
      await rejectsWithCode(store.disableServiceAccount(id('nobody'), 1), 'not_found');
      await rejectsWithCode(store.insertServiceAccount({ ...sa, id: id('sa') }), 'conflict');
    },
  },
  {
    name: 'connections upsert (keeping createdAt), list in name order, and delete',
    async run({ store }) {
      const first = connection({ name: id('a-conn') });
      const second = connection({ name: `${first.name}-z`, credential: null, options: {} });
      await store.upsertConnection(first);
      await store.upsertConnection(second);
      assert.deepEqual(await store.getConnection(first.name), first);
      const changed = { ...first, type: 'http', upstream: 'https://api.example', tags: [], credential: 'v1:BBBB',
        options: { headers: { 'x-team': 'eng' } }, createdAt: 9_999, updatedAt: 1_700_000_001_000 };
      await store.upsertConnection(changed);
      assert.deepEqual(await store.getConnection(first.name), { ...changed, createdAt: first.createdAt });
      const names = (await store.listConnections()).map((c) => c.name);
      assert.ok(names.indexOf(first.name) < names.indexOf(second.name));
      assert.equal(await store.deleteConnection(first.name), true);
      assert.equal(await store.deleteConnection(first.name), false);
      assert.equal(await store.getConnection(first.name), null);
      assert.deepEqual(await store.getConnection(second.name), second);
    },
  },
  {
    name: 'interactions are written ahead (open) and completed afterwards',
    async run({ store }) {
      const s = session({ principalId: null, tokenId: null, clientAddr: null });
      await store.insertSession(s);
      const open = interaction(s.id, 1, { kind: 'llm.chat', method: 'POST', target: '/v1/chat/completions', model: 'gpt-4o',
        summary: { llm: { model: 'gpt-4o', stream: true }, entities: ['email'], note: 'ünïcödé ✓' } });
      await store.insertInteraction(open);
      assert.deepEqual(await store.getInteraction(open.id), open);
      const done = {
        status: 'complete', decision: 'allow', rule: 'llm-default', reason: null, responseStatus: 200,
        responseBody: '{"ok":true}', errorCode: null, upstreamCode: null, bytesIn: 1_234, bytesOut: 5_000_000_000,
        completedAt: 1_700_000_000_900, latencyMs: 12.5, prevHash: 'a'.repeat(64), hash: 'b'.repeat(64),
        requestBody: '{"messages":[]}',
      } as const;
      await store.completeInteraction(open.id, done);
      assert.deepEqual(await store.getInteraction(open.id), { ...open, ...done });
      assert.equal(await store.getInteraction(id('i')), null);
      await rejectsWithCode(store.completeInteraction(id('i'), done), 'not_found');
      await rejectsWithCode(store.insertInteraction(interaction(id('s'), 1)), 'invalid_argument');
      await rejectsWithCode(store.insertInteraction(interaction(s.id, 1)), 'conflict');
      assert.deepEqual(await store.getSession(s.id), s);
    },
  },
  {
    name: "upstreamCode round-trips apart from errorCode: write-ahead insert, completion, and batched writes",
    async run({ store, harness }) {
      const s = session();
      await store.insertSession(s);
      const plain = interaction(s.id, 1);
      const carried = interaction(s.id, 2, { upstreamCode: 'XX000' });
      await store.insertInteraction(plain);
      await store.insertInteraction(carried);
      assert.equal((await store.getInteraction(plain.id))?.upstreamCode, null);
      assert.deepEqual(await store.getInteraction(carried.id), carried);

      const failed = completion({ errorCode: null, upstreamCode: '42P01' });
      await store.completeInteraction(plain.id, failed);
      assert.deepEqual(await store.getInteraction(plain.id), { ...plain, ...failed });
      // The column is the database's own, named as the migration named it.
      const raw = await harness.query(`SELECT error_code, upstream_code FROM interactions WHERE id = '${plain.id}'`);
      assert.deepEqual(raw.map((r) => [r.error_code, r.upstream_code]), [[null, '42P01']]);
      // A completion sets the field whatever it held: null clears it.
      await store.completeInteraction(carried.id, completion({ errorCode: 'skipped' }));
      assert.deepEqual(
        [(await store.getInteraction(carried.id))?.errorCode, (await store.getInteraction(carried.id))?.upstreamCode],
        ['skipped', null],
      );

      // Issued together, so the PostgreSQL engine sends them as one statement; the duplicate
      // insert makes it fall back to one write at a time, which must carry the field as well.
      const rows = Array.from({ length: 12 }, (_, i) => interaction(s.id, i + 3));
      await Promise.all(rows.map((row) => store.insertInteraction(row)));
      const codeOf = (i: number) => (i % 3 === 0 ? null : `${40_000 + i}`);
      const fallback = rows.slice(6);
      const outcomes = await Promise.allSettled([
        ...rows.slice(0, 6).map((row, i) => store.completeInteraction(row.id, completion({ upstreamCode: codeOf(i) }))),
        store.insertInteraction({ ...plain, id: id('i') }),
        ...fallback.map((row, i) => store.completeInteraction(row.id, completion({ upstreamCode: codeOf(i + 6) }))),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status), [...Array(6).fill('fulfilled'), 'rejected', ...Array(6).fill('fulfilled')]);
      const stored = new Map((await store.listInteractions(s.id)).map((r) => [r.id, r.upstreamCode]));
      assert.deepEqual(rows.map((row) => stored.get(row.id)), rows.map((_, i) => codeOf(i)));
    },
  },
  {
    name: 'concurrent inserts all land, each visible to another connection once reported',
    async run({ store, harness }) {
      const s = session();
      await store.insertSession(s);
      const rows = Array.from({ length: 40 }, (_, i) => interaction(s.id, i + 1));
      const settled: string[] = [];
      const writes = rows.map((row) => store.insertInteraction(row).then(() => settled.push(row.id)));
      await Promise.race(writes);
      const reported = [...settled];
      const visible = new Set(
        (await harness.query(`SELECT id FROM interactions WHERE session_id = '${s.id}'`)).map((r) => r.id),
      );
      assert.ok(reported.length > 0);
      assert.deepEqual(reported.filter((i) => !visible.has(i)), [], 'reported stored but not visible to another connection');
      await Promise.all(writes);
      assert.equal((await store.listInteractions(s.id)).length, rows.length);
    },
  },
  {
    name: 'a failing write among concurrent ones fails only its caller',
    async run({ store }) {
      const s = session();
      await store.insertSession(s);
      const taken = interaction(s.id, 1);
      await store.insertInteraction(taken);
      const good = [2, 3, 4].map((seq) => interaction(s.id, seq));
      const outcomes = await Promise.allSettled([
        store.insertInteraction(good[0]!),
        store.insertInteraction({ ...taken, id: id('i') }),
        store.insertInteraction(good[1]!),
        store.insertInteraction(interaction(id('s'), 1)),
        store.completeInteraction(id('i'), completion()),
        store.completeInteraction(taken.id, completion()),
        store.insertInteraction(good[2]!),
      ]);
      const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as GatewayError).code));
      assert.deepEqual(codes, ['ok', 'conflict', 'ok', 'invalid_argument', 'not_found', 'ok', 'ok']);
      const stored = await store.listInteractions(s.id);
      assert.deepEqual(stored.map((r) => [r.id, r.status]), [
        [taken.id, 'complete'], ...good.map((r) => [r.id, 'open']),
      ]);
    },
  },
  {
    name: 'writes issued without waiting keep their order: insert, then each completion in turn',
    async run({ store }) {
      const s = session();
      await store.insertSession(s);
      const row = interaction(s.id, 1);
      const later = completion({ responseStatus: 502, errorCode: 'upstream_unreachable', completedAt: 1_700_000_000_901 });
      await Promise.all([
        store.insertInteraction(row),
        store.completeInteraction(row.id, completion()),
        store.completeInteraction(row.id, later),
      ]);
      assert.deepEqual(await store.getInteraction(row.id), { ...row, ...later });
    },
  },
  {
    name: 'writes still pending at close are committed, not dropped',
    async run(ctx) {
      const s = session();
      await ctx.store.insertSession(s);
      const rows = Array.from({ length: 10 }, (_, i) => interaction(s.id, i + 1));
      const writes = Promise.all(rows.map((row) => ctx.store.insertInteraction(row)));
      const reopened = await ctx.reopen();
      await writes;
      assert.equal((await reopened.listInteractions(s.id)).length, rows.length);
    },
  },
  {
    name: 'listInteractions returns a session’s interactions in seq order',
    async run({ store }) {
      const s = session();
      await store.insertSession(s);
      for (const seq of [3, 1, 2]) await store.insertInteraction(interaction(s.id, seq));
      assert.deepEqual((await store.listInteractions(s.id)).map((i) => i.seq), [1, 2, 3]);
      assert.deepEqual(await store.listInteractions(id('s')), []);
    },
  },
  {
    name: 'endSession records the first end only',
    async run({ store }) {
      const s = session();
      await store.insertSession(s);
      await store.endSession(s.id, 500, 'client_closed');
      await store.endSession(s.id, 600, 'shutdown');
      assert.deepEqual(await store.getSession(s.id), { ...s, endedAt: 500, endReason: 'client_closed' });
      await rejectsWithCode(store.endSession(id('s'), 1, 'x'), 'not_found');
    },
  },
  {
    name: 'listSessions: newest first, with interaction and denied counts, filters and paging',
    async run({ store }) {
      const conn = id('conn');
      const older = session({ connection: conn, principalName: 'alice', startedAt: 1_000 });
      const newer = session({ connection: conn, principalName: 'bob', startedAt: 2_000 });
      const quiet = session({ connection: conn, principalName: 'alice', startedAt: 3_000 });
      for (const s of [older, newer, quiet]) await store.insertSession(s);
      await store.insertInteraction(interaction(older.id, 1));
      await store.insertInteraction(interaction(older.id, 2, { decision: 'deny', reason: 'no deletes' }));
      await store.insertInteraction(interaction(older.id, 3, { decision: 'deny' }));
      await store.insertInteraction(interaction(newer.id, 1, { decision: 'approve' }));

      const listed = await store.listSessions({ limit: 10, connection: conn });
      assert.deepEqual(listed.map((s) => [s.id, s.interactionCount, s.deniedCount]), [
        [quiet.id, 0, 0],
        [newer.id, 1, 0],
        [older.id, 3, 2],
      ]);
      assert.deepEqual(listed[2], { ...older, interactionCount: 3, deniedCount: 2 });
      const alice = await store.listSessions({ limit: 10, connection: conn, principalName: 'alice' });
      assert.deepEqual(alice.map((s) => s.id), [quiet.id, older.id]);
      const page = await store.listSessions({ limit: 1, offset: 1, connection: conn });
      assert.deepEqual(page.map((s) => s.id), [newer.id]);
      await rejectsWithCode(store.listSessions({ limit: -1 }), 'invalid_argument');
    },
  },
  {
    name: "closeWorkOf('all') interrupts every open interaction and ends every open session, keeping what already ended",
    async run({ store }) {
      await store.closeWorkOf('all', 1, 'earlier');
      const s = session({ replicaId: 'rep_a' });
      const ended = session({ replicaId: 'rep_b' });
      await store.insertSession(s);
      await store.insertSession(ended);
      await store.endSession(ended.id, 50, 'client disconnected');
      const a = interaction(s.id, 1);
      const b = interaction(s.id, 2);
      const finished = interaction(s.id, 3);
      for (const i of [a, b, finished]) await store.insertInteraction(i);
      await store.completeInteraction(finished.id, {
        status: 'complete', decision: 'allow', rule: null, reason: null, responseStatus: null, responseBody: null,
        errorCode: null, upstreamCode: null, bytesIn: 1, bytesOut: 2, completedAt: 3, latencyMs: 2, prevHash: null, hash: null, requestBody: null,
      });
      assert.deepEqual(await store.closeWorkOf('all', 777, 'left open by a stop'), { interactions: 2, sessions: 1 });
      const rows = await store.listInteractions(s.id);
      assert.deepEqual(rows.map((r) => [r.status, r.completedAt]), [['interrupted', 777], ['interrupted', 777], ['complete', 3]]);
      assert.deepEqual([(await store.getSession(s.id))?.endedAt, (await store.getSession(s.id))?.endReason], [777, 'left open by a stop']);
      assert.deepEqual([(await store.getSession(ended.id))?.endedAt, (await store.getSession(ended.id))?.endReason], [50, 'client disconnected']);
      assert.deepEqual(await store.closeWorkOf('all', 778, 'again'), { interactions: 0, sessions: 0 });
    },
  },
  {
    name: 'closeWorkOf(replicas) touches only the named replicas\' open sessions and their interactions',
    async run({ store }) {
      await store.closeWorkOf('all', 1, 'earlier');
      const gone = session({ replicaId: 'rep_gone' });
      const live = session({ replicaId: 'rep_live' });
      const legacy = session({ replicaId: null });
      for (const s of [gone, live, legacy]) await store.insertSession(s);
      for (const s of [gone, live, legacy]) await store.insertInteraction(interaction(s.id, 1));
      assert.deepEqual(await store.closeWorkOf(['rep_gone', 'rep_never_seen'], 500, 'replica gone'), { interactions: 1, sessions: 1 });
      assert.equal((await store.listInteractions(gone.id))[0]!.status, 'interrupted');
      assert.equal((await store.getSession(gone.id))?.endReason, 'replica gone');
      for (const s of [live, legacy]) {
        assert.equal((await store.listInteractions(s.id))[0]!.status, 'open');
        assert.equal((await store.getSession(s.id))?.endedAt, null);
      }
      assert.deepEqual(await store.closeWorkOf([], 501, 'nobody'), { interactions: 0, sessions: 0 });
      assert.equal((await store.getSession(live.id))?.replicaId, 'rep_live');

      // null names the sessions of versions without replica ids.
      assert.deepEqual(await store.closeWorkOf([null], 502, 'legacy'), { interactions: 1, sessions: 1 });
      assert.equal((await store.getSession(legacy.id))?.endReason, 'legacy');
      assert.equal((await store.getSession(live.id))?.endedAt, null);

      // A replica taken for gone by mistake opened an interaction in a session the store shows
      // ended: when it really goes, that interaction is closed too.
      await store.insertInteraction(interaction(gone.id, 2));
      assert.deepEqual(await store.closeWorkOf(['rep_gone'], 503, 'replica gone'), { interactions: 1, sessions: 0 });
      assert.equal((await store.listInteractions(gone.id))[1]!.status, 'interrupted');
    },
  },
  {
    name: 'tokenStates reads revocation and expiry of many tokens at once and leaves out unknown ids',
    async run({ store }) {
      const p = principal();
      await store.insertPrincipal(p);
      const a = token(p.id, { expiresAt: 10 });
      const b = token(p.id, { expiresAt: null });
      await store.insertToken(a);
      await store.insertToken(b);
      await store.revokeToken(b.id, 42);
      const states = await store.tokenStates([a.id, b.id, 'tok_missing']);
      assert.deepEqual(states.sort((x, y) => x.id.localeCompare(y.id)), [{ id: a.id, revokedAt: null, expiresAt: 10 }, { id: b.id, revokedAt: 42, expiresAt: null }].sort((x, y) => x.id.localeCompare(y.id)));
      assert.deepEqual(await store.tokenStates([]), []);
    },
  },
  {
    name: 'data survives close and reopen',
    async run(ctx) {
      const p = principal();
      const s = session();
      await ctx.store.insertPrincipal(p);
      await ctx.store.insertSession(s);
      await ctx.store.setSetting('restart-marker', s.id);
      const reopened = await ctx.reopen();
      assert.deepEqual(await reopened.getPrincipal(p.id), p);
      assert.deepEqual(await reopened.getSession(s.id), s);
      assert.equal(await reopened.getSetting('restart-marker'), s.id);
      await reopened.ping();
    },
  },
];

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine} store`, () => {
    let harness: EngineHarness;
    let store: Store;
    const ctx: Ctx = {
      get store() {
        return store;
      },
      get harness() {
        return harness;
      },
      async reopen() {
        await store.close();
        store = await harness.open();
        return store;
      },
    };

    before(async () => {
      harness = await setup();
      store = await harness.open();
      assert.equal(store.engine, engine);
    });

    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });

    for (const c of CASES) it(c.name, () => c.run(ctx));

    it('a store whose database went away reports store_unavailable without secrets', async () => {
      await harness.stopDatabase();
      if (engine === 'sqlite') await store.close();
      const err = await store.ping().then(() => null, (e: unknown) => e);
      assert.ok(err instanceof GatewayError, 'ping must fail');
      assert.equal(err.code, 'store_unavailable');
      assert.match(err.message, new RegExp(engine));
      if (harness.secret) assert.ok(!err.message.includes(harness.secret));
    });
  });
}
