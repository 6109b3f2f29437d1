/**
 * The offboarding core (identity/offboarding.ts) against a real store, with the events it
 * publishes captured: one tokens.revoked naming every id it cut, then principal.disabled; and
 * Credentials.forgetPrincipal, which the server's handler calls for that event, so a verification
 * cached for an hour cannot let a disabled person through on this replica.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../src/errors.ts';
import { Credentials, toPrincipal } from '../../src/identity/credentials.ts';
import { Offboarding } from '../../src/identity/offboarding.ts';
import { ServiceAccounts } from '../../src/identity/service-accounts.ts';
import { MemoryCoordination, type CoordinationEvent } from '../../src/store/coordination.ts';
import { openStore } from '../../src/store/index.ts';
import type { PrincipalRow, Store } from '../../src/store/types.ts';
import { newId } from '../../src/util/ids.ts';

let dir: string;
let store: Store;
let credentials: Credentials;
let coordination: MemoryCoordination;
const events: CoordinationEvent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-offboarding-'));
  store = await openStore({ sqlitePath: join(dir, 'g.db') });
  credentials = new Credentials(store, { defaultTtlMs: 3_600_000, maxTtlMs: 3_600_000, cacheTtlMs: 3_600_000, maxTtlForGroups: () => null });
  coordination = new MemoryCoordination('rep_test');
  coordination.subscribe((event) => events.push(event));
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function person(name: string): Promise<PrincipalRow> {
  const row: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [], createdAt: Date.now(), disabledAt: null };
  await store.insertPrincipal(row);
  return row;
}

const agentToken = async (p: PrincipalRow) =>
  credentials.issue({ principal: toPrincipal(p), kind: 'agent', name: 't', connections: ['openai'], ttlMs: 600_000 });

test('disable publishes one revocation naming every token cut, then principal.disabled for her and her accounts', async () => {
  events.length = 0;
  const alice = await person('alice');
  const mine = await agentToken(alice);
  const child = await credentials.issue({ principal: toPrincipal(alice), kind: 'agent', name: 'child', connections: null, ttlMs: 600_000, parentId: mine.token.id });
  const accounts = new ServiceAccounts(store, credentials, 30 * 86_400_000);
  const { account, secret } = await accounts.create({ name: 'alice-bot', owner: 'ALICE', connections: ['openai'], groups: [], expiresInMs: 86_400_000 });
  const bought = await accounts.exchange(secret, {});

  const cut = await new Offboarding({ store, credentials, coordination, now: () => 1_000 }).disable(alice);
  assert.equal(cut.wasDisabled, false);
  assert.deepEqual(cut.disabledServiceAccounts, ['alice-bot']);
  const saSecret = (await store.listTokens({ principalId: account.id, includeRevoked: true, includeExpired: true, now: 0 })).find((t) => t.kind === 'service_account')!;
  assert.deepEqual([...cut.revokedTokens].sort(), [mine.token.id, child.token.id, saSecret.id, bought.token.id].sort());
  assert.deepEqual(events, [
    { type: 'tokens.revoked', tokenIds: cut.revokedTokens, reason: 'user disabled' },
    { type: 'principal.disabled', principalId: alice.id },
    { type: 'principal.disabled', principalId: account.id },
  ]);
  assert.equal((await store.getPrincipal(alice.id))!.disabledAt, 1_000);
  assert.equal((await store.getServiceAccount(account.id))!.disabledAt, 1_000);

  // A second disable keeps the first time and cuts only what is new.
  events.length = 0;
  const again = await new Offboarding({ store, credentials, coordination, now: () => 2_000 }).disable((await store.getPrincipal(alice.id))!);
  assert.equal(again.wasDisabled, true);
  assert.deepEqual(again.revokedTokens, []);
  assert.deepEqual(again.disabledServiceAccounts, []);
  assert.deepEqual(events, [{ type: 'principal.disabled', principalId: alice.id }], 'no empty revocation event');
  assert.equal((await store.getPrincipal(alice.id))!.disabledAt, 1_000);
});

test('forgetPrincipal drops a cached verification, so a disabled person is refused at once', async () => {
  const bob = await person('bob');
  const { secret } = await agentToken(bob);
  assert.equal((await credentials.verify(secret, 'agent')).principal.name, 'bob');
  // Disabled behind the cache's back (as another replica's disable lands in the shared store).
  await store.disablePrincipal(bob.id, Date.now());
  assert.equal((await credentials.verify(secret, 'agent')).principal.name, 'bob', 'served from the hour-long cache');
  credentials.forgetPrincipal(bob.id);
  await assert.rejects(credentials.verify(secret, 'agent'), (err: unknown) => err instanceof GatewayError && err.code === 'auth_revoked');
});

test('forgetPrincipal leaves other people’s cached verifications alone', async () => {
  const [carol, dan] = [await person('carol'), await person('dan')];
  const carolToken = (await agentToken(carol)).secret;
  const danToken = (await agentToken(dan)).secret;
  await credentials.verify(carolToken, 'agent');
  await credentials.verify(danToken, 'agent');
  await store.disablePrincipal(carol.id, Date.now());
  await store.disablePrincipal(dan.id, Date.now());
  credentials.forgetPrincipal(carol.id);
  await assert.rejects(credentials.verify(carolToken, 'agent'));
  assert.equal((await credentials.verify(danToken, 'agent')).principal.name, 'dan', "dan's entry was not dropped");
});

test('a service account or the admin identity is not disabled as a user', async () => {
  const robot: PrincipalRow = { id: newId('sa'), kind: 'service_account', name: 'robot', groups: [], createdAt: 0, disabledAt: null };
  await assert.rejects(new Offboarding({ store, credentials, coordination }).disable(robot), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_argument');
  await assert.rejects(new Offboarding({ store, credentials, coordination }).findUser('robot'), (err: unknown) => err instanceof GatewayError && err.code === 'not_found');
});
