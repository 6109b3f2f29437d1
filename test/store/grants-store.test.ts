/**
 * Access grants in the store (migration 12), on both engines, with two stores on one database as
 * two replicas open it: a grant is issued once per approval, only live grants of the principal for
 * the connection are read, and a grant ends once, whichever replica ends it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GrantRow, Store } from '../../src/store/types.ts';
import { ENGINES, id, openTwoStores } from './fixtures.ts';

const T0 = 1_700_000_000_000;

function grant(over: Partial<GrantRow> = {}): GrantRow {
  const approvalId = id('apr');
  return {
    id: `grt_${approvalId.slice(4)}`, approvalId, principalId: 'usr_ada', principalName: 'ada', connection: 'prod-db', reason: 'incident 4521',
    approvedBy: ['bob'], grantedAt: T0, expiresAt: T0 + 3_600_000, status: 'active', endedAt: null, endedBy: null, endReason: null, ...over,
  };
}

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`access grants (${engine})`, () => {
    let a: Store;
    let b: Store;
    openTwoStores(setup, (stores) => ({ a, b } = stores));

    it('is issued once per approval: the same id or the same approval again inserts nothing', async () => {
      const g = grant();
      assert.equal(await a.insertGrant(g), true);
      assert.equal(await b.insertGrant(g), false);
      assert.equal(await b.insertGrant({ ...g, id: id('grt') }), false, 'a second grant for the same approval');
      assert.deepEqual(await b.getGrant(g.id), g);
    });

    it('reads only the live grants of this principal for this connection', async () => {
      const principalId = id('usr');
      const live = grant({ principalId });
      await a.insertGrant(live);
      await a.insertGrant(grant({ principalId, connection: 'other-db' }));
      await a.insertGrant(grant({ principalId: id('usr') }));
      await a.insertGrant(grant({ principalId, expiresAt: T0 + 10 }));
      await a.insertGrant(grant({ principalId, status: 'revoked' }));
      assert.deepEqual((await b.liveGrants(principalId, 'prod-db', T0 + 10)).map((g) => g.id), [live.id]);
      assert.deepEqual(await b.liveGrants(principalId, 'prod-db', live.expiresAt), []);
    });

    it('ends once: two replicas revoking at once, one wins; an expiry only once its time came', async () => {
      const g = grant({ principalId: id('usr') });
      await a.insertGrant(g);
      const results = await Promise.all([a.endGrant(g.id, 'revoked', T0 + 5, 'bob', 'done'), b.endGrant(g.id, 'revoked', T0 + 5, 'carol', 'done')]);
      assert.deepEqual(results.filter(Boolean).length, 1);
      assert.equal(await a.endGrant(g.id, 'expired', g.expiresAt, 'gatehouse', 'reached its end'), false);
      const early = grant({ principalId: id('usr') });
      await a.insertGrant(early);
      assert.equal(await b.endGrant(early.id, 'expired', early.expiresAt - 1, 'gatehouse', 'too soon'), false);
      assert.ok((await b.dueGrants(early.expiresAt)).includes(early.id));
      assert.equal(await b.endGrant(early.id, 'expired', early.expiresAt, 'gatehouse', 'reached its end'), true);
      const ended = await a.getGrant(early.id);
      assert.deepEqual([ended?.status, ended?.endedAt, ended?.endedBy], ['expired', early.expiresAt, 'gatehouse']);
      assert.ok(!(await b.dueGrants(early.expiresAt)).includes(early.id));
    });

    it('lists newest first, by principal and status', async () => {
      const principalId = id('usr');
      const older = grant({ principalId, grantedAt: T0 });
      const newer = grant({ principalId, grantedAt: T0 + 1, status: 'revoked' });
      await a.insertGrant(older);
      await a.insertGrant(newer);
      assert.deepEqual((await b.listGrants({ principalId, limit: 10 })).map((g) => g.id), [newer.id, older.id]);
      assert.deepEqual((await b.listGrants({ principalId, status: 'active', limit: 10 })).map((g) => g.id), [older.id]);
    });
  });
}
