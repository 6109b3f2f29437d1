/**
 * The Authenticator implementations: who an ID token names (user name and groups, by the configured
 * claims and their fallbacks), and Gatehouse's own tokens behind the same interface.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { oidcConfigSchema } from '../../src/config/identity-oidc.ts';
import { GatehouseTokenAuthenticator, type Authenticator } from '../../src/identity/authenticator.ts';
import { Credentials, toPrincipal } from '../../src/identity/credentials.ts';
import { IssuerDirectory, OidcIssuers } from '../../src/identity/oidc/issuers.ts';
import { OidcAuthenticator } from '../../src/identity/oidc/oidc-authenticator.ts';
import { WorkloadAuthenticator } from '../../src/identity/workload-exchange.ts';
import { openStore } from '../../src/store/index.ts';
import { GatewayError } from '../../src/errors.ts';
import { startOidcProvider } from '../support/oidc-provider.ts';

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return err.code;
  }
}

test('user name and groups come from the configured claims, with the documented fallbacks', async (t) => {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  const config = oidcConfigSchema.parse({
    issuers: [
      { name: 'default', issuer: idp.issuer, clientId: idp.clientId },
      { name: 'by-email', issuer: idp.issuer, clientId: idp.clientId, usernameClaim: 'email', groupsClaim: 'roles' },
    ],
  });
  const clock = Date.now();
  const auth = new OidcAuthenticator(new OidcIssuers(config), new IssuerDirectory(pino({ level: 'silent' })), () => clock);
  const now = Math.floor(clock / 1000);
  const sign = (claims: Record<string, unknown>) => idp.sign({ sub: 'u-123', aud: idp.clientId, iat: now, exp: now + 300, ...claims });
  const login = async (issuer: string, claims: Record<string, unknown>) => auth.authenticate({ issuer, idToken: await sign(claims) });

  // preferred_username, then email, then sub.
  assert.equal((await login('default', { preferred_username: 'alice', email: 'a@example.com' })).username, 'alice');
  assert.equal((await login('default', { email: 'a@example.com', email_verified: true })).username, 'a@example.com');
  assert.equal((await login('default', {})).username, 'u-123');
  assert.equal((await login('default', { preferred_username: '  ', email: 'a@example.com', email_verified: true })).username, 'a@example.com', 'a blank name is skipped');
  // A configured claim has no fallback.
  assert.equal(await code(login('by-email', { preferred_username: 'alice' })), 'auth_claim_missing');
  assert.equal(await code(login('by-email', { email: 'a\u0000@example.com' })), 'auth_claim_missing');
  assert.equal(await code(login('by-email', { email: 'x'.repeat(300) })), 'auth_claim_missing');

  // Groups: a list (duplicates dropped), one name, or none; anything else is refused.
  assert.deepEqual((await login('default', { groups: ['eng', 'ops', 'eng'] })).groups, ['eng', 'ops']);
  assert.deepEqual((await login('default', { groups: 'eng' })).groups, ['eng']);
  assert.deepEqual((await login('default', {})).groups, []);
  assert.deepEqual((await login('by-email', { email: 'a@example.com', email_verified: true, roles: ['r1'], groups: ['ignored'] })).groups, ['r1']);
  assert.equal((await login('default', { groups: ['eng'] })).groupsOmitted, false);
  const overage = await login('default', { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' } } });
  assert.deepEqual(overage.groups, []);
  assert.equal(overage.groupsOmitted, true);
  assert.equal(await code(login('default', { groups: [1, 2] })), 'auth_invalid');
  assert.equal(await code(login('default', { groups: { admins: true } })), 'auth_invalid');
  assert.equal(await code(login('default', { groups: Array.from({ length: 1001 }, (_, i) => `g${i}`) })), 'auth_invalid');

  const identity = await login('default', { preferred_username: 'alice' });
  assert.equal(identity.issuerName, 'default');
  assert.equal(identity.subject, 'u-123');
  assert.equal(identity.expiresAt, (now + 300) * 1000);

  assert.equal(await code(auth.authenticate({ issuer: 'nope', idToken: await sign({}) })), 'auth_unknown_issuer');
  const none = new OidcAuthenticator(new OidcIssuers(undefined), new IssuerDirectory(pino({ level: 'silent' })));
  assert.equal(await code(none.authenticate({ issuer: 'default', idToken: await sign({}) })), 'auth_unknown_issuer');
});

test("Gatehouse's own tokens, ID tokens and workload tokens sit behind one interface", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-authn-'));
  const store = await openStore({ sqlitePath: join(dir, 'g.db') });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const credentials = new Credentials(store, { defaultTtlMs: 60_000, maxTtlMs: 3_600_000, cacheTtlMs: 0, maxTtlForGroups: () => null });
  const row = { id: 'usr_1', kind: 'user' as const, name: 'alice', groups: ['eng'], createdAt: Date.now(), disabledAt: null };
  await store.insertPrincipal(row);
  const { secret } = await credentials.issue({ principal: toPrincipal(row), kind: 'agent', name: 't', connections: ['openai'], ttlMs: 60_000 });

  const directory = new IssuerDirectory(pino({ level: 'silent' }));
  const all: Authenticator<never, unknown>[] = [
    new GatehouseTokenAuthenticator(credentials),
    new OidcAuthenticator(new OidcIssuers(undefined), directory),
    new WorkloadAuthenticator(undefined, directory),
  ];
  assert.deepEqual(all.map((a) => a.kind), ['gatehouse', 'oidc', 'workload']);

  const gatehouse = new GatehouseTokenAuthenticator(credentials);
  const auth = await gatehouse.authenticate({ secret, expected: 'agent' });
  assert.equal(auth.principal.name, 'alice');
  assert.equal(await code(gatehouse.authenticate({ secret, expected: 'admin' })), 'auth_wrong_kind');
  assert.equal(await code(gatehouse.authenticate({ secret: undefined, expected: 'agent' })), 'auth_missing');
});
