/** The SAML used-id ledger (migration 8) on both engines: once per id, across replicas, pruned when expired. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Store } from '../../src/store/types.ts';
import { ENGINES, openTwoStores } from '../store/fixtures.ts';

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: saml_ids`, () => {
    let a: Store;
    let b: Store;
    openTwoStores(setup, (opened) => ({ a, b } = opened));

    const id = () => `_a${randomUUID()}`;

    test('an id is accepted once; the same id for the other purpose is another id', async () => {
      const assertion = id();
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: assertion, createdAt: 1, expiresAt: 10_000 }), true);
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: assertion, createdAt: 2, expiresAt: 20_000 }), false);
      assert.equal(await a.insertSamlId({ purpose: 'request', id: assertion, createdAt: 2, expiresAt: 20_000 }), true);
    });

    test('another replica on the same database sees the id as used; racing inserts let exactly one through', async () => {
      const seen = id();
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: seen, createdAt: 1, expiresAt: 10_000 }), true);
      assert.equal(await b.insertSamlId({ purpose: 'assertion', id: seen, createdAt: 1, expiresAt: 10_000 }), false);
      const raced = id();
      const results = await Promise.all([a, b, a, b].map((store) => store.insertSamlId({ purpose: 'assertion', id: raced, createdAt: 1, expiresAt: 10_000 })));
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('pruning removes expired ids only (an id expiring exactly now is expired)', async () => {
      const now = 5_000_000_000_000;
      const [gone, edge, kept] = [id(), id(), id()];
      await a.insertSamlId({ purpose: 'assertion', id: gone, createdAt: 0, expiresAt: now - 1 });
      await a.insertSamlId({ purpose: 'assertion', id: edge, createdAt: 0, expiresAt: now });
      await a.insertSamlId({ purpose: 'assertion', id: kept, createdAt: 0, expiresAt: now + 1 });
      assert.ok((await b.pruneSamlIds(now)) >= 2);
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: gone, createdAt: 0, expiresAt: now + 10 }), true);
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: edge, createdAt: 0, expiresAt: now + 10 }), true);
      assert.equal(await a.insertSamlId({ purpose: 'assertion', id: kept, createdAt: 0, expiresAt: now + 10 }), false);
    });
  });
}
