/**
 * Which principal a sign-in reaches (identity/external-identities.ts), on both engines: found by the
 * account's (issuer, subject) link, never by a name another account can assert; the first sign-in
 * claims an unlinked principal of its name (apart from letter case) or is refused; SCIM's groups win.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../src/errors.ts';
import { principalForSignIn, type SignInIdentity } from '../../src/identity/external-identities.ts';
import type { PrincipalRow, Store } from '../../src/store/types.ts';
import { newId } from '../../src/util/ids.ts';
import { ENGINES, openTwoStores } from '../store/fixtures.ts';

const CORP = 'https://corp.example.com';
const PARTNER = 'https://partner.example.com';
const NOW = 1_750_000_000_000;

function who(name: string, over: Partial<SignInIdentity> = {}): SignInIdentity {
  return { protocol: 'oidc', issuer: CORP, subject: `sub-${randomUUID()}`, name, groups: ['eng'], ...over };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return err.code;
  }
}

async function user(store: Store, name: string, over: Partial<PrincipalRow> = {}): Promise<PrincipalRow> {
  const row: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [], createdAt: NOW, disabledAt: null, ...over };
  await store.insertPrincipal(row);
  return row;
}

/** A unique name per test: the tests share one database. */
const unique = (base: string) => `${base}-${randomUUID().slice(0, 8)}@corp.com`;

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: the principal a sign-in reaches`, () => {
    let a: Store;
    let b: Store;
    openTwoStores(setup, (opened) => ({ a, b } = opened));

    test('the first sign-in creates the person and links the account; later ones follow the link, whatever name they claim', async () => {
      const alice = who(unique('alice'));
      const first = await principalForSignIn(a, alice, NOW);
      assert.equal(first.name, alice.name);
      assert.deepEqual(first.groups, ['eng']);
      const link = await b.getExternalIdentity('oidc', CORP, alice.subject);
      assert.equal(link?.principalId, first.id);
      assert.equal(link?.linkedBy, 'sign-in');
      // The provider renames her to someone else's name: she still reaches her own principal.
      const renamed = await principalForSignIn(b, { ...alice, name: 'someone-else@corp.com', groups: ['ops'] }, NOW);
      assert.equal(renamed.id, first.id);
      assert.equal(renamed.name, alice.name);
      assert.deepEqual(renamed.groups, ['ops'], 'groups follow the provider for a person SCIM does not manage');
    });

    test('a second issuer asserting the same user name is refused, and the person keeps their groups', async () => {
      const alice = who(unique('alice'), { groups: ['admins'] });
      const mine = await principalForSignIn(a, alice, NOW);
      const impostor = who(alice.name, { issuer: PARTNER, groups: [] });
      assert.equal(await code(principalForSignIn(a, impostor, NOW)), 'auth_identity_conflict');
      assert.equal(await code(principalForSignIn(a, { ...impostor, name: alice.name.toUpperCase() }, NOW)), 'auth_identity_conflict', 'nor in other letter case');
      assert.equal(await code(principalForSignIn(a, { ...impostor, issuer: CORP }, NOW)), 'auth_identity_conflict', 'nor another account of the same issuer');
      assert.deepEqual((await a.getPrincipal(mine.id))!.groups, ['admins']);
      assert.equal(await a.getExternalIdentity('oidc', PARTNER, impostor.subject), null, 'the refused account is not linked');
    });

    test('a principal SCIM or `tokens --for` created is claimed by the first sign-in of its name, apart from letter case', async () => {
      const name = unique('carol');
      const scim = await user(a, name);
      await a.insertScimUser({ principalId: scim.id, userName: name, externalId: null, active: true, attributes: {}, createdAt: NOW, updatedAt: NOW });
      const carol = who(name.replace('carol', 'Carol'));
      const signedIn = await principalForSignIn(a, carol, NOW);
      assert.equal(signedIn.id, scim.id);
      assert.equal(signedIn.name, name, 'the name SCIM gave stays');

      const given = await user(a, unique('dan'));
      assert.equal((await principalForSignIn(b, who(given.name), NOW)).id, given.id);
    });

    test('a person SCIM provisions keeps the groups SCIM gives: the ID token cannot add or remove one', async () => {
      const name = unique('bob');
      const bob = await user(a, name, { groups: ['eng'] });
      await a.insertScimUser({ principalId: bob.id, userName: name, externalId: null, active: true, attributes: {}, createdAt: NOW, updatedAt: NOW });
      const signedIn = await principalForSignIn(a, who(name, { groups: ['admins'] }), NOW);
      assert.deepEqual(signedIn.groups, ['eng']);
      assert.deepEqual((await a.getPrincipal(bob.id))!.groups, ['eng']);
    });

    test('a disabled person is refused and not claimed; once enabled, the first sign-in claims them', async () => {
      const erin = await user(a, unique('erin'), { disabledAt: NOW });
      const account = who(erin.name);
      assert.equal(await code(principalForSignIn(a, account, NOW)), 'auth_revoked');
      assert.deepEqual(await a.listExternalIdentities(erin.id), []);
      await a.enablePrincipal(erin.id);
      assert.equal((await principalForSignIn(a, account, NOW)).id, erin.id);
      await a.disablePrincipal(erin.id, NOW);
      assert.equal(await code(principalForSignIn(a, account, NOW)), 'auth_revoked', 'a linked person disabled later is refused too');
    });

    test('names that differ only in letter case: the exact one is claimed; with none exact, the sign-in is refused', async () => {
      const base = unique('frank');
      const lower = await user(a, base);
      const upper = await user(a, base.toUpperCase());
      assert.equal(await code(principalForSignIn(a, who(base.replace('frank', 'Frank')), NOW)), 'auth_identity_conflict');
      assert.equal((await principalForSignIn(a, who(base.toUpperCase()), NOW)).id, upper.id);
      // One of them is linked now: the other name is "a principal of that name linked to another account".
      assert.equal(await code(principalForSignIn(a, who(base), NOW)), 'auth_identity_conflict');
      assert.deepEqual(await a.listExternalIdentities(lower.id), []);
    });

    test('Unicode letter case counts as SCIM counts it (toLowerCase)', async () => {
      const tag = randomUUID().slice(0, 6);
      const asa = await user(a, `åsa-${tag}`);
      assert.equal((await principalForSignIn(a, who(`ÅSA-${tag.toUpperCase()}`), NOW)).id, asa.id);
      // A dotted capital I lower-cases to i + a combining dot: another name than "ivy".
      const ivy = await user(a, `ivy-${tag}`);
      const other = await principalForSignIn(a, who(`İVY-${tag}`), NOW);
      assert.notEqual(other.id, ivy.id);
    });

    test('a service account of the same name is never claimed by a sign-in', async () => {
      const name = unique('deployer');
      const account = await user(a, name, { kind: 'service_account' });
      const person = await principalForSignIn(a, who(name), NOW);
      assert.notEqual(person.id, account.id);
      assert.equal(person.kind, 'user');
    });

    test('an OIDC sub and a SAML NameID that happen to be equal are two accounts', async () => {
      const subject = `shared-${randomUUID()}`;
      const viaOidc = await principalForSignIn(a, who(unique('gina'), { subject }), NOW);
      const samlName = unique('gina');
      const viaSaml = await principalForSignIn(a, who(samlName, { subject, protocol: 'saml' }), NOW);
      assert.notEqual(viaSaml.id, viaOidc.id);
      assert.equal(viaSaml.name, samlName);
    });

    test('two replicas: two accounts racing for one unlinked name, one wins and the other is refused', async () => {
      const target = await user(a, unique('hank'));
      const racers = [who(target.name), who(target.name, { issuer: PARTNER })];
      const results = await Promise.allSettled([principalForSignIn(a, racers[0]!, NOW), principalForSignIn(b, racers[1]!, NOW)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      assert.equal((won[0] as PromiseFulfilledResult<PrincipalRow>).value.id, target.id);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as GatewayError).code, 'auth_identity_conflict');
      assert.equal((await a.listExternalIdentities(target.id)).length, 1);
    });

    test('two replicas: one account signing in several times at once gets one principal, and no refusal', async () => {
      for (let round = 0; round < 8; round++) {
        const ivan = who(unique('ivan'));
        const rows = await Promise.all([a, b, a, b].map((store) => principalForSignIn(store, ivan, NOW)));
        assert.equal(new Set(rows.map((r) => r.id)).size, 1);
        assert.equal((await a.listPrincipals()).filter((p) => p.name === ivan.name).length, 1);
      }
    });
  });
}
