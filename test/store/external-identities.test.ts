/**
 * Migration 10 on both engines: sign-in identities linked to principals (one sign-in link per
 * principal, however many replicas race for it) and ID tokens used once across replicas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Conflict } from '../../src/errors.ts';
import type { ExternalIdentityRow, Store } from '../../src/store/types.ts';
import { ENGINES, openTwoStores, principal } from './fixtures.ts';

function link(principalId: string, over: Partial<ExternalIdentityRow> = {}): ExternalIdentityRow {
  return { protocol: 'oidc', issuer: 'https://idp.example.com', subject: `sub-${randomUUID()}`, principalId, linkedBy: 'sign-in', createdAt: 1_700_000_000_000, ...over };
}

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: external identities and used ID tokens`, () => {
    let a: Store;
    let b: Store;
    openTwoStores(setup, (opened) => ({ a, b } = opened));

    test('a link is found by (protocol, issuer, subject) exactly; another replica sees it', async () => {
      const person = principal();
      await a.insertPrincipal(person);
      const row = link(person.id, { subject: 'Alice' });
      await a.insertExternalIdentity(row);
      assert.deepEqual(await b.getExternalIdentity('oidc', row.issuer, 'Alice'), row);
      assert.equal(await b.getExternalIdentity('oidc', row.issuer, 'alice'), null, 'subjects are compared exactly: case matters');
      assert.equal(await b.getExternalIdentity('saml', row.issuer, 'Alice'), null, 'a SAML NameID is not an OIDC sub');
      assert.equal(await b.getExternalIdentity('oidc', `${row.issuer}/`, 'Alice'), null, 'issuers are compared exactly');
      assert.deepEqual(await b.listExternalIdentities(person.id), [row]);
    });

    test('an identity links to one principal: a second link of it is a Conflict', async () => {
      const [first, second] = [principal(), principal()];
      await a.insertPrincipal(first);
      await a.insertPrincipal(second);
      const row = link(first.id);
      await a.insertExternalIdentity(row);
      await assert.rejects(b.insertExternalIdentity({ ...row, principalId: second.id, linkedBy: 'admin' }), Conflict);
      assert.equal((await a.getExternalIdentity('oidc', row.issuer, row.subject))!.principalId, first.id);
    });

    test('a principal gets one sign-in link; links an admin adds are not limited', async () => {
      const person = principal();
      await a.insertPrincipal(person);
      await a.insertExternalIdentity(link(person.id));
      await assert.rejects(b.insertExternalIdentity(link(person.id, { issuer: 'https://other.example.com' })), Conflict);
      await b.insertExternalIdentity(link(person.id, { issuer: 'https://other.example.com', linkedBy: 'admin', createdAt: 1_700_000_000_001 }));
      await b.insertExternalIdentity(link(person.id, { protocol: 'saml', linkedBy: 'admin', createdAt: 1_700_000_000_002 }));
      const links = await a.listExternalIdentities(person.id);
      assert.deepEqual(links.map((l) => l.linkedBy), ['sign-in', 'admin', 'admin'], 'oldest first');
    });

    test('two replicas racing to claim one principal for two accounts: exactly one wins', async () => {
      const person = principal();
      await a.insertPrincipal(person);
      const results = await Promise.allSettled([a, b, a, b].map((store, i) => store.insertExternalIdentity(link(person.id, { subject: `racer-${i}` }))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof Conflict, String(r.reason));
      assert.equal((await a.listExternalIdentities(person.id)).length, 1);
    });

    test('an ID token is used once, on any replica; racing uses let exactly one through', async () => {
      const key = randomUUID();
      assert.equal(await a.insertUsedIdToken({ id: key, createdAt: 1, expiresAt: 10_000 }), true);
      assert.equal(await b.insertUsedIdToken({ id: key, createdAt: 2, expiresAt: 20_000 }), false);
      const raced = randomUUID();
      const results = await Promise.all([a, b, a, b].map((store) => store.insertUsedIdToken({ id: raced, createdAt: 1, expiresAt: 10_000 })));
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('pruning removes expired keys only (one expiring exactly now is expired)', async () => {
      const now = 5_000_000_000_000;
      const [gone, edge, kept] = [randomUUID(), randomUUID(), randomUUID()];
      await a.insertUsedIdToken({ id: gone, createdAt: 0, expiresAt: now - 1 });
      await a.insertUsedIdToken({ id: edge, createdAt: 0, expiresAt: now });
      await a.insertUsedIdToken({ id: kept, createdAt: 0, expiresAt: now + 1 });
      assert.ok((await b.pruneUsedIdTokens(now)) >= 2);
      assert.equal(await a.insertUsedIdToken({ id: gone, createdAt: 0, expiresAt: now + 10 }), true);
      assert.equal(await a.insertUsedIdToken({ id: edge, createdAt: 0, expiresAt: now + 10 }), true);
      assert.equal(await a.insertUsedIdToken({ id: kept, createdAt: 0, expiresAt: now + 10 }), false);
    });
  });
}
