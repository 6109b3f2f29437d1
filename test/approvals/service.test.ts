/**
 * The approvals service on a real SQLite store, with the clock and wake-ups moved by hand: who may
 * decide, n-of-m, break-glass, expiry, withdrawal, and that an approval runs its exact request once.
 * Most cases are hostile: each tries to make a request run that should not.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Approvals, fingerprint, type FingerprintInput, type HoldRequest } from '../../src/approvals/index.ts';
import { GatewayError } from '../../src/errors.ts';
import type { Principal } from '../../src/interaction.ts';
import { coordinationEventSchema, MemoryCoordination } from '../../src/store/coordination.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { ManualTime } from './manual-time.ts';

const GRANTS = [
  { group: 'oncall', role: 'approver' as const },
  { group: 'sre', role: 'approver' as const },
  { group: 'ic', role: 'approver' as const },
  { group: 'security', role: 'auditor' as const },
  { group: 'platform-admins', role: 'admin' as const },
  { group: 'engineering', role: 'user' as const, connections: ['openai'] },
];

const person = (name: string, groups: string[]): Principal => ({ id: `usr_${name}`, kind: 'user', name, groups });
const ADA = person('ada', ['engineering']);
const BOB = person('bob', ['oncall']);
const CAROL = person('carol', ['oncall', 'sre']);
const DAN = person('dan', ['sre']);
const IVY = person('ivy', ['ic']);
/** Deciders are read back from the store (a person disabled or moved since signing in decides nothing): everyone who decides here is stored. */
const STORED: Principal[] = [
  person('ada', ['engineering', 'oncall']), BOB, CAROL, DAN, IVY, person('sam', ['security']), person('uma', ['engineering']), person('nobody', []),
  { id: 'adm_1', kind: 'admin', name: 'admin', groups: [] }, person('mallory', ['оncall']), person('trent', ['OnCall']), person('oscar', ['oncall ']),
];

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code, `expected ${code}`);

function print(over: Partial<FingerprintInput> = {}): string {
  return fingerprint({ principalId: ADA.id, agent: 'ci agent', connection: 'openai', kind: 'llm.chat', method: 'POST', target: '/v1/chat/completions', content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop it' }] } }, ...over });
}

function request(over: Partial<HoldRequest> = {}): HoldRequest {
  return {
    principal: ADA, tokenId: 'tok_1', agent: 'ci agent', connection: 'openai', kind: 'llm.chat', fingerprint: print(),
    rule: 'hold-chat', approvers: ['oncall'], required: 1, timeoutMs: 15 * 60_000, summary: { method: 'POST', prompt: 'drop it' }, ...over,
  };
}

describe('approvals service', () => {
  let dir: string;
  let store: Store;
  let time: ManualTime;
  let approvals: Approvals;
  let logs: string[];
  let coordination: MemoryCoordination;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-approvals-'));
    store = await openStore({ sqlitePath: path.join(dir, 'g.db') });
    for (const p of STORED) await store.insertPrincipal({ ...p, groups: [...p.groups], createdAt: 1, disabledAt: null });
  });
  after(async () => {
    approvals?.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    approvals?.stop();
    time = new ManualTime(time ? time.current + 86_400_000 : undefined);
    logs = [];
    const sink = new Writable({ write: (chunk, _e, done) => (logs.push(String(chunk)), done()) });
    coordination = new MemoryCoordination('rep_a');
    approvals = new Approvals({ store, coordination, logger: pino({ level: 'info' }, sink), roleGrants: () => GRANTS, breakGlassGroups: () => ['ic'], now: time.now, timers: time });
  });

  /** Holds `req`, resolving the id as soon as the approval exists. */
  function held(req: HoldRequest, signal?: AbortSignal) {
    let created!: (id: string) => void;
    const id = new Promise<string>((resolve) => (created = resolve));
    const outcome = approvals.hold(req, { waitMs: 60_000, signal, onCreated: (a) => created(a.id) });
    return { id, outcome };
  }

  it('approved while waiting: the request runs, and its approval is used once', async () => {
    const h = held(request({ fingerprint: print({ target: '/case-1' }) }));
    const id = await h.id;
    const view = await approvals.decide(id, BOB, 'approve', 'looks fine');
    assert.deepEqual(await h.outcome, { state: 'approved', id });
    assert.equal(view.votes[0]!.approver, 'bob');
    const after = (await approvals.get(id))!;
    assert.equal(after.status, 'used');
    assert.equal(after.usedAt, time.now());
  });

  it('one deny denies; the held request is refused and the approval never runs it', async () => {
    const fp = print({ target: '/case-deny' });
    const h = held(request({ fingerprint: fp }));
    const id = await h.id;
    await approvals.decide(id, BOB, 'deny', 'no');
    assert.equal((await h.outcome).state, 'denied');
    await rejectsWith(approvals.decide(id, CAROL, 'approve', null), 'conflict');
    // The same request asks anew; the denied approval is never reused.
    const again = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    assert.equal(again.state, 'pending');
    assert.notEqual(again.id, id);
  });

  it('the wait running out leaves the approval pending; approved later, the same request runs once and a second retry is held anew', async () => {
    const fp = print({ target: '/case-wait' });
    const h = held(request({ fingerprint: fp }));
    const id = await h.id;
    time.advance(60_000);
    time.fire();
    assert.deepEqual(await h.outcome, { state: 'pending', id, required: 1, expiresAt: (await approvals.get(id))!.expiresAt });
    await approvals.decide(id, BOB, 'approve', null);
    assert.deepEqual(await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 }), { state: 'approved', id });
    const second = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    assert.equal(second.state, 'pending');
    assert.notEqual(second.id, id);
  });

  it('hostile: a request changed by one byte does not run under another request\'s approval', async () => {
    const fp = print({ content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop it' }], n: 1 } } });
    const first = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    await approvals.decide(first.id, BOB, 'approve', null);
    const changed = print({ content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop it!' }], n: 1 } } });
    const other = await approvals.hold(request({ fingerprint: changed }), { waitMs: 0 });
    assert.equal(other.state, 'pending');
    assert.notEqual(other.id, first.id);
    assert.deepEqual(await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 }), { state: 'approved', id: first.id });
  });

  it('hostile: another identity sending the identical request cannot use the approval', async () => {
    const fp = print({ target: '/case-other' });
    const mine = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    await approvals.decide(mine.id, BOB, 'approve', null);
    const eve = person('eve', ['engineering']);
    const theirs = await approvals.hold(request({ principal: eve, fingerprint: fp }), { waitMs: 0 });
    assert.equal(theirs.state, 'pending');
    assert.notEqual(theirs.id, mine.id);
  });

  it('hostile: two identical requests racing for one approval: exactly one runs', async () => {
    const fp = print({ target: '/case-race' });
    const first = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    await approvals.decide(first.id, BOB, 'approve', null);
    const outcomes = await Promise.all([approvals.hold(request({ fingerprint: fp }), { waitMs: 0 }), approvals.hold(request({ fingerprint: fp }), { waitMs: 0 })]);
    assert.equal(outcomes.filter((o) => o.state === 'approved').length, 1);
  });

  it('hostile: nobody approves their own request (a deny of one\'s own is a withdrawal, allowed)', async () => {
    const self = person('ada', ['engineering', 'oncall']);
    const first = await approvals.hold(request({ principal: self, fingerprint: print({ target: '/self' }) }), { waitMs: 0 });
    await rejectsWith(approvals.decide(first.id, self, 'approve', null), 'forbidden_role');
    assert.equal((await approvals.get(first.id))!.status, 'pending');
    assert.equal((await approvals.get(first.id))!.votes.length, 0, 'the refused vote is not stored');
  });

  it('hostile: 2-of-2 needs two distinct approvers; the same one twice is refused', async () => {
    const h = held(request({ fingerprint: print({ target: '/two' }), approvers: ['oncall', 'sre'], required: 2 }));
    const id = await h.id;
    assert.equal((await approvals.decide(id, CAROL, 'approve', null)).status, 'pending');
    await rejectsWith(approvals.decide(id, CAROL, 'approve', 'again'), 'conflict');
    await rejectsWith(approvals.decide(id, CAROL, 'deny', 'changed my mind'), 'conflict');
    assert.equal((await approvals.decide(id, DAN, 'approve', null)).status, 'approved');
    assert.equal((await h.outcome).state, 'approved');
  });

  it('hostile: an approver role outside the approval\'s groups, an auditor, a user, and the bootstrap admin cannot approve', async () => {
    // Members of the approver groups security and engineering hold the auditor and user roles only.
    const { id } = await approvals.hold(request({ fingerprint: print({ target: '/who' }), approvers: ['oncall', 'security', 'engineering'] }), { waitMs: 0 });
    await rejectsWith(approvals.decide(id, DAN, 'approve', null), 'forbidden_role');
    await rejectsWith(approvals.decide(id, person('sam', ['security']), 'approve', null), 'forbidden_role');
    await rejectsWith(approvals.decide(id, person('uma', ['engineering']), 'approve', null), 'forbidden_role');
    await rejectsWith(approvals.decide(id, { id: 'adm_1', kind: 'admin', name: 'admin', groups: [] }, 'approve', null), 'forbidden_role');
    await rejectsWith(approvals.decide(id, person('nobody', []), 'approve', null), 'forbidden_role');
    assert.equal((await approvals.get(id))!.votes.length, 0);
  });

  it('hostile: look-alike and differently cased group names are other groups', async () => {
    const { id } = await approvals.hold(request({ fingerprint: print({ target: '/lookalike' }) }), { waitMs: 0 });
    const grants = [...GRANTS, { group: 'оncall', role: 'approver' as const }, { group: 'OnCall', role: 'approver' as const }];
    const strict = new Approvals({ store, coordination, logger: pino({ level: 'silent' }), roleGrants: () => grants, now: time.now, timers: time });
    await rejectsWith(strict.decide(id, person('mallory', ['оncall']), 'approve', null), 'forbidden_role');
    await rejectsWith(strict.decide(id, person('trent', ['OnCall']), 'approve', null), 'forbidden_role');
    await rejectsWith(strict.decide(id, person('oscar', ['oncall ']), 'approve', null), 'forbidden_role');
    strict.stop();
  });

  it('hostile: huge comments and comments with terminal escapes are refused, nothing stored', async () => {
    const { id } = await approvals.hold(request({ fingerprint: print({ target: '/comment' }) }), { waitMs: 0 });
    await rejectsWith(approvals.decide(id, BOB, 'approve', 'x'.repeat(2001)), 'invalid_argument');
    await rejectsWith(approvals.decide(id, BOB, 'approve', 'ok\u001b[2J'), 'invalid_argument');
    await rejectsWith(approvals.decide(id, BOB, 'deny', 'ok\u202e'), 'invalid_argument');
    assert.equal((await approvals.get(id))!.status, 'pending');
    assert.equal((await approvals.decide(id, BOB, 'approve', 'multi\nline\tok ✓')).status, 'approved');
  });

  it('hostile: deciding an unknown id, or after expiry, is refused; an expired approval never runs', async () => {
    await rejectsWith(approvals.decide('apr_does_not_exist', BOB, 'approve', null), 'not_found');
    await rejectsWith(approvals.decide("apr_' OR 1=1 --", BOB, 'approve', null), 'not_found');
    const fp = print({ target: '/expiry' });
    const h = held(request({ fingerprint: fp, timeoutMs: 120_000 }));
    const id = await h.id;
    time.advance(120_000);
    time.fire();
    assert.equal((await h.outcome).state, 'expired');
    await rejectsWith(approvals.decide(id, BOB, 'approve', null), 'conflict');
    assert.equal((await approvals.get(id))!.status, 'expired');
  });

  it('hostile: an approval given but unused until its expiry is not used after it', async () => {
    const fp = print({ target: '/late-use' });
    const { id } = await approvals.hold(request({ fingerprint: fp, timeoutMs: 60_000 }), { waitMs: 0 });
    await approvals.decide(id, BOB, 'approve', null);
    time.advance(60_000);
    const late = await approvals.hold(request({ fingerprint: fp, timeoutMs: 60_000 }), { waitMs: 0 });
    assert.equal(late.state, 'pending');
    assert.notEqual(late.id, id);
    assert.equal((await approvals.get(id))!.status, 'expired');
  });

  it('a client that leaves withdraws its approval; it can never be approved or run', async () => {
    const fp = print({ target: '/withdraw' });
    const client = new AbortController();
    const h = held(request({ fingerprint: fp }), client.signal);
    const id = await h.id;
    client.abort(new Error('client left'));
    assert.equal((await h.outcome).state, 'withdrawn');
    assert.equal((await approvals.get(id))!.status, 'withdrawn');
    await rejectsWith(approvals.decide(id, BOB, 'approve', null), 'conflict');
    const again = await approvals.hold(request({ fingerprint: fp }), { waitMs: 0 });
    assert.notEqual(again.id, id);
    assert.equal(again.state, 'pending');
  });

  it('a client already gone when the hold starts withdraws at once', async () => {
    const client = new AbortController();
    client.abort(new Error('gone'));
    const h = held(request({ fingerprint: print({ target: '/gone' }) }), client.signal);
    assert.equal((await h.outcome).state, 'withdrawn');
  });

  it('break-glass: a member of a break-glass group approves alone, recorded and logged at warn', async () => {
    const h = held(request({ fingerprint: print({ target: '/glass' }), approvers: ['oncall', 'sre'], required: 2 }));
    const id = await h.id;
    const view = await approvals.decide(id, IVY, 'approve', 'incident 4521');
    assert.equal(view.status, 'approved');
    assert.equal(view.votes[0]!.breakGlass, true);
    assert.equal((await h.outcome).state, 'approved');
    const warn = logs.map((l) => JSON.parse(l)).find((l) => l.msg.includes('break-glass'));
    assert.equal(warn?.level, 40);
    assert.equal(warn?.approver, 'ivy');
  });

  it('stopping releases held requests without deciding: the approval stays pending for after a restart', async () => {
    const h = held(request({ fingerprint: print({ target: '/stop' }) }));
    const id = await h.id;
    approvals.stop();
    assert.equal((await h.outcome).state, 'pending');
    assert.equal((await approvals.get(id))!.status, 'pending');
  });

  it('an event from another replica wakes the held request; a forged event for another id wakes nothing wrongly', async () => {
    const other = new Approvals({ store, coordination, logger: pino({ level: 'silent' }), roleGrants: () => GRANTS, now: time.now, timers: time });
    const h = held(request({ fingerprint: print({ target: '/event' }) }));
    const id = await h.id;
    await coordination.publish({ type: 'approval.decided', approvalId: 'apr_unrelated' });
    await coordination.publish({ type: 'approval.decided', approvalId: id });
    await other.decide(id, BOB, 'approve', null);
    assert.equal((await h.outcome).state, 'approved');
    other.stop();
  });

  it('hostile: the coordination schema refuses malformed approval events', () => {
    assert.equal(coordinationEventSchema.safeParse({ type: 'approval.decided', approvalId: 'apr_1' }).success, true);
    for (const bad of [{ type: 'approval.decided' }, { type: 'approval.decided', approvalId: '' }, { type: 'approval.decided', approvalId: 'a\u0000b' },
      { type: 'approval.decided', approvalId: 'x'.repeat(201) }, { type: 'approval.decided', approvalId: 7 }, { type: 'approval.decided', approvalId: 'apr_1', extra: 1 }]) {
      assert.equal(coordinationEventSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('listeners hear an approval created and decided (notifications)', async () => {
    const events: string[] = [];
    approvals.onEvent((e) => events.push(`${e.type}:${e.approval.status}`));
    const { id } = await approvals.hold(request({ fingerprint: print({ target: '/listen' }) }), { waitMs: 0 });
    await approvals.decide(id, BOB, 'deny', 'no');
    for (let i = 0; i < 20 && events.length < 2; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['created:pending', 'decided:denied']);
  });

  it('the sweep expires what is due and wakes nobody wrongly', async () => {
    await approvals.sweep(); // what earlier cases left pending is past its expiry by now
    const { id } = await approvals.hold(request({ fingerprint: print({ target: '/sweep' }), timeoutMs: 1_000 }), { waitMs: 0 });
    assert.equal(await approvals.sweep(), 0);
    time.advance(1_000);
    assert.ok((await approvals.sweep()) >= 1);
    const [row] = (await approvals.list({ status: 'expired', limit: 500 })).filter((a) => a.id === id);
    assert.equal(row?.status, 'expired');
  });
});
