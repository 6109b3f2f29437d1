/**
 * The runner, table-driven with fakes where a fake is the point (policy decisions, limits, forward
 * failures) and the real recorder on a real SQLite store, so every case is asserted on the rows an
 * auditor would read and on the slots a later request needs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { BadRequest, GatewayError, LimitExceeded, MaskingError, StoreError, UpstreamError } from '../src/errors.ts';
import type { Decision, Principal } from '../src/interaction.ts';
import { Pipeline, type Forward, type RequestDraft, type Session } from '../src/pipeline.ts';
import { Recorder } from '../src/audit/recorder.ts';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';
import { createMetrics } from '../src/metrics.ts';
import { buildRuntimeState, type RuntimeState } from '../src/runtime-state.ts';
import { compileMaskingProfiles, DEFAULT_PROFILES } from '../src/masking/index.ts';
import type { LimitTracker, PolicyEngine } from '../src/policy/types.ts';
import type { AuthContext } from '../src/identity/credentials.ts';
import { Approvals } from '../src/approvals/index.ts';
import { MemoryCoordination } from '../src/store/coordination.ts';

const CONNECTION = Object.freeze({ name: 'api', type: 'http' as const, tags: Object.freeze([]) });
const PRINCIPAL: Principal = { id: 'usr_1', kind: 'user', name: 'ada', groups: [] };
const AUTH: AuthContext = {
  principal: PRINCIPAL,
  credential: { tokenId: 'tok_1', kind: 'agent', name: 'agent', connections: null, issuedAt: 0, expiresAt: null },
};
const SECRET = 'AKIAIOSFODNN7EXAMPLE';

type DecisionCase = 'allow' | 'deny' | 'approve' | 'policy-throws';
type LimitCase = 'none' | 'rate' | 'slot';
type ProfileCase = 'none' | 'secrets' | 'missing';
type StoreCase = 'up' | 'down';
type ForwardCase = 'ok' | 'upstream-error' | 'masking-mid-stream' | 'client-abort' | 'bug';

function decision(kind: DecisionCase, profile: ProfileCase): Decision {
  const obligations = { maskingProfile: profile === 'none' ? null : profile === 'secrets' ? 'secrets' : 'no-such-profile', limits: {} };
  if (kind === 'deny') return { action: 'deny', rule: 'no', reason: 'denied by rule "no"', obligations };
  if (kind === 'approve') return { action: 'approve', rule: 'hold', approvers: ['sec'], required: 1, timeoutMs: 1000, waitMs: 1000, obligations };
  return { action: 'allow', rule: 'yes', obligations };
}

function fakePolicy(kind: DecisionCase, profile: ProfileCase): PolicyEngine {
  const engine: PolicyEngine = {
    decide: () => {
      if (kind === 'policy-throws') throw new Error('boom in a condition');
      return decision(kind, profile);
    },
    maxTokenTtlMs: () => null,
    ruleCount: 1,
    readsEntities: false,
    masks: profile !== 'none',
    approves: kind === 'approve',
    forConnection: () => engine,
  };
  return engine;
}

class CountingLimits implements LimitTracker {
  taken = 0;
  released = 0;
  constructor(private readonly refuse: LimitCase) {}
  async consume(): Promise<void> {
    if (this.refuse === 'rate') throw new LimitExceeded('requestsPerMinute', 'too many requests', 30);
  }
  async acquireSession(): Promise<() => void> {
    if (this.refuse === 'slot') throw new LimitExceeded('concurrentSessionsPerIdentity', 'too many agents');
    this.taken++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.released++;
    };
  }
}

/** A store whose interaction writes fail while `down` is set, as a lost database would. */
function failing(store: Store, flag: { down: boolean }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'insertInteraction') {
        return async (...args: unknown[]) => {
          if (flag.down) throw new StoreError('database is unavailable');
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const masking = compileMaskingProfiles(DEFAULT_PROFILES, Buffer.alloc(32, 1));
const secrets = masking.get('secrets')!;

function stateWith(policy: PolicyEngine): RuntimeState {
  return buildRuntimeState({ policy, masking, redact: (t) => secrets.maskText(t).text, detectEntities: () => [] }, [CONNECTION], 1);
}

function draft(): RequestDraft {
  const text = JSON.stringify({ note: `key ${SECRET}` });
  return {
    kind: 'http.request',
    summary: { http: { method: 'POST', path: '/notes', query: '', headers: {} } },
    scanText: text,
    body: { type: 'json', value: JSON.parse(text), text },
    method: 'POST',
    target: '/notes',
    model: null,
    bytesIn: text.length,
  };
}

function forwardFor(kind: ForwardCase, seen: { bodies: string[] }, client: AbortController): Forward {
  return async (admission) => {
    const body = admission.body.type === 'json' ? (admission.body.text ?? JSON.stringify(admission.body.value)) : '';
    seen.bodies.push(body);
    switch (kind) {
      case 'ok':
        // The transcript comes from the admission's masker, as an adapter's does.
        return { responseStatus: 200, responseBody: admission.maskText(`echo ${SECRET}`), bytesOut: 10 };
      case 'upstream-error':
        throw new UpstreamError('upstream_unreachable', 'upstream refused the connection');
      case 'masking-mid-stream':
        return { responseStatus: 200, responseBody: 'partial', bytesOut: 5, error: new MaskingError('stream could not be masked') };
      case 'client-abort':
        client.abort(new Error('client left'));
        throw new Error('socket closed');
      case 'bug':
        throw new TypeError('an adapter bug');
    }
  };
}

describe('Pipeline.run', () => {
  let dir: string;
  let store: Store;
  const flag = { down: false };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-runner-'));
    store = await openStore({ sqlitePath: path.join(dir, 'g.db') });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function harness(policy: PolicyEngine, limits: LimitTracker, extra: { anonymousRecordsPerMinute?: number; now?: () => number } = {}) {
    const logger = pino({ level: 'silent' });
    const recorder = new Recorder(failing(store, flag), logger, 64 * 1024);
    const pipeline = new Pipeline({
      // The real service on the same store: without RunOptions.hold a held request is refused at once, naming its approval.
      approvals: new Approvals({ store, coordination: new MemoryCoordination('rep_test'), logger, roleGrants: () => [] }),
      credentials: { verify: async () => AUTH, authorizeConnection: () => undefined },
      watch: { watch: () => () => undefined },
      state: () => stateWith(policy),
      connections: (name) => (name === CONNECTION.name ? CONNECTION : undefined),
      limits,
      recorder,
      metrics: createMetrics(),
      logger,
      responseLimits: { maxBodyBytes: 1 << 20, transcriptBytes: 1 << 16 },
      ...extra,
    });
    const session: Session = await pipeline.sharedSession({
      secret: 'gth_x',
      connection: CONNECTION.name,
      protocol: 'http',
      clientAddr: '127.0.0.1',
      line: { kind: 'http.request', method: 'POST', target: '/notes' },
    });
    return { pipeline, session };
  }

  const cases: { d: DecisionCase; l: LimitCase; p: ProfileCase; s: StoreCase; f: ForwardCase; code: string | null; forwarded: boolean; recorded: boolean }[] = [];
  for (const d of ['allow', 'deny', 'approve', 'policy-throws'] as const) {
    for (const l of ['none', 'rate', 'slot'] as const) {
      for (const p of ['none', 'secrets', 'missing'] as const) {
        for (const s of ['up', 'down'] as const) {
          for (const f of ['ok', 'upstream-error', 'masking-mid-stream', 'client-abort', 'bug'] as const) {
            // The expected outcome, stage by stage, in the runner's order.
            let code: string | null;
            let forwarded = false;
            if (d === 'deny') code = 'policy_denied';
            else if (d === 'policy-throws') code = 'policy_denied';
            // Approvers read the request masked by the rule's profile: a missing profile fails closed before anything is held.
            else if (d === 'approve') code = p === 'missing' ? 'masking_failed' : 'approval_required';
            else if (l !== 'none') code = 'limit_exceeded';
            else if (p === 'missing') code = 'masking_failed';
            else if (s === 'down') code = 'store_unavailable';
            else {
              forwarded = true;
              code = { ok: null, 'upstream-error': 'upstream_unreachable', 'masking-mid-stream': 'masking_failed', 'client-abort': 'client_aborted', bug: 'internal' }[f];
            }
            // A refusal is recorded whether or not the store is up only when it can be written.
            const recorded = s === 'up';
            cases.push({ d, l, p, s, f, code, forwarded, recorded });
          }
        }
      }
    }
  }

  for (const c of cases) {
    it(`decision=${c.d} limits=${c.l} profile=${c.p} store=${c.s} forward=${c.f} → ${c.code ?? 'ok'}`, async () => {
      const limits = new CountingLimits(c.l);
      const { pipeline, session } = await harness(fakePolicy(c.d, c.p), limits);
      const before = (await store.listInteractions(session.id)).length;
      const seen = { bodies: [] as string[] };
      const client = new AbortController();
      flag.down = c.s === 'down';
      let thrown: GatewayError | null = null;
      try {
        await pipeline.run(session, draft(), forwardFor(c.f, seen, client), { signal: client.signal });
      } catch (err) {
        assert.ok(err instanceof GatewayError, `run() rejects only with GatewayError, got ${String(err)}`);
        thrown = err;
      } finally {
        flag.down = false;
      }
      const rows = (await store.listInteractions(session.id)).slice(before);

      assert.equal(seen.bodies.length, c.forwarded ? 1 : 0, 'forwarded exactly when admitted');
      if (c.forwarded && c.p === 'secrets') assert.ok(!seen.bodies[0]!.includes(SECRET), 'the masked body is what was forwarded');
      assert.equal(limits.taken, limits.released, 'every slot taken was released');
      if (c.code === null || c.code === 'client_aborted') assert.equal(thrown, null);
      else assert.equal(thrown?.code, c.code);

      assert.equal(rows.length, c.recorded ? 1 : 0, 'one record per request, none when the store is down');
      if (c.recorded) {
        const row = rows[0]!;
        assert.equal(row.status, 'complete');
        assert.equal(row.errorCode, c.code);
        assert.ok(row.hash, 'the record was sealed');
        for (const field of [row.requestBody, row.responseBody, row.target]) assert.ok(!String(field).includes(SECRET), 'no raw secret recorded');
      }
    });
  }

  it('completes a record exactly once: a second completion is a bug that throws', async () => {
    const recorder = new Recorder(store, pino({ level: 'silent' }), 1024);
    const { id } = await recorder.openSession({ principalId: null, principalName: 'x', tokenId: null, connection: 'api', protocol: 'http', clientAddr: null });
    const record = await recorder.open(id, { kind: 'http.request', decision: 'allow', rule: null, reason: null, method: 'GET', target: '/', model: null, summary: {}, requestBody: null, bytesIn: 0 }, { redact: (t) => t });
    const outcome = { status: 'complete' as const, responseStatus: 200, responseBody: null, errorCode: null, bytesOut: 0 };
    await record.complete(outcome);
    await assert.rejects(record.complete(outcome), /completed twice/);
  });

  it('records a refused login and an unknown connection, and labels made-up names as one', async () => {
    const { pipeline } = await harness(fakePolicy('allow', 'none'), new CountingLimits('none'));
    const line = { kind: 'http.request' as const, method: 'GET', target: '/' };
    for (const name of ['made-up-1', 'made-up-2']) {
      await assert.rejects(
        pipeline.sharedSession({ secret: 'gth_x', connection: name, protocol: 'http', clientAddr: null, line }),
        (err: GatewayError) => err.code === 'unknown_connection',
      );
    }
    const sessions = await store.listSessions({ connection: '<unknown>', limit: 10 } as never);
    assert.equal(sessions.length, 1, 'all made-up names share one session');
  });

  it('bounds what callers without a credential can make it store: a budget per minute, the rest counted', async () => {
    let now = 5 * 60_000;
    const { pipeline } = await harness(fakePolicy('allow', 'none'), new CountingLimits('none'), { anonymousRecordsPerMinute: 3, now: () => now });
    const line = { kind: 'http.request' as const, method: 'GET', target: '/' };
    const refuse = (name: string) =>
      pipeline.sharedSession({ secret: undefined, connection: name, protocol: 'budget-test', clientAddr: null, line }).catch((err: GatewayError) => err.code);
    const stored = async () => {
      const sessions = await store.listSessions({ connection: '<unknown>', limit: 100 });
      const rows = await Promise.all(sessions.map((s) => store.listInteractions(s.id)));
      return rows.flat().filter((r) => (r.summary as { connection?: string }).connection?.startsWith('budget-')).length;
    };
    for (let i = 0; i < 5; i++) assert.equal(await refuse(`budget-${i}`), 'unknown_connection', 'every caller is still refused');
    assert.equal(await stored(), 3);
    now += 60_000;
    await refuse('budget-next-minute');
    assert.equal(await stored(), 4, 'a new minute, a new budget');
  });

  it('a session closed while its slot is being taken releases that slot and forwards nothing', async () => {
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    const limits = new CountingLimits('none');
    const slow: LimitTracker = {
      consume: () => limits.consume(),
      acquireSession: async () => {
        await gate;
        return limits.acquireSession();
      },
    };
    const { pipeline, session } = await harness(fakePolicy('allow', 'none'), slow);
    const seen = { bodies: [] as string[] };
    const running = pipeline.run(session, draft(), forwardFor('ok', seen, new AbortController()), { slot: 'session' }).then(
      () => null,
      (err: GatewayError) => err.code,
    );
    await session.close('client disconnected');
    resume();
    assert.equal(await running, 'bad_request');
    assert.equal(seen.bodies.length, 0, 'nothing forwarded');
    assert.equal(limits.taken, limits.released, 'the late slot was released');
  });

  it('keeps serving after every fault: the next request goes through', async () => {
    const limits = new CountingLimits('none');
    const { pipeline, session } = await harness(fakePolicy('allow', 'secrets'), limits);
    for (const f of ['bug', 'upstream-error', 'masking-mid-stream', 'client-abort'] as const) {
      const client = new AbortController();
      await pipeline.run(session, draft(), forwardFor(f, { bodies: [] }, client), { signal: client.signal }).catch(() => undefined);
    }
    await pipeline.run(session, draft(), forwardFor('ok', { bodies: [] }, new AbortController()));
    assert.equal(limits.taken, limits.released);
  });

  it('records a draft that cannot be built with the line the adapter gave', async () => {
    const { pipeline, session } = await harness(fakePolicy('allow', 'none'), new CountingLimits('none'));
    const before = (await store.listInteractions(session.id)).length;
    await assert.rejects(
      pipeline.run(session, () => { throw new BadRequest('request body is not valid JSON'); }, forwardFor('ok', { bodies: [] }, new AbortController()), {
        line: { kind: 'llm.chat', method: 'POST', target: '/v1/chat/completions' },
      }),
      (err: GatewayError) => err.code === 'bad_request',
    );
    const rows = (await store.listInteractions(session.id)).slice(before);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.errorCode, 'bad_request');
    assert.equal(rows[0]!.target, '/v1/chat/completions');
  });
});
