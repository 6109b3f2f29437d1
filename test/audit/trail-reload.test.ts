/** A policy reload goes on the trail as the gateway's own audit event, and changing it afterwards is caught. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { AuditTrail } from '../../src/audit/trail.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { counter, silent } from './trail-support.ts';

let dir: string;
let base: Store;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-trail-reload-'));
  base = await openStore({ sqlitePath: join(dir, 'gatehouse.db') });
});
after(async () => {
  await base?.close();
  await rm(dir, { recursive: true, force: true });
});

it('records each reload on the chain; an edited reload record fails verify at it', async () => {
  const trail = new AuditTrail(silent);
  const store = trail.wrap(base);
  await trail.start({ replicaId: 'rep_x', config: undefined, baseDir: dir, now: counter() });
  await trail.noteReload({ version: 2, rules: 5 }, 'rep_x');
  const [event] = await store.listAuditEvents({ limit: 5, action: 'policy.reloaded' });
  assert.equal(event?.actorKind, 'gateway');
  assert.deepEqual(event?.details, { version: 2, rules: 5 });
  const entries = await store.listLedger('local', 0, 10);
  assert.deepEqual(entries.map((e) => [e.kind, e.refId]), [['audit.event', event!.id]]);
  const clean = await trail.verify();
  assert.equal(clean.ok, true);
  assert.equal(clean.signaturesChecked, false, 'no key configured: said so');
  // Behind the store's back: the reload is said to have loaded other rules.
  const Database = (await import('better-sqlite3')).default;
  const raw = new Database(join(dir, 'gatehouse.db'));
  raw.prepare('UPDATE audit_events SET details_json = ? WHERE id = ?').run('{"version":2,"rules":1}', event!.id);
  raw.close();
  const report = await trail.verify();
  assert.deepEqual([report.firstBreak?.seq, report.firstBreak?.kind, report.firstBreak?.refId], [1, 'audit.event', event!.id]);
  await trail.stop();
});
