/**
 * What a held request, an approver or a stale identity can do wrong, each kept as a test (those in
 * service.test.ts are not repeated): another token of the same person (allowed by design), decisions
 * at and after expiry, deny after approve and the reverse, disabled or demoted approvers, forged
 * identities and groups, workloads and the bootstrap admin approving, votes racing, the policy
 * changing under a pending or approved approval, and forged votes in the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Principal } from '../../src/interaction.ts';
import { ADA, BOB, CAROL, DAN, IVY, person, rejectsWith, request, startHarness, uniquePrint, type Harness } from './support/service-harness.ts';

const ERIN = person('erin', ['oncall']);
const FAY = person('fay', ['oncall']);
const GUS = person('gus', ['oncall', 'sre']);
const SELF_GLASS = person('hal', ['engineering', 'ic']);
const ROBOT: Principal = { id: 'sa_robot', kind: 'service_account', name: 'robot', groups: ['oncall'] };
const ROOT: Principal = { id: 'adm_root', kind: 'admin', name: 'admin', groups: ['admins', 'oncall'] };

describe('approvals service: hostile inputs', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([ERIN, FAY, GUS, SELF_GLASS, ROBOT, ROOT]);
  });
  after(() => h.close());

  it('another token of the same person and agent runs the approved request (by design); a token of another name asks anew', async () => {
    const req = request({ tokenId: 'tok_a' });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    // The fingerprint covers the agent (token name), not the token: another agent is another request.
    const otherAgent = await h.approvals.hold({ ...req, tokenId: 'tok_b', agent: 'other agent', fingerprint: uniquePrint({ agent: 'other agent' }) }, { waitMs: 0 });
    assert.equal(otherAgent.state, 'pending');
    assert.deepEqual(await h.approvals.hold({ ...req, tokenId: 'tok_c' }, { waitMs: 0 }), { state: 'approved', id });
  });

  it('a vote exactly at the expiry, not yet swept, is refused and not stored; the approval expires', async () => {
    const { id } = await h.approvals.hold(request({ timeoutMs: 10_000 }), { waitMs: 0 });
    h.time.advance(10_000);
    await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'conflict');
    const after = (await h.approvals.get(id))!;
    assert.equal(after.status, 'expired');
    assert.equal(after.votes.length, 0);
  });

  it('2-of-2 whose second approval comes after the expiry: never approved, never runs', async () => {
    const req = request({ approvers: ['oncall', 'sre'], required: 2, timeoutMs: 10_000 });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, CAROL, 'approve', null);
    h.time.advance(10_001);
    await rejectsWith(h.approvals.decide(id, DAN, 'approve', null), 'conflict');
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).state, 'pending');
    assert.equal((await h.store.getApproval(id))!.status, 'expired');
  });

  it('deny after approve is refused: the approval stays approved and runs once', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    await rejectsWith(h.approvals.decide(id, ERIN, 'deny', 'too late'), 'conflict');
    assert.deepEqual(await h.approvals.hold(req, { waitMs: 0 }), { state: 'approved', id });
  });

  it('approve after deny is refused: denied stays denied', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'deny', 'no');
    await rejectsWith(h.approvals.decide(id, ERIN, 'approve', 'yes'), 'conflict');
    await rejectsWith(h.approvals.decide(id, IVY, 'approve', 'break-glass cannot undo a deny'), 'conflict');
    assert.equal((await h.store.getApproval(id))!.status, 'denied');
  });

  it('a person disabled after listing the approval cannot decide it, whatever their token still says', async () => {
    const { id } = await h.approvals.hold(request(), { waitMs: 0 });
    assert.ok((await h.approvals.list({ status: 'pending', limit: 100 })).some((a) => a.id === id), 'erin listed it');
    await h.store.disablePrincipal(ERIN.id, h.time.now());
    await rejectsWith(h.approvals.decide(id, ERIN, 'approve', null), 'auth_revoked');
    await rejectsWith(h.approvals.decide(id, ERIN, 'deny', 'spite'), 'auth_revoked');
    assert.equal((await h.approvals.get(id))!.votes.length, 0);
  });

  it('an approver moved out of the approver group (by the identity provider) is refused, though their token says otherwise', async () => {
    const { id } = await h.approvals.hold(request(), { waitMs: 0 });
    await h.store.setPrincipalGroups(FAY.id, ['engineering']);
    await rejectsWith(h.approvals.decide(id, FAY, 'approve', null), 'forbidden_role');
    await h.store.setPrincipalGroups(FAY.id, ['oncall']);
    assert.equal((await h.approvals.decide(id, FAY, 'approve', null)).status, 'approved', 'back in the group, she may');
  });

  it('an approver role taken out of the config between listing and deciding is refused', async () => {
    const { id } = await h.approvals.hold(request(), { waitMs: 0 });
    const index = h.grants.findIndex((g) => g.group === 'oncall');
    const [removed] = h.grants.splice(index, 1);
    try {
      await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'forbidden_role');
    } finally {
      h.grants.splice(index, 0, removed!);
    }
    assert.equal((await h.approvals.get(id))!.votes.length, 0);
  });

  it('a forged identity the store does not know decides nothing', async () => {
    const { id } = await h.approvals.hold(request(), { waitMs: 0 });
    await rejectsWith(h.approvals.decide(id, person('mallory', ['oncall', 'ic']), 'approve', null), 'auth_revoked');
    await rejectsWith(h.approvals.decide(id, { ...BOB, id: 'usr_bob\u0000' }, 'approve', null), 'auth_revoked');
  });

  it('groups claimed beyond the stored ones grant nothing: a claimed break-glass group does not approve alone', async () => {
    const { id } = await h.approvals.hold(request({ approvers: ['oncall', 'sre'], required: 2 }), { waitMs: 0 });
    const view = await h.approvals.decide(id, { ...GUS, groups: ['oncall', 'sre', 'ic'] }, 'approve', null);
    assert.equal(view.status, 'pending', 'one of two');
    assert.equal(view.votes[0]!.breakGlass, false);
  });

  it('the bootstrap admin identity and a service account do not approve, even in an approver group', async () => {
    const { id } = await h.approvals.hold(request({ approvers: ['oncall', 'admins'] }), { waitMs: 0 });
    await rejectsWith(h.approvals.decide(id, ROOT, 'approve', null), 'forbidden_role');
    await rejectsWith(h.approvals.decide(id, ROBOT, 'approve', null), 'forbidden_role');
    assert.equal((await h.approvals.get(id))!.votes.length, 0);
  });

  it('a break-glass group taken out of the config: its member no longer approves alone or at all', async () => {
    const { id } = await h.approvals.hold(request({ approvers: ['oncall', 'sre'], required: 2 }), { waitMs: 0 });
    const saved = h.breakGlass.splice(0);
    try {
      await rejectsWith(h.approvals.decide(id, IVY, 'approve', null), 'forbidden_role');
    } finally {
      h.breakGlass.push(...saved);
    }
    assert.equal((await h.store.getApproval(id))!.status, 'pending');
  });

  it('a break-glass member cannot approve their own request', async () => {
    const { id } = await h.approvals.hold(request({ principal: SELF_GLASS, fingerprint: uniquePrint({ principalId: SELF_GLASS.id }) }), { waitMs: 0 });
    await rejectsWith(h.approvals.decide(id, SELF_GLASS, 'approve', 'my own emergency'), 'forbidden_role');
    assert.equal((await h.store.getApproval(id))!.status, 'pending');
  });

  it('votes on a withdrawn or a used approval are refused', async () => {
    const client = new AbortController();
    const leaving = h.held(request(), { signal: client.signal });
    const withdrawnId = await leaving.id;
    client.abort();
    await leaving.outcome;
    await rejectsWith(h.approvals.decide(withdrawnId, BOB, 'approve', null), 'conflict');
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    await h.approvals.hold(req, { waitMs: 0 });
    assert.equal((await h.store.getApproval(id))!.status, 'used');
    await rejectsWith(h.approvals.decide(id, ERIN, 'deny', 'after it ran'), 'conflict');
  });

  it('one approver voting twice at once: one vote stored, the other refused', async () => {
    const { id } = await h.approvals.hold(request({ approvers: ['oncall', 'sre'], required: 2 }), { waitMs: 0 });
    const results = await Promise.allSettled([h.approvals.decide(id, CAROL, 'approve', 'a'), h.approvals.decide(id, CAROL, 'approve', 'b')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal((await h.approvals.get(id))!.votes.length, 1);
    assert.equal((await h.store.getApproval(id))!.status, 'pending', 'one person is one of two');
  });

  it('an approve and a deny at once: one decision; the deny that lost is told so; a denied request never runs', async () => {
    for (let round = 0; round < 4; round++) {
      const req = request();
      const { id } = await h.approvals.hold(req, { waitMs: 0 });
      const [, deny] = await Promise.allSettled([h.approvals.decide(id, BOB, 'approve', null), h.approvals.decide(id, ERIN, 'deny', 'no')]);
      const status = (await h.store.getApproval(id))!.status;
      assert.ok(status === 'approved' || status === 'denied', status);
      if (status === 'approved') {
        assert.equal(deny.status, 'rejected', 'the denier learns the deny did not stop it');
        assert.deepEqual(await h.approvals.hold(req, { waitMs: 0 }), { state: 'approved', id });
      } else {
        assert.notEqual((await h.approvals.hold(req, { waitMs: 0 })).id, id, 'denied: never runs');
      }
    }
  });

  it('the rule changed (other approvers) after an approval was given: it is not used; the request asks under the new rule', async () => {
    const old = request({ rule: 'hold-chat', approvers: ['oncall'] });
    const { id } = await h.approvals.hold(old, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    const stricter = { ...old, approvers: ['sre'], required: 2 };
    const again = await h.approvals.hold(stricter, { waitMs: 0 });
    assert.equal(again.state, 'pending');
    assert.notEqual(again.id, id);
    assert.equal((await h.store.getApproval(id))!.status, 'approved', 'left to expire, unused');
    const view = (await h.approvals.get(again.id))!;
    assert.deepEqual([view.approvers, view.required], [['sre'], 2]);
  });

  it('the rule changed while an approval was pending: the request does not join it; the old one is withdrawn as rule_changed', async () => {
    const old = request({ approvers: ['oncall'] });
    const first = await h.approvals.hold(old, { waitMs: 0 });
    const renamed = { ...old, rule: 'hold-chat-v2' };
    const second = await h.approvals.hold(renamed, { waitMs: 0 });
    assert.notEqual(second.id, first.id);
    assert.equal((await h.store.getApproval(first.id))!.status, 'withdrawn');
    const withdrawn = (await h.trail(first.id)).find((r) => r.action === 'approval.withdrawn')!;
    assert.equal(withdrawn.details.reason, 'rule_changed');
    // The same approvers in another order are the same rule: a retry joins.
    const reordered = await h.approvals.hold({ ...renamed, approvers: [...renamed.approvers].reverse() }, { waitMs: 0 });
    assert.equal(reordered.id, second.id);
  });

  it('a vote row forged by the requester in the store does not approve their request', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.store.insertApprovalVote({ approvalId: id, approverId: ADA.id, approverName: 'ada', vote: 'approve', comment: null, at: h.time.now(), breakGlass: false }, h.time.now());
    assert.equal((await h.approvals.get(id))!.status, 'pending');
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).state, 'pending');
  });

  it('votes complete, the approval unrecorded, and then the expiry: it expires, it is never approved', async () => {
    const req = request({ timeoutMs: 10_000 });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    h.failAudit(['approval.approved']);
    await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'store_unavailable');
    h.failAudit([]);
    h.time.advance(10_000);
    assert.equal((await h.approvals.get(id))!.status, 'expired');
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).state, 'pending');
  });

  it('comments with NUL, C1 controls or bidi isolates are refused; nothing stored', async () => {
    const { id } = await h.approvals.hold(request(), { waitMs: 0 });
    for (const comment of ['ok\u0000', 'ok\u0085next', 'ok\u2066hidden\u2069', '\u009b2J']) await rejectsWith(h.approvals.decide(id, BOB, 'deny', comment), 'invalid_argument');
    assert.equal((await h.approvals.get(id))!.votes.length, 0);
  });

  it('odd ids find nothing: traversal, encoded, NUL, huge, another kind\'s prefix', async () => {
    for (const id of ['../apr_x', 'apr_%2e%2e', 'apr_\u0000', 'a'.repeat(10_000), 'tok_0123', '']) {
      await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'not_found');
      assert.equal(await h.approvals.get(id), null);
    }
  });
});
