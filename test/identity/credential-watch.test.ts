/**
 * The credential watch's sweep, the fallback that needs no event: it ends what expired on an
 * injected clock and asks the store about every watched token in one query.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialWatch, type EndReason } from '../../src/identity/credential-watch.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { principal, token } from '../store/fixtures.ts';

let dir: string;
let store: Store;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-watch-'));
  store = await openStore({ sqlitePath: join(dir, 'gatehouse.db') });
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** The store, counting how often the sweep asks it. */
function counting(inner: Store, fail = false): { store: Store; calls: () => number } {
  let calls = 0;
  const wrapped = Object.create(inner) as Store;
  wrapped.tokenStates = async (ids) => {
    calls++;
    if (fail) throw new Error('store down');
    return inner.tokenStates(ids);
  };
  return { store: wrapped, calls: () => calls };
}

async function tokens(n: number, over: Parameters<typeof token>[1] = {}) {
  const p = principal();
  await store.insertPrincipal(p);
  const rows = Array.from({ length: n }, () => token(p.id, { expiresAt: null, ...over }));
  for (const row of rows) await store.insertToken(row);
  return rows;
}

describe('CredentialWatch.sweep', () => {
  test('asks the store about every watched token in one query, and ends revoked and deleted ones only', async () => {
    const rows = await tokens(60);
    const { store: watched, calls } = counting(store);
    const watch = new CredentialWatch(watched, 1_000, () => 0);
    const ended = new Map<string, EndReason>();
    for (const row of rows) watch.watch(row.id, null, (reason) => ended.set(row.id, reason));
    watch.watch('tok_never_stored', null, (reason) => ended.set('tok_never_stored', reason));
    await store.revokeToken(rows[3]!.id, 5);
    await watch.sweep();
    assert.equal(calls(), 1, 'one query for 61 watched tokens');
    assert.deepEqual([...ended].sort(), [[rows[3]!.id, 'revoked'], ['tok_never_stored', 'revoked']].sort());
    assert.equal(watch.size, 59);
  });

  test('ends an expired token on the injected clock, without asking the store about it', async () => {
    const [row] = await tokens(1, { expiresAt: 1_000 });
    let now = 999;
    const { store: watched } = counting(store);
    const watch = new CredentialWatch(watched, 1_000, () => now);
    const ended: EndReason[] = [];
    watch.watch(row!.id, 1_000, (reason) => ended.push(reason));
    await watch.sweep();
    assert.deepEqual(ended, []);
    now = 1_000;
    await watch.sweep();
    assert.deepEqual(ended, ['expired']);
  });

  test('a store that cannot answer ends nothing (new requests still fail closed at verify)', async () => {
    const [row] = await tokens(1);
    await store.revokeToken(row!.id, 5);
    const { store: broken, calls } = counting(store, true);
    const watch = new CredentialWatch(broken, 1_000, () => 0);
    const ended: EndReason[] = [];
    watch.watch(row!.id, null, (reason) => ended.push(reason));
    await watch.sweep();
    assert.equal(calls(), 1);
    assert.deepEqual(ended, []);
  });

  test('a listener that stopped watching is not called, and nothing watched means no query', async () => {
    const [row] = await tokens(1);
    const { store: watched, calls } = counting(store);
    const watch = new CredentialWatch(watched, 1_000, () => 0);
    const ended: EndReason[] = [];
    const stop = watch.watch(row!.id, null, (reason) => ended.push(reason));
    stop();
    await store.revokeToken(row!.id, 5);
    await watch.sweep();
    assert.equal(calls(), 0);
    assert.deepEqual(ended, []);
  });

  test('an event\'s revocation ends every listener of the token at once, once', () => {
    const watch = new CredentialWatch(store, 1_000, () => 0);
    const ended: string[] = [];
    watch.watch('tok_a', null, () => ended.push('first'));
    watch.watch('tok_a', null, () => ended.push('second'));
    watch.revoked(['tok_a', 'tok_unknown']);
    watch.revoked(['tok_a']);
    assert.deepEqual(ended, ['first', 'second']);
  });
});
