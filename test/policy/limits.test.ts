import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { GatewayError, LimitExceeded } from '../../src/errors.ts';
import type { LimitSpec } from '../../src/interaction.ts';
import { createLimitTracker } from '../../src/policy/limits.ts';

/** Runs `n` tasks that each wait a few turns of the event loop before acting, all at once. */
async function inParallel<T>(n: number, act: (i: number) => Promise<T>): Promise<Array<T | GatewayError>> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      for (let k = i % 3; k >= 0; k--) await tick();
      try {
        return await act(i);
      } catch (err) {
        if (err instanceof GatewayError) return err;
        throw err;
      }
    }),
  );
}

const refusals = (results: unknown[]) => results.filter((r): r is LimitExceeded => r instanceof LimitExceeded);

function fakeClock(start = 1_000 * 60_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('concurrent sessions', () => {
  it('lets exactly K of N parallel acquirers in per identity', async () => {
    const tracker = createLimitTracker();
    const results = await inParallel(20, () => tracker.acquireSession('alice', 'prod-db', { concurrentSessionsPerIdentity: 5 }));
    const released = results.filter((r): r is () => void => typeof r === 'function');
    assert.equal(released.length, 5);
    const refused = refusals(results);
    assert.equal(refused.length, 15);
    for (const err of refused) {
      assert.equal(err.code, 'limit_exceeded');
      assert.equal(err.limit, 'concurrentSessionsPerIdentity');
    }
    assert.equal(await tracker.sessions('identity', 'alice'), 5);
    for (const release of released) release();
    assert.equal(await tracker.sessions('identity', 'alice'), 0);
  });

  it('lets exactly K in per connection, across identities', async () => {
    const tracker = createLimitTracker();
    const results = await inParallel(12, (i) => tracker.acquireSession(`agent-${i}`, 'prod-db', { concurrentSessionsPerConnection: 3 }));
    assert.equal(results.filter((r) => typeof r === 'function').length, 3);
    const refused = refusals(results);
    assert.equal(refused.length, 9);
    assert.ok(refused.every((err) => err.code === 'limit_exceeded' && err.limit === 'concurrentSessionsPerConnection'));
    assert.equal(await tracker.sessions('connection', 'prod-db'), 3);
  });

  it('frees the slot when a session ends, so the next one gets in', async () => {
    const tracker = createLimitTracker();
    const limits: LimitSpec = { concurrentSessionsPerIdentity: 1 };
    const release = await tracker.acquireSession('alice', 'db', limits);
    await assert.rejects(() => tracker.acquireSession('alice', 'db', limits), (err: LimitExceeded) => err.code === 'limit_exceeded');
    release();
    const again = await tracker.acquireSession('alice', 'db', limits);
    assert.equal(await tracker.sessions('identity', 'alice'), 1);
    again();
  });

  it("releasing twice frees one slot, not another session's", async () => {
    const tracker = createLimitTracker();
    const limits: LimitSpec = { concurrentSessionsPerIdentity: 2, concurrentSessionsPerConnection: 2 };
    const first = await tracker.acquireSession('alice', 'db', limits);
    await tracker.acquireSession('alice', 'db', limits);
    first();
    first();
    assert.equal(await tracker.sessions('identity', 'alice'), 1);
    assert.equal(await tracker.sessions('connection', 'db'), 1);
    await tracker.acquireSession('alice', 'db', limits);
    await assert.rejects(() => tracker.acquireSession('alice', 'db', limits), LimitExceeded);
  });

  it('never goes below zero', async () => {
    const tracker = createLimitTracker();
    const release = await tracker.acquireSession('alice', 'db', {});
    release();
    release();
    assert.equal(await tracker.sessions('identity', 'alice'), 0);
    const limits = { concurrentSessionsPerIdentity: 1 };
    await tracker.acquireSession('alice', 'db', limits);
    await assert.rejects(() => tracker.acquireSession('alice', 'db', limits), LimitExceeded);
  });

  it('a refused session takes no slot anywhere', async () => {
    const tracker = createLimitTracker();
    await tracker.acquireSession('bob', 'db', {});
    await assert.rejects(() => tracker.acquireSession('alice', 'db', { concurrentSessionsPerConnection: 1 }), LimitExceeded);
    assert.equal(await tracker.sessions('identity', 'alice'), 0);
    assert.equal(await tracker.sessions('connection', 'db'), 1);
  });

  it('counts sessions opened under rules without limits', async () => {
    const tracker = createLimitTracker();
    await tracker.acquireSession('alice', 'db', {});
    await tracker.acquireSession('alice', 'other-db', {});
    await assert.rejects(() => tracker.acquireSession('alice', 'db', { concurrentSessionsPerIdentity: 2 }), LimitExceeded);
  });
});

describe('requests and tokens per minute', () => {
  it('lets exactly K of N parallel requests through and gives a Retry-After', async () => {
    const tracker = createLimitTracker();
    const results = await inParallel(10, () => tracker.consume('alice', { requestsPerMinute: 4 }, 0));
    assert.equal(results.filter((r) => r === undefined).length, 4);
    const refused = refusals(results);
    assert.equal(refused.length, 6);
    for (const err of refused) {
      assert.equal(err.code, 'limit_exceeded');
      assert.equal(err.limit, 'requestsPerMinute');
      assert.ok(err.retryAfterSeconds !== undefined && err.retryAfterSeconds >= 1 && err.retryAfterSeconds <= 120);
      assert.equal(err.details.retryAfterSeconds, err.retryAfterSeconds);
    }
  });

  it('admits the request exactly when Retry-After says', async () => {
    const clock = fakeClock();
    const tracker = createLimitTracker({ now: clock.now });
    const limits = { requestsPerMinute: 3 };
    for (let i = 0; i < 3; i++) await tracker.consume('alice', limits, 0);
    let refused: LimitExceeded | undefined;
    try {
      await tracker.consume('alice', limits, 0);
    } catch (err) {
      refused = err as LimitExceeded;
    }
    assert.ok(refused instanceof LimitExceeded);
    const wait = refused.retryAfterSeconds!;
    // Sliding minute: all 3 were at the start of a window, so one more fits once two thirds of that
    // window has slid out of view: 60 s + 20 s.
    assert.equal(wait, 80);
    clock.advance((wait - 1) * 1000);
    await assert.rejects(() => tracker.consume('alice', limits, 0), LimitExceeded);
    clock.advance(1000);
    await tracker.consume('alice', limits, 0);
  });

  it('keeps identities apart', async () => {
    const tracker = createLimitTracker();
    await tracker.consume('alice', { requestsPerMinute: 1 }, 0);
    await tracker.consume('bob', { requestsPerMinute: 1 }, 0);
    await assert.rejects(() => tracker.consume('alice', { requestsPerMinute: 1 }, 0), LimitExceeded);
  });

  it('limits LLM tokens per minute and counts nothing for a refused request', async () => {
    const clock = fakeClock();
    const tracker = createLimitTracker({ now: clock.now });
    const limits = { requestsPerMinute: 100, llmTokensPerMinute: 1000 };
    await tracker.consume('alice', limits, 600);
    await assert.rejects(
      () => tracker.consume('alice', limits, 600),
      (err: LimitExceeded) => err.code === 'limit_exceeded' && err.limit === 'llmTokensPerMinute' && (err.retryAfterSeconds ?? 0) > 0,
    );
    assert.deepEqual(await tracker.usage('alice'), { requests: 1, tokens: 600 });
    await tracker.consume('alice', limits, 400);
    assert.deepEqual(await tracker.usage('alice'), { requests: 2, tokens: 1000 });
  });

  it('refuses without Retry-After a request that alone exceeds the token limit', async () => {
    const tracker = createLimitTracker();
    await assert.rejects(
      () => tracker.consume('alice', { llmTokensPerMinute: 1000 }, 5000),
      (err: LimitExceeded) => err.limit === 'llmTokensPerMinute' && err.retryAfterSeconds === undefined,
    );
  });

  it('forgets usage after two quiet minutes', async () => {
    const clock = fakeClock();
    const tracker = createLimitTracker({ now: clock.now });
    await tracker.consume('alice', { requestsPerMinute: 1 }, 10);
    clock.advance(120_000);
    assert.deepEqual(await tracker.usage('alice'), { requests: 0, tokens: 0 });
    await tracker.consume('alice', { requestsPerMinute: 1 }, 10);
  });
});
