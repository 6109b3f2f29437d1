/**
 * Generic webhook notifications against a real HTTP receiver on loopback: the receiver checks the
 * HMAC signature the way the docs tell receivers to, sees retries (timers fired by the test, never
 * waited for), drops duplicates by event id, and the queue stays bounded.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createApprovalNotifier, type ApprovalNotifier } from '../../src/approvals/notify/index.ts';
import { approval, captureLogs, created, decided, FakeTimers, hang, Receiver, status, verifySignature } from './support/notify-harness.ts';

const SECRET = 'whsec-test-0123456789abcdef-webhook';
const TIMEOUT = 4_321;
const NOW = 1_760_000_100_000;

interface Setup {
  receiver: Receiver;
  timers: FakeTimers;
  logs: ReturnType<typeof captureLogs>;
  notifier: ApprovalNotifier;
  clock: { now: number };
}

const open: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of open) await close();
});

async function setup(options: { maxAttempts?: number; queueLimit?: number; receivers?: number } = {}): Promise<Setup> {
  const receiver = await new Receiver().start();
  const timers = new FakeTimers();
  const logs = captureLogs();
  const clock = { now: NOW };
  const notifier = createApprovalNotifier(
    { webhooks: [{ url: receiver.url, secret: SECRET }], timeout: TIMEOUT, maxAttempts: options.maxAttempts ?? 5, queueLimit: options.queueLimit ?? 100 },
    { logger: logs.logger, now: () => clock.now, timers, random: () => 0.5 },
  );
  open.push(async () => {
    // Closing first stops new attempts; firing the timeouts then ends those under way.
    const closing = notifier.close();
    for (const t of timers.live()) timers.fire(t);
    await closing;
    await receiver.stop();
  });
  return { receiver, timers, logs, notifier, clock };
}

describe('approval webhooks', { timeout: 60_000 }, () => {
  it('signs the body with HMAC-SHA256 over "<timestamp>.<body>", which a receiver can check with the secret', async () => {
    const { receiver, notifier } = await setup();
    notifier.notify(created());
    const req = await receiver.requests.next();
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-gatehouse-timestamp'], String(Math.floor(NOW / 1000)));
    assert.match(String(req.headers['x-gatehouse-event-id']), /^evt_[0-9a-f]{32}$/);
    assert.ok(verifySignature(SECRET, req), 'the signature verifies with the secret');
    assert.equal(verifySignature('another-secret-of-enough-length', req), false, 'and not with another secret');
    const body = JSON.parse(req.body) as Record<string, any>;
    assert.equal(body.type, 'approval.created');
    assert.equal(body.id, req.headers['x-gatehouse-event-id']);
    assert.equal(body.approval.id, 'apr_01J9Z5');
    assert.deepEqual(body.approval.summary, { sql: 'DELETE FROM orders WHERE id = 42' });
    assert.equal(body.approveCommand, 'gatehouse approvals approve apr_01J9Z5');
    assert.equal(body.gatewayUrl, 'https://gatehouse.example.com');
    assert.ok(!req.body.includes(SECRET), 'the secret is never sent');
  });

  it('a receiver refuses a tampered body, a changed timestamp and a missing signature', async () => {
    const { receiver, notifier } = await setup();
    notifier.notify(created());
    const req = await receiver.requests.next();
    const tampered = { ...req, raw: Buffer.from(req.body.replace('id = 42', 'id > 0')) };
    assert.equal(verifySignature(SECRET, tampered), false);
    const moved = { ...req, headers: { ...req.headers, 'x-gatehouse-timestamp': String(Math.floor(NOW / 1000) + 1) } };
    assert.equal(verifySignature(SECRET, moved), false);
    const bare = { ...req, headers: { ...req.headers, 'x-gatehouse-signature': undefined } };
    assert.equal(verifySignature(SECRET, bare), false);
  });

  it('retries after a 500 with back-off, the same body and event id, signed again at the new time', async () => {
    const { receiver, timers, notifier, clock, logs } = await setup();
    receiver.answers.push(status(500), status(502));
    notifier.notify(created());
    const first = await receiver.requests.next();
    const wait1 = await timers.next(1_000);
    clock.now += 1_000;
    timers.fire(wait1);
    const second = await receiver.requests.next(() => true, 1);
    const wait2 = await timers.next(2_000);
    clock.now += 2_000;
    timers.fire(wait2);
    const third = await receiver.requests.next(() => true, 2);
    await logs.waitFor('delivered');
    assert.equal(receiver.requests.items.length, 3);
    for (const req of [second, third]) {
      assert.equal(req.body, first.body);
      assert.equal(req.headers['x-gatehouse-event-id'], first.headers['x-gatehouse-event-id']);
      assert.ok(verifySignature(SECRET, req));
    }
    assert.equal(third.headers['x-gatehouse-timestamp'], String(Math.floor((NOW + 3_000) / 1000)));
  });

  it('honours Retry-After on a 429, in seconds and as an HTTP date', async () => {
    const { receiver, timers, notifier } = await setup();
    receiver.answers.push(status(429, { 'retry-after': '7' }), status(503, { 'retry-after': new Date(NOW + 42_000).toUTCString() }));
    notifier.notify(created());
    timers.fire(await timers.next(7_000));
    await receiver.requests.next(() => true, 1);
    timers.fire(await timers.next(42_000));
    await receiver.requests.next(() => true, 2);
    assert.equal(receiver.requests.items.length, 3);
  });

  it('does not retry a 400 (or any 4xx but 429)', async () => {
    const { receiver, timers, notifier, logs } = await setup();
    receiver.answers.push(status(400), status(404));
    notifier.notify(created());
    notifier.notify(decided(approval({ status: 'denied', decidedAt: NOW })));
    await logs.waitFor('refused');
    await logs.lines.next((l) => l.msg.includes('refused'), logs.lines.items.findIndex((l) => l.msg.includes('refused')) + 1);
    assert.equal(receiver.requests.items.length, 2);
    assert.deepEqual(timers.live().filter((t) => t.ms !== TIMEOUT), [], 'no retry is waiting');
    assert.match(logs.all(), /status 400/);
  });

  it('gives up after maxAttempts and logs it', async () => {
    const { receiver, timers, notifier, logs } = await setup({ maxAttempts: 3 });
    receiver.answers.push(status(503), status(503), status(503), status(200));
    notifier.notify(created());
    timers.fire(await timers.next(1_000));
    timers.fire(await timers.next(2_000));
    const line = await logs.waitFor('giving up');
    assert.equal(line.attempt, 3);
    assert.equal(receiver.requests.items.length, 3);
  });

  it('sends an event once however often it is told (two replicas, a repeat), and different events under different ids', async () => {
    const { receiver, notifier, logs } = await setup();
    const event = created();
    notifier.notify(event);
    notifier.notify(created(approval()));
    notifier.notify(decided(approval({ status: 'approved', decidedAt: NOW })));
    await logs.waitFor('delivered');
    await logs.lines.next((l) => l.msg.includes('delivered'), logs.lines.items.findIndex((l) => l.msg.includes('delivered')) + 1);
    const ids = receiver.requests.items.map((r) => r.headers['x-gatehouse-event-id']);
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1]);
    // A receiver's de-duplication: a second notifier (another replica) sends the same event under the same id.
    const other = await setup();
    other.notifier.notify(event);
    const again = await other.receiver.requests.next();
    assert.equal(again.headers['x-gatehouse-event-id'], ids[0]);
  });

  it('keeps the queue bounded: when full the oldest waiting notification is dropped, with a warning', async () => {
    const { receiver, timers, notifier, logs } = await setup({ queueLimit: 2 });
    // Two attempts run at once; a receiver that never answers keeps them busy.
    receiver.answers.push(hang(receiver), hang(receiver));
    const ids = ['apr_1', 'apr_2', 'apr_3', 'apr_4', 'apr_5'];
    for (const id of ids) notifier.notify(created(approval({ id })));
    const dropped = await logs.waitFor('queue full');
    assert.equal(dropped.approvalId, 'apr_3');
    assert.equal(logs.lines.items.filter((l) => l.msg.includes('queue full')).length, 1);
    // The attempts under way time out; the queue (apr_4, apr_5) is sent next.
    await receiver.requests.next(() => true, 1);
    for (const t of timers.live().filter((t) => t.ms === TIMEOUT)) timers.fire(t);
    await receiver.requests.next((r) => r.body.includes('apr_5'));
    assert.ok(!receiver.requests.items.some((r) => r.body.includes('"apr_3"')));
  });

  it('gives an attempt up at the timeout when the receiver never answers, and retries', async () => {
    const { receiver, timers, notifier, logs } = await setup();
    receiver.answers.push(hang(receiver));
    notifier.notify(created());
    await receiver.requests.next();
    timers.fire(await timers.next(TIMEOUT));
    const retry = await logs.waitFor('will retry');
    assert.equal(retry.why, 'no answer within the timeout');
    timers.fire(await timers.next(1_000));
    await logs.waitFor('delivered');
    assert.equal(receiver.requests.items.length, 2);
  });

  it('close() drops what waits for a retry, lets attempts under way finish, and notify() after it sends nothing', async () => {
    const { receiver, timers, notifier, logs } = await setup();
    receiver.answers.push(status(500));
    notifier.notify(created());
    const wait = await timers.next(1_000);
    await notifier.close();
    assert.equal(wait.cancelled, true);
    assert.match(logs.all(), /"dropped":1/);
    notifier.notify(created(approval({ id: 'apr_after_close' })));
    assert.equal(receiver.requests.items.length, 1);
  });
});
