/**
 * Hostile rows and notifications on the coordination channel: anyone who can write to the database
 * can write an event, so a replica must skip what it cannot read, keep delivering what follows,
 * and never end the process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { openStore } from '../../src/store/index.ts';
import { PostgresCoordination } from '../../src/store/coordination-postgres.ts';
import type { CoordinationEvent } from '../../src/store/coordination.ts';
import type { Store } from '../../src/store/types.ts';

const HOUR = 3_600_000;
let server: PostgresServer;
let admin: pg.Pool;
let store: Store;
let publisher: PostgresCoordination;
let listener: PostgresCoordination;
const heard: CoordinationEvent[] = [];
const warnings: string[] = [];
let waiting: ((e: CoordinationEvent) => void) | null = null;

before(async () => {
  server = await startPostgres();
  admin = new pg.Pool({ connectionString: server.url, max: 2 });
  store = await openStore({ databaseUrl: server.url });
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  publisher = await PostgresCoordination.start(store, { heartbeatMs: HOUR, goneAfterMs: 30_000, pollMs: HOUR }, logger, 'left open');
  listener = await PostgresCoordination.start(store, { heartbeatMs: HOUR, goneAfterMs: 30_000, pollMs: HOUR }, logger, 'left open');
  listener.subscribe((event) => {
    heard.push(event);
    const w = waiting;
    waiting = null;
    w?.(event);
  });
});

after(async () => {
  await listener?.close();
  await publisher?.close();
  await store?.close();
  await admin?.end();
  await server?.stop();
});

let n = 0;
/** Writes a raw row and notifies, as an attacker with database access could. */
async function inject(type: string, payload: string, createdAt = 'now'): Promise<void> {
  const at = createdAt === 'now' ? '(extract(epoch from clock_timestamp()) * 1000)::bigint' : createdAt;
  await admin.query(`INSERT INTO coordination_events (id, created_at, origin, type, payload_json) VALUES ($1, ${at}, 'attacker', $2, $3)`, [`evt_attack_${n++}`, type, payload]);
  await admin.query("SELECT pg_notify('gatehouse_events', 'x')");
}

/** A genuine event after the hostile one arrives, and is the only thing heard since. */
async function stillDelivers(): Promise<void> {
  const before = heard.length;
  const arriving = new Promise<CoordinationEvent>((resolve) => (waiting = resolve));
  await publisher.publish({ type: 'connections.changed', name: `probe-${n}` });
  assert.deepEqual(await arriving, { type: 'connections.changed', name: `probe-${n}` });
  assert.equal(heard.length, before + 1, 'nothing hostile was delivered before the probe');
}

const HOSTILE: [string, string, string][] = [
  ['not JSON', 'tokens.revoked', '{"type":"tokens.revoked",'],
  ['JSON null', 'tokens.revoked', 'null'],
  ['a JSON string', 'tokens.revoked', '"tokens.revoked"'],
  ['an array', 'tokens.revoked', '[1,2,3]'],
  ['unknown type', 'users.deleted', '{"type":"users.deleted","name":"alice"}'],
  ['tokens.revoked without ids', 'tokens.revoked', '{"type":"tokens.revoked","reason":"x"}'],
  ['tokens.revoked with ids of the wrong type', 'tokens.revoked', '{"type":"tokens.revoked","tokenIds":"tok_1","reason":"x"}'],
  ['tokens.revoked with numbers for ids', 'tokens.revoked', '{"type":"tokens.revoked","tokenIds":[1,2],"reason":"x"}'],
  ['tokens.revoked with an empty id', 'tokens.revoked', '{"type":"tokens.revoked","tokenIds":[""],"reason":"x"}'],
  ['an extra field', 'connections.changed', '{"type":"connections.changed","name":"a","__proto__":{"polluted":true}}'],
  ['a prototype key', 'connections.changed', '{"type":"connections.changed","name":"a","constructor":{"prototype":{"x":1}}}'],
  ['a name of 10,000 characters', 'connections.changed', JSON.stringify({ type: 'connections.changed', name: 'n'.repeat(10_000) })],
  ['principal.disabled with an object id', 'principal.disabled', '{"type":"principal.disabled","principalId":{"$ne":null}}'],
  ['policy.reload with a huge requester', 'policy.reload', JSON.stringify({ type: 'policy.reload', requestedBy: 'x'.repeat(100_000) })],
  ['a type in odd case', 'Tokens.Revoked', '{"type":"Tokens.Revoked","tokenIds":["tok_1"],"reason":"x"}'],
  ['a duplicate type key', 'tokens.revoked', '{"type":"policy.reload","type":"users.deleted"}'],
  ['a deeply nested payload', 'policy.reload', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ['a NUL in the text', 'connections.changed', '{"type":"connections.changed","name":"a\\u0000b"}'],
];

// A hostile row that stopped delivery would hang a test: bounded, so it fails instead.
describe('hostile coordination events', { timeout: 30_000 }, () => {
  for (const [name, type, payload] of HOSTILE) {
    test(`${name}: skipped, and the next genuine event still arrives`, async () => {
      await inject(type, payload);
      await stillDelivers();
    });
  }

  test('an event dated far in the future does not hide later genuine events', async () => {
    await inject('connections.changed', '{"type":"connections.changed","name":"future"}', String(Date.now() + 365 * 86_400_000));
    // The future event is valid and delivered; what matters is that genuine ones still follow.
    await new Promise<void>((resolve) => {
      const check = () => (heard.some((e) => e.type === 'connections.changed' && e.name === 'future') ? resolve() : setImmediate(check));
      check();
    });
    await stillDelivers();
  });

  test('a flood of bare notifications only makes the replica read; nothing is delivered twice', async () => {
    const before = heard.length;
    await Promise.all(Array.from({ length: 200 }, () => admin.query("SELECT pg_notify('gatehouse_events', 'flood')")));
    await stillDelivers();
    assert.equal(heard.length, before + 1);
  });

  test('skipped events were reported without their content', () => {
    const lines = warnings.filter((l) => l.includes('skipped an event'));
    assert.ok(lines.length >= HOSTILE.length - 1);
    assert.ok(!lines.some((l) => l.includes('$ne') || l.includes('xxxxxxxx')), 'no payload in the log');
  });
});
