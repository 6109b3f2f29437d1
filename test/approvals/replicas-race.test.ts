/**
 * Identical requests held at the same moment on two gateways sharing one PostgreSQL (two stores,
 * two services): one pending approval between them, and once approved the request runs once; the
 * other waiter asks again. Real concurrency (Promise.all), no timing.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import { Approvals, type HoldOptions } from '../../src/approvals/index.ts';
import { MemoryCoordination } from '../../src/store/coordination.ts';
import type { Store } from '../../src/store/types.ts';
import { ENGINES, openTwoStores } from '../store/fixtures.ts';
import { ManualTime } from './manual-time.ts';
import { BOB, GRANTS, request } from './support/service-harness.ts';

describe('two gateways on one PostgreSQL holding the same request at once', () => {
  let stores: { a: Store; b: Store };
  openTwoStores(ENGINES.postgres, (opened) => (stores = opened));
  // Registered after openTwoStores' hook, so it runs once the stores are open. Deciders are read back from the store.
  before(() => stores.a.insertPrincipal({ ...BOB, groups: [...BOB.groups], createdAt: 1, disabledAt: null }));

  function replicas() {
    const time = new ManualTime();
    // One bus stands in for LISTEN/NOTIFY between the two.
    const bus = new MemoryCoordination('rep_shared');
    const make = (store: Store, replicaId: string) =>
      new Approvals({ store, coordination: { replicaId, publish: (e) => bus.publish(e), subscribe: (h) => bus.subscribe(h) }, logger: pino({ level: 'silent' }), roleGrants: () => GRANTS, now: time.now, timers: time });
    return { a: make(stores.a, 'rep_a'), b: make(stores.b, 'rep_b') };
  }

  it('answered at once: both get the same pending approval, and only one is stored', async () => {
    const { a, b } = replicas();
    for (let round = 0; round < 5; round++) {
      const req = request();
      const [x, y] = await Promise.all([a.hold(req, { waitMs: 0 }), b.hold(req, { waitMs: 0 })]);
      assert.equal(x.state, 'pending');
      assert.equal(x.id, y.id, `round ${round}: one approval`);
      const pending = (await stores.b.listApprovals({ principalId: req.principal.id, status: 'pending', limit: 1000 })).filter((r) => r.fingerprint === req.fingerprint);
      assert.equal(pending.length, 1);
    }
    a.stop();
    b.stop();
  });

  it('waiting on both, approved on one: the request runs once; the other waiter asks anew', async () => {
    const { a, b } = replicas();
    const req = request();
    const waitedOn: string[][] = [[], []];
    const next: (() => void)[] = [];
    const created = (i: number, count: number) =>
      new Promise<string>((resolve) => {
        const check = () => (waitedOn[i]!.length >= count ? resolve(waitedOn[i]![count - 1]!) : next.push(check));
        check();
      });
    const options = (i: number): HoldOptions => ({ waitMs: 60_000, onCreated: (x) => (waitedOn[i]!.push(x.id), next.splice(0).forEach((f) => f())) });
    const holds = [a.hold(req, options(0)), b.hold(req, options(1))];
    const [idA, idB] = await Promise.all([created(0, 1), created(1, 1)]);
    assert.equal(idA, idB);
    await b.decide(idA, BOB, 'approve', 'once');
    const again = await Promise.race([created(0, 2), created(1, 2)]);
    assert.notEqual(again, idA);
    await a.decide(again, BOB, 'deny', 'it ran already');
    const outcomes = await Promise.all(holds);
    assert.deepEqual(outcomes.map((o) => o.state).sort(), ['approved', 'denied']);
    assert.equal(outcomes.find((o) => o.state === 'approved')!.id, idA);
    assert.equal((await stores.a.getApproval(idA))!.status, 'used');
    const used = (await stores.b.listAuditEvents({ target: idA, action: 'approval.used', limit: 10 })).filter((r) => r.outcome === 200);
    assert.equal(used.length, 1, 'one use recorded');
    a.stop();
    b.stop();
  });
});
