/**
 * Just-in-time access end to end on PostgreSQL: the `pg` driver as the agent, the `gatehouse` CLI
 * for the requester and the approver. Writes need a grant; a granted session writes; revoking the
 * grant (or its expiry, on a hand-moved clock) ends that live session, which the driver sees
 * terminated, and the next session's write is denied.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { ManualTime } from '../approvals/manual-time.ts';
import { ACCESS_YAML, WRITES_NEED_A_GRANT } from '../approvals/grants-fixtures.ts';

/** Resolves with the error the driver heard when the gateway ended its session. */
function terminated(client: pg.Client): Promise<any> {
  return new Promise((resolve) => {
    let heard: unknown = null;
    client.on('error', (err) => (heard ??= err));
    client.once('end', () => resolve(heard));
  });
}

describe('just-in-time access on PostgreSQL with the pg driver and the gatehouse CLI', () => {
  let g: PgGateway;
  let time: ManualTime;
  let cliHome: string;
  let ada: Person;
  let bob: Person;
  let adaAgent: string;

  before(async () => {
    time = new ManualTime(Date.now());
    cliHome = await mkdtemp(join(tmpdir(), 'gatehouse-access-cli-'));
    g = await startPgGateway({ policyYaml: WRITES_NEED_A_GRANT, extraYaml: ACCESS_YAML, approvals: { now: time.now, timers: time } });
    [ada, bob] = await Promise.all([personWithToken(g.t.gateway.store, 'ada', ['engineering']), personWithToken(g.t.gateway.store, 'bob', ['oncall'])]);
    adaAgent = await g.t.token({ user: 'ada', connections: ['prod-db'] });
    const direct = await g.direct();
    await direct.query('create table incidents (id int, note text)');
  });
  after(async () => {
    await g?.close();
    await rm(cliHome, { recursive: true, force: true });
  });

  function cli(token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', ...args],
        { env: { ...process.env, GATEHOUSE_URL: g.t.url, GATEHOUSE_TOKEN: token, XDG_CONFIG_HOME: cliHome } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  }

  /** ada asks through the CLI, bob approves through the CLI: returns the grant id. */
  async function grantThroughCli(reason: string): Promise<string> {
    const asked = await cli(ada.token, '--json', 'access', 'request', '--connection', 'prod-db', '--for', '1h', '--reason', reason);
    assert.equal(asked.code, 0, asked.stderr);
    const id = JSON.parse(asked.stdout).id as string;
    const approved = await cli(bob.token, 'approvals', 'approve', id, '--comment', 'go ahead');
    assert.equal(approved.code, 0, approved.stderr);
    const shown = await cli(ada.token, '--json', 'access', 'show', id);
    const view = JSON.parse(shown.stdout);
    assert.equal(view.status, 'active');
    return view.grant.id as string;
  }

  const denied = (err: any) => err.code === '42501' && /just-in-time grant/.test(err.message);

  test('granted through the CLI, the live session writes; revoked through the CLI, the driver sees its session terminated and a new one may not write', async () => {
    const c = await g.client(adaAgent);
    await assert.rejects(c.query("insert into incidents values (1, 'before')"), denied);
    assert.deepEqual((await c.query('select count(*)::int as n from incidents')).rows, [{ n: 0 }], 'reads need no grant');

    const grantId = await grantThroughCli('incident 4521');
    await c.query("insert into incidents values (2, 'with the grant')");
    const ended = terminated(c);
    const revoked = await cli(bob.token, 'access', 'revoke', grantId, '--reason', 'incident closed');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked/);
    const error = await ended;
    assert.equal(error?.code, '42501');
    assert.match(String(error?.message), new RegExp(`access grant ${grantId}.*revoked`));

    const next = await g.client(adaAgent);
    await assert.rejects(next.query("insert into incidents values (3, 'after')"), denied);
    const direct = await g.direct();
    assert.deepEqual((await direct.query('select id from incidents order by id')).rows, [{ id: 2 }], 'only the granted write ran');
    await next.end();

    const again = await cli(bob.token, 'access', 'revoke', grantId, '--reason', 'twice');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /\(conflict\)/);
  });

  test('a session that only read is not ended by the revocation: its decisions never relied on the grant', async () => {
    const grantId = await grantThroughCli('read-only check');
    const reader = await g.client(adaAgent);
    await reader.query('select 1');
    const writer = await g.client(adaAgent);
    await writer.query("insert into incidents values (10, 'writer')");
    const ended = terminated(writer);
    assert.equal((await cli(bob.token, 'access', 'revoke', grantId, '--reason', 'done')).code, 0);
    await ended;
    assert.deepEqual((await reader.query('select 2 as n')).rows, [{ n: 2 }]);
    await reader.end();
  });

  test('expiry (injected clock) ends the live session that relied on the grant, and the next write is denied', async () => {
    await grantThroughCli('expiry check');
    const c = await g.client(adaAgent);
    await c.query("insert into incidents values (20, 'before expiry')");
    const ended = terminated(c);
    time.advance(3_600_000);
    time.fire();
    const error = await ended;
    assert.equal(error?.code, '42501');
    assert.match(String(error?.message), /expired/);
    const next = await g.client(adaAgent);
    await assert.rejects(next.query("insert into incidents values (21, 'after expiry')"), denied);
    await next.end();
    await pollUntil(async () => ((await g.t.api('GET', '/audit/events?action=access.expired')).json.events as any[]).length > 0, 'the expiry is recorded');
  });

  test('access request --wait returns once another person approved; over the maximum the CLI refuses with the maximum named', async () => {
    const over = await cli(ada.token, 'access', 'request', '--connection', 'prod-db', '--for', '3h', '--reason', 'too long');
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /at most 2h.*\(invalid_argument\)/);

    const waiting = cli(ada.token, 'access', 'request', '--connection', 'prod-db', '--for', '30m', '--reason', 'waiting for bob', '--wait');
    let id: string | undefined;
    await pollUntil(async () => {
      id = ((await g.t.api('GET', '/access/requests?status=pending')).json.requests as any[]).find((r) => r.reason === 'waiting for bob')?.id;
      return id !== undefined;
    }, 'the waiting request exists');
    assert.equal((await cli(bob.token, 'approvals', 'approve', id!)).code, 0);
    const done = await waiting;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /: active/);
    assert.match(done.stdout, /revoke early with: gatehouse access revoke grt_/);
  });
});
