/**
 * The approvals' audit trail, read back from audit_events after whole flows: who created, voted
 * on, approved, denied, withdrew and used each approval, when and why; expiry by the gateway; and
 * what fails closed when the store cannot record a change (nothing that lets a request run happens
 * unrecorded; what stops one happens anyway, logged).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthError, BadRequest } from '../../src/errors.ts';
import type { AuditEventRow } from '../../src/store/types.ts';
import { ADA, BOB, CAROL, DAN, IVY, rejectsWith, request, startHarness, type Harness } from './support/service-harness.ts';

const brief = (rows: AuditEventRow[]) => rows.map((r) => `${r.action} ${r.actorName} ${r.outcome}`);

describe('approval trail', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('approved 2-of-2 and run: created, each vote with its comment, approved, used by the interaction that ran', async () => {
    const held = h.held(request({ approvers: ['oncall', 'sre'], required: 2 }), { interactionId: 'int_first' });
    const id = await held.id;
    h.time.advance(1);
    await h.approvals.decide(id, CAROL, 'approve', 'ticket 4521', 'tok_carol');
    h.time.advance(1);
    await h.approvals.decide(id, DAN, 'approve', null, 'tok_dan');
    assert.deepEqual(await held.outcome, { state: 'approved', id });

    const trail = await h.trail(id);
    assert.deepEqual(brief(trail), ['approval.created ada 200', 'approval.voted carol 200', 'approval.voted dan 200', 'approval.approved dan 200', 'approval.used ada 200']);
    const [created, carol, , approved, used] = trail as [AuditEventRow, AuditEventRow, AuditEventRow, AuditEventRow, AuditEventRow];
    assert.equal(created.actorId, ADA.id);
    assert.equal(created.credentialId, 'tok_1');
    assert.equal(created.replicaId, 'rep_a');
    assert.deepEqual(
      { rule: created.details.rule, connection: created.details.connection, agent: created.details.agent, required: created.details.required, interaction: created.details.interaction },
      { rule: 'hold-chat', connection: 'openai', agent: 'ci agent', required: 2, interaction: 'int_first' },
    );
    assert.match(String(created.details.fingerprint), /^[0-9a-f]{64}$/);
    assert.equal(carol.credentialId, 'tok_carol');
    assert.equal(carol.details.comment, 'ticket 4521');
    assert.equal(carol.details.vote, 'approve');
    assert.equal(carol.details.breakGlass, false);
    assert.deepEqual(approved.details.approvedBy, ['carol', 'dan']);
    assert.equal(used.details.interaction, 'int_first');
    assert.equal(used.credentialId, 'tok_1');
    assert.ok(created.at < carol.at, 'times are the injected clock\'s');
  });

  it('denied: the vote and the denial carry the reason; the request never runs', async () => {
    const held = h.held(request());
    const id = await held.id;
    await h.approvals.decide(id, BOB, 'deny', 'staging is frozen');
    assert.equal((await held.outcome).state, 'denied');
    const trail = await h.trail(id);
    assert.deepEqual(brief(trail), ['approval.created ada 200', 'approval.voted bob 200', 'approval.denied bob 200']);
    assert.equal(trail[2]!.details.reason, 'staging is frozen');
    assert.equal(trail[2]!.details.deniedBy, 'bob');
  });

  it('break-glass: its own action, flagged in the vote and the approval, and logged at warn', async () => {
    const held = h.held(request({ approvers: ['oncall', 'sre'], required: 2 }));
    const id = await held.id;
    await h.approvals.decide(id, IVY, 'approve', 'incident 4521');
    assert.equal((await held.outcome).state, 'approved');
    const trail = await h.trail(id);
    assert.deepEqual(brief(trail), ['approval.created ada 200', 'approval.break_glass ivy 200', 'approval.approved ivy 200', 'approval.used ada 200']);
    assert.equal(trail[1]!.details.breakGlass, true);
    assert.equal(trail[2]!.details.breakGlass, true);
    assert.ok(h.logs().some((l) => l.level === 40 && l.approvalId === id && /break-glass/.test(l.msg)));
  });

  it('expired: recorded as the gateway\'s, with when it was due', async () => {
    const { id } = await h.approvals.hold(request({ timeoutMs: 1_000 }), { waitMs: 0 });
    h.time.advance(1_000);
    await h.approvals.sweep();
    const trail = await h.trail(id);
    assert.deepEqual(brief(trail), ['approval.created ada 200', 'approval.expired gatehouse 200']);
    assert.equal(trail[1]!.actorKind, 'gateway');
    assert.equal(trail[1]!.details.was, 'pending');
  });

  it('approved but never used: the expiry says it was approved', async () => {
    const { id } = await h.approvals.hold(request({ timeoutMs: 1_000 }), { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    h.time.advance(1_000);
    assert.equal((await h.approvals.get(id))!.status, 'expired');
    assert.deepEqual(brief(await h.trail(id)).slice(-1), ['approval.expired gatehouse 200']);
    assert.equal((await h.trail(id)).at(-1)!.details.was, 'approved');
  });

  it('withdrawn: the client left; recorded as the requester\'s, with why', async () => {
    const client = new AbortController();
    const held = h.held(request(), { signal: client.signal });
    const id = await held.id;
    client.abort(new Error('socket closed'));
    assert.equal((await held.outcome).state, 'withdrawn');
    const trail = await h.trail(id);
    assert.deepEqual(brief(trail), ['approval.created ada 200', 'approval.withdrawn ada 200']);
    assert.equal(trail[1]!.details.reason, 'client_left');
  });

  it('withdrawn as the adapters abort: a closed HTTP connection reads client_left, a revoked credential its code, each with the message', async () => {
    for (const [abortWith, reason] of [
      [new BadRequest('client closed the connection'), 'client_left'],
      [new AuthError('auth_revoked', 'credential revoked; session ended'), 'auth_revoked'],
    ] as const) {
      const client = new AbortController();
      const held = h.held(request(), { signal: client.signal });
      const id = await held.id;
      client.abort(abortWith);
      assert.equal((await held.outcome).state, 'withdrawn');
      const withdrawn = (await h.trail(id)).find((r) => r.action === 'approval.withdrawn')!;
      assert.deepEqual([withdrawn.details.reason, withdrawn.details.message], [reason, abortWith.message]);
    }
  });

  it('a retry with another token of the same person and agent runs under the approval; the use names both tokens', async () => {
    const req = request({ tokenId: 'tok_old' });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    assert.deepEqual(await h.approvals.hold({ ...req, tokenId: 'tok_refreshed' }, { waitMs: 0, interactionId: 'int_retry' }), { state: 'approved', id });
    const used = (await h.trail(id)).at(-1)!;
    assert.equal(used.action, 'approval.used');
    assert.equal(used.credentialId, 'tok_refreshed');
    assert.equal(used.details.askedWithTokenId, 'tok_old');
    assert.equal(used.details.interaction, 'int_retry');
  });

  it('two identical requests racing: one created, the other recorded as joining it; one use, the loser asks anew', async () => {
    const req = request();
    // Each hold's approvals, in the order it waited on them.
    const waitedOn: string[][] = [[], []];
    const next: (() => void)[] = [];
    const created = (i: number, count: number) =>
      new Promise<string>((resolve) => {
        const check = () => (waitedOn[i]!.length >= count ? resolve(waitedOn[i]![count - 1]!) : next.push(check));
        check();
      });
    const tell = () => next.splice(0).forEach((f) => f());
    const holds = [0, 1].map((i) => h.approvals.hold(req, { waitMs: 60_000, onCreated: (a) => (waitedOn[i]!.push(a.id), tell()) }));
    const [idA, idB] = await Promise.all([created(0, 1), created(1, 1)]);
    assert.equal(idA, idB, 'one pending approval');
    await h.approvals.decide(idA, BOB, 'approve', null);
    // The loser of the use asks anew and waits on a new approval: deny that one to release it.
    const again = await Promise.race([created(0, 2), created(1, 2)]);
    assert.notEqual(again, idA, 'the second waiter re-asked');
    await h.approvals.decide(again, BOB, 'deny', 'once is enough');
    const outcomes = await Promise.all(holds);
    assert.equal(outcomes.filter((o) => o.state === 'approved' && o.id === idA).length, 1, 'runs once');
    assert.deepEqual(outcomes.filter((o) => o.state !== 'approved').map((o) => [o.state, o.id]), [['denied', again]]);
    const trail = await h.trail(idA);
    assert.equal(trail.filter((r) => r.action === 'approval.created' && r.outcome === 200).length, 1);
    assert.equal(trail.filter((r) => r.action === 'approval.used' && r.outcome === 200).length, 1);
    for (const joined of trail.filter((r) => r.action === 'approval.created' && r.outcome === 409)) assert.equal(joined.details.joined, idA);
  });
});

describe('approval trail: the store failing while a change is recorded', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('the creation cannot be recorded: the request is refused and no approval exists', async () => {
    h.failAudit(['approval.created']);
    const req = request();
    await rejectsWith(h.approvals.hold(req, { waitMs: 0 }), 'store_unavailable');
    h.failAudit([]);
    assert.deepEqual(await h.store.findLiveApprovals(ADA.id, req.fingerprint, 'pending', h.time.now()), []);
  });

  it('an approving vote cannot be recorded: refused, nothing stored, the request does not run; it counts once the store is back', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    h.failAudit(['approval.voted']);
    await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'store_unavailable');
    h.failAudit([]);
    assert.equal((await h.approvals.get(id))!.votes.length, 0);
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).state, 'pending');
    assert.equal((await h.approvals.decide(id, BOB, 'approve', null)).status, 'approved');
  });

  it('the approval cannot be recorded: the vote stands, the approval stays pending and nothing runs; the next read applies it', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    h.failAudit(['approval.approved']);
    await rejectsWith(h.approvals.decide(id, BOB, 'approve', 'fine'), 'store_unavailable');
    const stuck = (await h.store.getApproval(id))!;
    assert.equal(stuck.status, 'pending', 'not half-approved: no unrecorded approval');
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).id, id, 'the retry waits on it, it does not run');
    assert.equal((await h.store.getApproval(id))!.status, 'pending');
    h.failAudit([]);
    assert.equal((await h.approvals.get(id))!.status, 'approved', 'read once the store is back, the votes\' decision is applied');
    const approved = (await h.trail(id)).find((r) => r.action === 'approval.approved' && r.outcome === 200)!;
    assert.equal(approved.actorKind, 'gateway');
    assert.deepEqual(approved.details.approvedBy, ['bob']);
    assert.deepEqual(await h.approvals.hold(req, { waitMs: 0 }), { state: 'approved', id });
    await rejectsWith(h.approvals.decide(id, CAROL, 'deny', 'late'), 'conflict');
  });

  it('the use cannot be recorded: the request is refused and the approval stays usable once', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    h.failAudit(['approval.used']);
    await rejectsWith(h.approvals.hold(req, { waitMs: 0 }), 'store_unavailable');
    h.failAudit([]);
    assert.equal((await h.store.getApproval(id))!.status, 'approved');
    assert.deepEqual(await h.approvals.hold(req, { waitMs: 0 }), { state: 'approved', id });
    assert.equal((await h.approvals.hold(req, { waitMs: 0 })).state, 'pending', 'once');
  });

  it('a deny, an expiry and a withdrawal are made even when nothing can be recorded, and logged at error', async () => {
    const denied = await h.approvals.hold(request(), { waitMs: 0 });
    const expiring = await h.approvals.hold(request({ timeoutMs: 500 }), { waitMs: 0 });
    const client = new AbortController();
    const leaving = h.held(request(), { signal: client.signal });
    const leavingId = await leaving.id;
    h.failAudit(['*']);
    assert.equal((await h.approvals.decide(denied.id, BOB, 'deny', 'no')).status, 'denied');
    h.time.advance(500);
    await h.approvals.sweep();
    assert.equal((await h.store.getApproval(expiring.id))!.status, 'expired');
    client.abort(new Error('gone'));
    assert.equal((await leaving.outcome).state, 'withdrawn');
    assert.equal((await h.store.getApproval(leavingId))!.status, 'withdrawn');
    h.failAudit([]);
    const unrecorded = h.logs().filter((l) => l.level === 50 && l.event?.target !== undefined).map((l) => `${l.event.action} ${l.event.target}`);
    for (const expected of [`approval.voted ${denied.id}`, `approval.denied ${denied.id}`, `approval.expired ${expiring.id}`, `approval.withdrawn ${leavingId}`]) {
      assert.ok(unrecorded.includes(expected), `${expected} logged`);
    }
  });

  it('the completion of a record fails: the change is made, its row stays open (outcome null)', async () => {
    const req = request();
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    h.failAudit(['approval.voted', 'approval.approved'], { completions: true });
    assert.equal((await h.approvals.decide(id, BOB, 'approve', null)).status, 'approved');
    h.failAudit([]);
    const trail = await h.trail(id);
    assert.equal(trail.find((r) => r.action === 'approval.voted')!.outcome, null);
    assert.equal(trail.find((r) => r.action === 'approval.approved')!.outcome, null);
  });
});
