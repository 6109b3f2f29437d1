/**
 * Approvals in the store (migration 9) on both engines: every change of status is conditional, so
 * of two deciders exactly one wins, 'used' is set once and only before expiry, a vote counts only
 * while the approval is open, and one approver votes once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import type { ApprovalRow, ApprovalVoteRow, Store } from '../../src/store/types.ts';
import { ENGINES, type EngineHarness, id } from './fixtures.ts';

const T0 = 1_700_000_000_000;

function approval(over: Partial<ApprovalRow> = {}): ApprovalRow {
  return {
    id: id('apr'), createdAt: T0, expiresAt: T0 + 60_000, status: 'pending', fingerprint: 'f'.repeat(64), principalId: id('usr'),
    principalName: 'ada', tokenId: id('tok'), agent: 'ci agent', connection: 'openai', kind: 'llm.chat', rule: 'hold-prod',
    approvers: ['oncall', 'sré-ü'], required: 2, summary: { method: 'POST', prompt: 'drop [EMAIL]' }, decidedAt: null, usedAt: null,
    replicaId: 'rep_1', ...over,
  };
}

function vote(approvalId: string, over: Partial<ApprovalVoteRow> = {}): ApprovalVoteRow {
  return { approvalId, approverId: id('usr'), approverName: 'bob', vote: 'approve', comment: 'ok ✓', at: T0 + 1, breakGlass: false, ...over };
}

const CASES: { name: string; run(store: Store): Promise<void> }[] = [
  {
    name: 'an approval reads back as written (groups, summary, nulls)',
    async run(store) {
      const row = approval();
      await store.insertApproval(row);
      assert.deepEqual(await store.getApproval(row.id), row);
      assert.equal(await store.getApproval(id('apr')), null);
    },
  },
  {
    name: 'decideApproval changes a pending approval once: the second decider loses',
    async run(store) {
      const row = approval();
      await store.insertApproval(row);
      const results = await Promise.all([store.decideApproval(row.id, 'approved', T0 + 5), store.decideApproval(row.id, 'denied', T0 + 5)]);
      assert.deepEqual(results.filter(Boolean).length, 1, 'exactly one wins');
      const after = (await store.getApproval(row.id))!;
      assert.ok(after.status === 'approved' || after.status === 'denied');
      assert.equal(after.decidedAt, T0 + 5);
      assert.equal(await store.decideApproval(row.id, 'withdrawn', T0 + 6), false, 'a decided approval is never withdrawn');
    },
  },
  {
    name: 'useApproval sets used once, only on an approved approval, only before it expires',
    async run(store) {
      const pending = approval();
      await store.insertApproval(pending);
      assert.equal(await store.useApproval(pending.id, T0 + 1), false, 'a pending approval is not usable');
      const approved = approval({ status: 'approved', decidedAt: T0 });
      await store.insertApproval(approved);
      const uses = await Promise.all([store.useApproval(approved.id, T0 + 2), store.useApproval(approved.id, T0 + 2)]);
      assert.equal(uses.filter(Boolean).length, 1, 'used once');
      assert.equal((await store.getApproval(approved.id))!.status, 'used');
      assert.equal((await store.getApproval(approved.id))!.usedAt, T0 + 2);
      const late = approval({ status: 'approved', decidedAt: T0 });
      await store.insertApproval(late);
      assert.equal(await store.useApproval(late.id, late.expiresAt), false, 'not at or after its expiry');
    },
  },
  {
    name: 'expiry lapses pending and approved-unused approvals past their time, nothing else',
    async run(store) {
      const now = T0 + 10_000_000;
      const due = approval({ expiresAt: now - 1 });
      const approvedDue = approval({ expiresAt: now, status: 'approved', decidedAt: T0 + 3 });
      const live = approval({ expiresAt: now + 1 });
      const denied = approval({ expiresAt: now - 1, status: 'denied', decidedAt: T0 });
      for (const row of [due, approvedDue, live, denied]) await store.insertApproval(row);
      const ids = await store.dueApprovals(now);
      assert.ok(ids.includes(due.id) && ids.includes(approvedDue.id));
      assert.ok(!ids.includes(live.id) && !ids.includes(denied.id));
      assert.equal(await store.expireApproval(due.id, now), true);
      assert.equal(await store.expireApproval(due.id, now), false, 'once');
      assert.equal(await store.expireApproval(live.id, now), false);
      assert.equal(await store.expireApproval(denied.id, now), false);
      assert.equal(await store.expireApproval(approvedDue.id, now), true);
      assert.equal((await store.getApproval(approvedDue.id))!.decidedAt, T0 + 3, 'the decision time is kept');
      assert.equal((await store.getApproval(due.id))!.status, 'expired');
    },
  },
  {
    name: 'findLiveApprovals: this principal, this fingerprint, this status, not expired; newest first',
    async run(store) {
      const principalId = id('usr');
      const fingerprint = id('fp');
      // Several approved ones may wait to be used; one request has one pending approval at most (migration 13).
      const older = approval({ principalId, fingerprint, createdAt: T0, status: 'approved', decidedAt: T0 });
      const newer = approval({ principalId, fingerprint, createdAt: T0 + 1, status: 'approved', decidedAt: T0 });
      const other = approval({ fingerprint, createdAt: T0 + 2, status: 'approved', decidedAt: T0 });
      const expired = approval({ principalId, fingerprint, expiresAt: T0 + 5, status: 'approved', decidedAt: T0 });
      const pending = approval({ principalId, fingerprint, createdAt: T0 + 3 });
      for (const row of [older, newer, other, expired, pending]) await store.insertApproval(row);
      const found = await store.findLiveApprovals(principalId, fingerprint, 'approved', T0 + 10);
      assert.deepEqual(found.map((r) => r.id), [newer.id, older.id]);
      assert.deepEqual((await store.findLiveApprovals(principalId, fingerprint, 'pending', T0 + 10)).map((r) => r.id), [pending.id]);
      assert.deepEqual(await store.findLiveApprovals(principalId, id('fp'), 'pending', T0 + 10), []);
    },
  },
  {
    name: 'a vote is stored only while the approval is open; a second vote of one approver is a conflict',
    async run(store) {
      const row = approval();
      await store.insertApproval(row);
      const v = vote(row.id);
      assert.equal(await store.insertApprovalVote(v, T0 + 1), true);
      await assert.rejects(store.insertApprovalVote({ ...v, vote: 'deny', at: T0 + 2 }, T0 + 2), (err: unknown) => err instanceof GatewayError && err.code === 'conflict');
      assert.equal(await store.insertApprovalVote(vote(row.id), row.expiresAt), false, 'not once it expired');
      await store.decideApproval(row.id, 'denied', T0 + 3);
      assert.equal(await store.insertApprovalVote(vote(row.id), T0 + 4), false, 'not once it is decided');
      assert.equal(await store.insertApprovalVote(vote(id('apr')), T0 + 4), false, 'not for an approval that does not exist');
      const votes = await store.listApprovalVotes(row.id);
      assert.deepEqual(votes, [v]);
    },
  },
  {
    name: 'a break-glass vote and a null comment read back as written',
    async run(store) {
      const row = approval();
      await store.insertApproval(row);
      const v = vote(row.id, { breakGlass: true, comment: null });
      await store.insertApprovalVote(v, T0 + 1);
      assert.deepEqual(await store.listApprovalVotes(row.id), [v]);
    },
  },
  {
    name: 'listApprovals filters by status and principal, newest first, bounded',
    async run(store) {
      const principalId = id('usr');
      const rows = [0, 1, 2].map((i) => approval({ principalId, fingerprint: id('fp'), createdAt: T0 + 100 + i }));
      for (const row of rows) await store.insertApproval(row);
      await store.decideApproval(rows[1]!.id, 'denied', T0 + 200);
      const mine = await store.listApprovals({ principalId, limit: 10 });
      assert.deepEqual(mine.map((r) => r.id), [rows[2]!.id, rows[1]!.id, rows[0]!.id]);
      assert.deepEqual((await store.listApprovals({ principalId, status: 'denied', limit: 10 })).map((r) => r.id), [rows[1]!.id]);
      assert.equal((await store.listApprovals({ principalId, limit: 1 })).length, 1);
      await assert.rejects(store.listApprovals({ limit: -1 }), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_argument');
    },
  },
  {
    name: 'insertPendingApproval: the first of one request inserts; the next gets the pending one back, expired or not',
    async run(store) {
      const principalId = id('usr');
      const fingerprint = id('fp');
      const first = approval({ principalId, fingerprint, expiresAt: T0 + 10 });
      assert.deepEqual(await store.insertPendingApproval(first), first);
      const second = approval({ principalId, fingerprint });
      assert.equal((await store.insertPendingApproval(second)).id, first.id, 'the place is taken: the holder comes back');
      assert.equal(await store.getApproval(second.id), null, 'nothing else was stored');
      // Past its expiry but not yet marked: still the holder, until the service lapses it.
      assert.equal((await store.insertPendingApproval(approval({ principalId, fingerprint }))).id, first.id);
      await store.expireApproval(first.id, T0 + 10);
      const third = approval({ principalId, fingerprint });
      assert.equal((await store.insertPendingApproval(third)).id, third.id, 'decided, the place is free again');
      // Another principal, or another fingerprint, is another place.
      const theirs = approval({ fingerprint });
      assert.equal((await store.insertPendingApproval(theirs)).id, theirs.id);
      const changed = approval({ principalId, fingerprint: id('fp') });
      assert.equal((await store.insertPendingApproval(changed)).id, changed.id);
      // A plain insert of a second pending one is refused by the index.
      await assert.rejects(store.insertApproval(approval({ principalId, fingerprint })), (err: unknown) => err instanceof GatewayError && err.code === 'conflict');
      // Approved, used or denied approvals of the same request do not take the place.
      await store.insertApproval(approval({ principalId, fingerprint, status: 'used', decidedAt: T0, usedAt: T0 }));
      assert.equal((await store.insertPendingApproval(approval({ principalId, fingerprint }))).id, third.id);
    },
  },
  {
    name: 'insertPendingApproval raced: many identical inserts at once store exactly one pending approval',
    async run(store) {
      const principalId = id('usr');
      const fingerprint = id('fp');
      const rows = Array.from({ length: 8 }, () => approval({ principalId, fingerprint }));
      const holders = await Promise.all(rows.map((row) => store.insertPendingApproval(row)));
      assert.equal(new Set(holders.map((h) => h.id)).size, 1, 'every insert got the same holder');
      assert.ok(rows.some((r) => r.id === holders[0]!.id), 'and it is one of them');
      const pending = (await store.listApprovals({ principalId, limit: 100 })).filter((r) => r.status === 'pending');
      assert.equal(pending.length, 1);
    },
  },
];

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine} store: approvals`, () => {
    let harness: EngineHarness;
    let store: Store;
    before(async () => {
      harness = await setup();
      store = await harness.open();
    });
    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });
    for (const c of CASES) it(c.name, () => c.run(store));
  });
}
