/**
 * Migration 16 on both engines: the SCRAM salt per principal (one winner when two issues race), the
 * verifiers of a principal's tokens (live ones first, bounded), and the startup parameters on a
 * session, read back as written. Credentials.issue stores a verifier only for agent tokens.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES, principal, session, token, type EngineHarness } from '../store/fixtures.ts';
import type { Store } from '../../src/store/types.ts';
import { Credentials } from '../../src/identity/credentials.ts';
import { scramKeys } from '../../src/identity/scram-keys.ts';

for (const [name, setup] of Object.entries(ENGINES)) {
  describe(`${name}: SCRAM verifiers and session startup (migration 16)`, () => {
    let h: EngineHarness;
    let store: Store;
    before(async () => {
      h = await setup();
      store = await h.open();
    });
    after(async () => {
      await store?.close();
      await h?.stopDatabase();
    });

    test('one salt per principal: concurrent first issues agree on the first stored', async () => {
      const p = principal();
      await store.insertPrincipal(p);
      const results = await Promise.all(['c2FsdDE=', 'c2FsdDI=', 'c2FsdDM='].map((salt) => store.scramSalt(p.id, { salt, iterations: 4096 })));
      assert.equal(new Set(results.map((r) => r.salt)).size, 1);
      assert.deepEqual(await store.getScramSalt(p.id), results[0]);
      assert.equal(await store.getScramSalt('nobody'), null);
    });

    test('verifiers: live tokens first, newest first, bounded; an ended token stays a candidate after them', async () => {
      const p = principal();
      await store.insertPrincipal(p);
      const now = 10_000_000;
      const rows = [
        token(p.id, { createdAt: 1, expiresAt: 2 }), // expired
        token(p.id, { createdAt: 3, expiresAt: null }),
        token(p.id, { createdAt: 5, expiresAt: now + 1 }),
      ];
      for (const [i, t] of rows.entries()) {
        await store.insertToken(t);
        await store.insertScramVerifier({ tokenId: t.id, principalId: p.id, salt: 'c2FsdA==', iterations: 4096, storedKey: `s${i}`, serverKey: `k${i}`, createdAt: t.createdAt });
      }
      const all = await store.listScramVerifiers(p.id, now, 10);
      assert.deepEqual(all.map((v) => v.tokenId), [rows[2]!.id, rows[1]!.id, rows[0]!.id]);
      assert.deepEqual((await store.listScramVerifiers(p.id, now, 2)).map((v) => v.tokenId), [rows[2]!.id, rows[1]!.id]);
      await store.revokeToken(rows[2]!.id, now - 1);
      assert.deepEqual((await store.listScramVerifiers(p.id, now, 1)).map((v) => v.tokenId), [rows[1]!.id]);
    });

    test('session startup parameters read back as written; other sessions carry none', async () => {
      const withStartup = session({ startup: { user: 'alice', application_name: 'x', options: '-c a=b' } });
      const without = session();
      await store.insertSession(withStartup);
      await store.insertSession(without);
      assert.deepEqual(await store.getSession(withStartup.id), withStartup);
      assert.deepEqual(await store.getSession(without.id), without);
    });

    test('Credentials.issue stores a verifier for agent tokens only, which checks against the token', async () => {
      const p = principal();
      await store.insertPrincipal(p);
      const credentials = new Credentials(store, { defaultTtlMs: 60_000, maxTtlMs: 60_000, cacheTtlMs: 0, maxTtlForGroups: () => null });
      const who = { id: p.id, kind: p.kind, name: p.name, groups: p.groups };
      const agent = await credentials.issue({ principal: who, kind: 'agent', name: 'a', connections: null, ttlMs: 60_000 });
      await credentials.issue({ principal: who, kind: 'admin', name: 'b', connections: null, ttlMs: 60_000 });
      const verifiers = await store.listScramVerifiers(p.id, Date.now(), 10);
      assert.deepEqual(verifiers.map((v) => v.tokenId), [agent.token.id]);
      const salt = await store.getScramSalt(p.id);
      const keys = await scramKeys(agent.secret, Buffer.from(salt!.salt, 'base64'), salt!.iterations);
      assert.equal(verifiers[0]!.storedKey, keys.storedKey.toString('base64'));
      assert.equal(verifiers[0]!.serverKey, keys.serverKey.toString('base64'));
      const raw = JSON.stringify(await h.query('SELECT * FROM scram_verifiers'));
      assert.ok(!raw.includes(agent.secret.slice(4)), 'the token is not stored');
    });
  });
}
