/**
 * postgres.auth: scram asks every login for SCRAM, so a name that is no identity cannot be told
 * from one with a wrong token (mock salt, refused at the proof with the same error); cleartext asks
 * every login for a password, as before SCRAM existed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CONNECTION, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';

async function login(g: PgGateway, user: string, password: string): Promise<{ asked: string | null; error?: any; ok?: boolean }> {
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user, password });
  const seen: { asked: string | null } = { asked: null };
  const connection = (c as any).connection;
  connection.once('authenticationSASL', () => (seen.asked ??= 'scram'));
  connection.once('authenticationCleartextPassword', () => (seen.asked ??= 'cleartext'));
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('select 1');
    return { ...seen, ok: true };
  } catch (error) {
    return { ...seen, error };
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('postgres.auth: scram', () => {
  let g: PgGateway;
  let alice: string;
  before(async () => {
    g = await startPgGateway({ postgres: { auth: 'scram' } });
    alice = await g.t.token({ connections: [CONNECTION], user: 'alice' });
  });
  after(async () => {
    await g?.close();
  });

  test('the owner logs in with SCRAM', async () => {
    const r = await login(g, 'alice', alice);
    assert.equal(r.asked, 'scram');
    assert.ok(r.ok, String(r.error));
  });

  test('an unknown name is asked for SCRAM too and refused at the proof exactly as a wrong token', async () => {
    const unknown = await login(g, 'no-such-identity', alice);
    const wrong = await login(g, 'alice', `${alice.slice(0, -1)}${alice.endsWith('A') ? 'B' : 'A'}`);
    assert.equal(unknown.asked, 'scram');
    assert.equal(wrong.asked, 'scram');
    assert.equal(unknown.error?.code, wrong.error?.code);
    assert.equal(unknown.error?.message, wrong.error?.message);
    assert.equal(unknown.error?.code, '28P01');
  });

  test('psql under an unknown name gets the same refusal', async () => {
    const run = await g.psql(alice, ['-At', '-c', 'select 1']); // the fixture's user name is "agent", no identity
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /unknown or malformed token/);
    assert.ok(!run.stderr.includes(alice));
  });
});

describe('postgres.auth: cleartext', () => {
  let g: PgGateway;
  let alice: string;
  before(async () => {
    g = await startPgGateway({ postgres: { auth: 'cleartext' } });
    alice = await g.t.token({ connections: [CONNECTION], user: 'alice' });
  });
  after(async () => {
    await g?.close();
  });

  test('a token with a verifier is still asked for in clear', async () => {
    const r = await login(g, 'alice', alice);
    assert.equal(r.asked, 'cleartext');
    assert.ok(r.ok, String(r.error));
  });
});
