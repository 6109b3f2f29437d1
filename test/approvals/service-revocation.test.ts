/**
 * Findings of the approvals review, each kept as a test: an approval never outlives the token that
 * asked for it being revoked (a stolen token's requests go with it, pending or approved), while a
 * token that merely expired is replaced by the agent's next one as designed; and a client told its
 * approval was withdrawn (a cancel racing the approval) can never run it afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADA, BOB, rejectsWith, request, startHarness, type Harness } from './support/service-harness.ts';
import { newId } from '../../src/util/ids.ts';

describe('approvals service: the asking token revoked, and cancels racing approvals', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  /** A real token row for ada, as a request would carry its id. */
  async function token(expiresAt: number | null = null): Promise<string> {
    const id = newId('tok');
    await h.store.insertToken({ id, hash: `hash-${id}`, kind: 'agent', principalId: ADA.id, name: 'ci agent', connections: null, createdAt: h.time.now(), expiresAt, revokedAt: null, parentId: null });
    return id;
  }

  it('pending, its asking token revoked: approving it is refused, it is withdrawn, and the next token asks anew', async () => {
    const asker = await token();
    const req = request({ tokenId: asker });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.store.revokeToken(asker, h.time.now());
    await rejectsWith(h.approvals.decide(id, BOB, 'approve', null), 'conflict');
    assert.equal((await h.store.getApproval(id))!.status, 'withdrawn');
    const next = await h.approvals.hold({ ...req, tokenId: await token() }, { waitMs: 0 });
    assert.equal(next.state, 'pending');
    assert.notEqual(next.id, id);
  });

  it('approved but unused, its asking token revoked: the same request from a new token of the same agent does not run under it', async () => {
    const asker = await token();
    const req = request({ tokenId: asker });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    await h.store.revokeToken(asker, h.time.now());
    const retry = await h.approvals.hold({ ...req, tokenId: await token() }, { waitMs: 0 });
    assert.equal(retry.state, 'pending', 'held anew');
    assert.notEqual(retry.id, id);
    assert.equal((await h.store.getApproval(id))!.status, 'withdrawn');
    assert.ok((await h.trail(id)).some((e) => e.action === 'approval.withdrawn' && JSON.stringify(e.details).includes('token_revoked')));
  });

  it('a pending approval whose asking token was revoked is not joined by the same request from a new token', async () => {
    const asker = await token();
    const req = request({ tokenId: asker });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.store.revokeToken(asker, h.time.now());
    const again = await h.approvals.hold({ ...req, tokenId: await token() }, { waitMs: 0 });
    assert.notEqual(again.id, id);
    assert.equal((await h.store.getApproval(id))!.status, 'withdrawn');
  });

  it('by design: the asking token merely expired, the same agent\'s next token runs the approved request once', async () => {
    const asker = await token(h.time.now() + 1_000);
    const req = request({ tokenId: asker });
    const { id } = await h.approvals.hold(req, { waitMs: 0 });
    await h.approvals.decide(id, BOB, 'approve', null);
    h.time.advance(2_000);
    assert.deepEqual(await h.approvals.hold({ ...req, tokenId: await token() }, { waitMs: 0 }), { state: 'approved', id });
  });

  it('a cancel that lands as the approval is given: the client hears withdrawn, and the approval can never run afterwards', async () => {
    const req = request({ tokenId: await token() });
    const cancel = new AbortController();
    const held = h.held(req, { waitMs: 60_000, signal: cancel.signal });
    const id = await held.id;
    // Approved in the store before the waiter looks again, then the client cancels.
    await h.approvals.decide(id, BOB, 'approve', null);
    cancel.abort();
    const outcome = await held.outcome;
    if (outcome.state === 'withdrawn') {
      assert.equal((await h.store.getApproval(id))!.status, 'withdrawn', 'told withdrawn: never runs');
      const retry = await h.approvals.hold(req, { waitMs: 0 });
      assert.notEqual(retry.state, 'approved');
    } else {
      // The waiter saw the approval first: it ran, once.
      assert.deepEqual(outcome, { state: 'approved', id });
      assert.equal((await h.store.getApproval(id))!.status, 'used');
    }
  });
});
