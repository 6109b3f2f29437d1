/**
 * LISTEN/NOTIFY through the gateway with a real PostgreSQL: a NOTIFY sent straight to the database
 * (never through the gateway) reaches a listening agent with its payload masked under the
 * profiles its connection's rules name, through the pg driver and psql; a payload that cannot be
 * masked arrives as a marker; a connection no masking rule covers gets it unchanged. The raw
 * payload never reaches the client, the recording or the logs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { startPgGateway, recordedSessions, type PgGateway } from './fixture.ts';

const EMAIL = 'grace.hopper@example.org';
const AWS = 'AKIAIOSFODNN7EXAMPLE';

const POLICY = `
policy:
  rules:
    - name: customers-masked
      match: { connections: [prod-db], interactions: [sql.query] }
      when: "'customers' in request.sql.tables"
      action: allow
      mask: customer-data
    - name: tiny-masked
      match: { connections: [tiny-db] }
      action: allow
      mask: tiny
    - name: allow-the-rest
      action: allow
masking:
  profiles:
    customer-data:
      entities: { email: redact, secret: redact }
    tiny:
      entities: { email: redact }
      maxScanBytes: 64
`;

describe('postgres adapter: NOTIFY payloads masked under the session\'s profiles', () => {
  let g: PgGateway;
  let token: string;
  let notifier: pg.Client;

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
  });
  after(() => g?.close());

  // the database's port is known only once it started: the other two connections are added through the API
  before(async () => {
    for (const name of ['plain-db', 'tiny-db']) {
      const r = await g.t.api('PUT', `/connections/${name}`, {
        type: 'postgres',
        upstream: `postgres://127.0.0.1:${g.db.port}/${g.db.database}?sslmode=disable`,
        credential: { type: 'basic', username: g.db.user, value: g.db.password },
      });
      assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.json));
    }
    token = await g.token(['prod-db', 'plain-db', 'tiny-db']);
    notifier = await g.direct();
  });

  /** A listening pg client on `database`, and the next notification it gets. */
  async function listen(database: string, channel: string): Promise<{ next: () => Promise<pg.Notification>; client: pg.Client }> {
    const client = await g.client(token, { database });
    const queue: pg.Notification[] = [];
    let wake: (() => void) | null = null;
    client.on('notification', (n) => {
      queue.push(n);
      wake?.();
    });
    await client.query(`LISTEN ${channel}`);
    return {
      client,
      next: async () => {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        return queue.shift()!;
      },
    };
  }

  test('the pg driver: secrets and emails in the payload are masked; channel, sender and the rest arrive as sent', async () => {
    const { next } = await listen('prod-db', 'jobs');
    const pid = (await notifier.query('select pg_backend_pid() as pid')).rows[0].pid;
    await notifier.query(`NOTIFY jobs, 'done for ${EMAIL}, key ${AWS} — ünïcødé 漢字 😀'`);
    const n = await next();
    assert.equal(n.channel, 'jobs');
    assert.equal(n.processId, pid);
    assert.equal(n.payload, 'done for [EMAIL], key [AWS_ACCESS_KEY] — ünïcødé 漢字 😀');
    // no masked value: the payload is untouched, byte for byte
    await notifier.query(`NOTIFY jobs, 'tab\there ''quoted'' \\ back'`);
    assert.equal((await next()).payload, "tab\there 'quoted' \\ back");
    await notifier.query(`NOTIFY jobs`);
    assert.equal((await next()).payload, '');
  });

  test('hostile payloads and channels: quoted channel names, many notifications in one commit, a secret at every position', async () => {
    const { next } = await listen('prod-db', '"Ch ,\ttab ü"');
    const payloads = [AWS, `${AWS}${EMAIL}`, `x${EMAIL}`, `${EMAIL}\n${AWS}`, `"${EMAIL}"`, `\\${AWS}\\`, 'x'.repeat(7000) + EMAIL];
    await notifier.query('begin');
    for (const p of payloads) await notifier.query('select pg_notify($1, $2)', ['Ch ,\ttab ü', p]);
    await notifier.query('commit');
    for (const p of payloads) {
      const n = await next();
      assert.equal(n.channel, 'Ch ,\ttab ü', 'the channel is the one the client listens on');
      const payload = n.payload ?? '';
      assert.ok(!payload.includes(AWS) && !payload.includes(EMAIL), `${p.slice(0, 40)} masked`);
      assert.ok(payload.length > 0);
    }
  });

  test('a payload the profile cannot mask arrives as a marker, never as it was', async () => {
    const { next } = await listen('tiny-db', 'jobs');
    await notifier.query(`NOTIFY jobs, '${'y'.repeat(100)} ${EMAIL}'`);
    assert.equal((await next()).payload, '[withheld: masking failed]');
    await notifier.query(`NOTIFY jobs, 'short ${EMAIL}'`);
    assert.equal((await next()).payload, 'short [EMAIL]');
  });

  test('a connection no masking rule covers gets the payload unchanged', async () => {
    const { next } = await listen('plain-db', 'jobs');
    await notifier.query(`NOTIFY jobs, 'mail ${EMAIL}'`);
    assert.equal((await next()).payload, `mail ${EMAIL}`);
  });

  test('psql prints the masked payload of a NOTIFY sent straight to the database', async () => {
    const directPsql = `${join(g.binDir, 'psql')} -X '${g.db.url}' -c "NOTIFY jobs, 'psql ${EMAIL} ${AWS}'"`;
    // PostgreSQL sends a pending notification at the latest before the next ReadyForQuery, and psql prints it after that command
    const r = await g.psql(token, ['-f', '-'], `LISTEN jobs;\n\\! ${directPsql}\nSELECT 1;\nSELECT 2;\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Asynchronous notification "jobs" with payload "psql \[EMAIL\] \[AWS_ACCESS_KEY\]" received from server process with PID \d+\./);
    assert.ok(!r.stdout.includes(EMAIL) && !r.stdout.includes(AWS));
  });

  test('the raw payloads reach neither the recording nor the logs', async () => {
    const sessions = JSON.stringify(await recordedSessions(g.t));
    const logs = g.t.logs.join('');
    for (const secret of [EMAIL, AWS]) {
      assert.ok(!sessions.includes(secret), `${secret} not recorded`);
      assert.ok(!logs.includes(secret), `${secret} not logged`);
    }
  });
});
