/**
 * Every way the PostgreSQL adapter refuses a login or a statement is recorded exactly once, with
 * its code, and the session (where there is one) goes on: refusals at login (unknown database,
 * bad token, a replication connection), the fastpath function call, an Execute of a portal the
 * gateway never saw, and a statement policy denies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import pg from 'pg';
import { startPgGateway, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { passwordMessage, startupMessage } from '../../src/adapters/postgres/frontend-writer.ts';
import type { InteractionRow } from '../../src/store/types.ts';

/** A raw protocol client: sends bytes, collects whole backend frames. */
class RawClient {
  private buf = Buffer.alloc(0);
  readonly frames: { type: string; body: Buffer }[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 5) {
        const length = this.buf.readInt32BE(1);
        if (this.buf.length < 1 + length) break;
        this.frames.push({ type: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, 1 + length) });
        this.buf = this.buf.subarray(1 + length);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async login(port: number, token: string): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = new RawClient(socket);
    socket.write(startupMessage({ user: 'agent', database: CONNECTION }));
    await client.until('R');
    socket.write(passwordMessage(token));
    await client.until('Z');
    return client;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** Waits for the next frame of this type after those already seen; resolves with it. */
  async until(type: string, from = this.frames.length): Promise<{ type: string; body: Buffer }> {
    for (;;) {
      const found = this.frames.slice(from).find((f) => f.type === type);
      if (found) return found;
      if (this.socket.destroyed) throw new Error(`connection closed before a ${type} frame`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  close(): void {
    this.socket.end(serialize.end());
  }
}

/** The SQLSTATE field of an ErrorResponse body. */
function sqlstate(body: Buffer): string {
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const field = String.fromCharCode(body[pos]!);
    const end = body.indexOf(0, pos + 1);
    if (field === 'C') return body.toString('utf8', pos + 1, end);
    pos = end + 1;
  }
  return '';
}

describe('postgres adapter: refusals are recorded once, and the session goes on', () => {
  let g: PgGateway;
  let token: string;

  before(async () => {
    g = await startPgGateway({
      policyYaml: `
policy:
  rules:
    - name: no-drops
      action: deny
      match: { interactions: [sql.query] }
      when: '"drop" in request.sql.kinds'
      reason: dropping tables is not allowed through the gateway
    - name: allow-rest
      action: allow
`,
    });
    token = await g.token();
  });
  after(async () => g?.close());

  async function allRows(): Promise<InteractionRow[]> {
    const store = g.t.gateway.store;
    const sessions = await store.listSessions({ limit: 1000 });
    return (await Promise.all(sessions.map((s) => store.listInteractions(s.id)))).flat();
  }

  async function newRowsAfter<T>(action: () => Promise<T>): Promise<{ result: T; rows: InteractionRow[] }> {
    const before = new Set((await allRows()).map((r) => r.id));
    const result = await action();
    // recording a refusal finishes just after the client is told: wait on the store, bounded by count
    let rows: InteractionRow[] = [];
    for (let i = 0; i < 200; i++) {
      rows = (await allRows()).filter((r) => !before.has(r.id) && r.status !== 'open');
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return { result, rows };
  }

  async function loginError(config: Partial<pg.ClientConfig>): Promise<{ code: string }> {
    const c = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password: token, ...config });
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      return err as { code: string };
    }
    await c.end();
    throw new Error('login unexpectedly succeeded');
  }

  const logins: { name: string; config: Partial<pg.ClientConfig>; sqlstate: string; code: string }[] = [
    { name: 'an unknown database', config: { database: 'no-such-db' }, sqlstate: '3D000', code: 'unknown_connection' },
    { name: 'a made-up token', config: { password: `gth_${'z'.repeat(40)}` }, sqlstate: '28P01', code: 'auth_invalid' },
    { name: 'a replication connection', config: { replication: 'database' } as Partial<pg.ClientConfig>, sqlstate: '08P01', code: 'protocol_error' },
  ];
  for (const l of logins) {
    it(`login refused for ${l.name}: ${l.sqlstate}, recorded once as ${l.code}`, async () => {
      const { result, rows } = await newRowsAfter(() => loginError(l.config));
      assert.equal(result.code, l.sqlstate);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.errorCode, l.code);
    });
  }

  it('a fastpath function call is refused, recorded once, and the session goes on', async () => {
    const client = await RawClient.login(g.port, token);
    try {
      // FunctionCall: oid 1 (no such function matters: it is refused before it is sent), no formats, no args, text result
      const call = Buffer.alloc(1 + 4 + 4 + 2 + 2 + 2);
      call.write('F', 0);
      call.writeInt32BE(call.length - 1, 1);
      call.writeInt32BE(1, 5);
      const { result, rows } = await newRowsAfter(async () => {
        const from = client.frames.length;
        client.send(call);
        const error = await client.until('E', from);
        await client.until('Z', from);
        return error;
      });
      assert.equal(sqlstate(result.body), '08P01');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.errorCode, 'protocol_error');
      const from = client.frames.length;
      client.send(serialize.query('SELECT 1'));
      await client.until('C', from);
    } finally {
      client.close();
    }
  });

  it('an Execute of a portal the gateway never saw is refused, recorded once, and the session goes on', async () => {
    const client = await RawClient.login(g.port, token);
    try {
      const { result, rows } = await newRowsAfter(async () => {
        const from = client.frames.length;
        client.send(serialize.execute({ portal: 'never-bound' }), serialize.sync());
        const error = await client.until('E', from);
        await client.until('Z', from);
        return error;
      });
      assert.equal(sqlstate(result.body), '42704');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.errorCode, 'not_found');
      const from = client.frames.length;
      client.send(serialize.query('SELECT 1'));
      await client.until('C', from);
    } finally {
      client.close();
    }
  });

  it('a portal fetched in batches across Syncs inside a transaction keeps working (a driver cursor with a fetch size)', async () => {
    const client = await RawClient.login(g.port, token);
    try {
      let from = client.frames.length;
      client.send(serialize.query('BEGIN'));
      await client.until('Z', from);
      from = client.frames.length;
      client.send(
        serialize.parse({ text: 'SELECT g FROM generate_series(1, 5) g' }),
        serialize.bind({ portal: 'cursor' }),
        serialize.execute({ portal: 'cursor', rows: 2 }),
        serialize.sync(),
      );
      await client.until('s', from);
      await client.until('Z', from);
      from = client.frames.length;
      client.send(serialize.execute({ portal: 'cursor', rows: 2 }), serialize.sync());
      await client.until('Z', from);
      const next = client.frames.slice(from);
      assert.equal(next.filter((f) => f.type === 'D').length, 2, 'the next batch of rows came back');
      assert.equal(next.some((f) => f.type === 'E'), false, 'no error: the gateway still knew the portal');
    } finally {
      client.close();
    }
  });

  it('a denied statement is refused with 42501, recorded once, and the transaction state is the database’s', async () => {
    const c = await g.client(token);
    try {
      const { result, rows } = await newRowsAfter(() => c.query('DROP TABLE IF EXISTS whatever').then(() => null, (err: { code: string }) => err));
      assert.equal(result?.code, '42501');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.errorCode, 'policy_denied');
      assert.equal(rows[0]!.rule, 'no-drops');
      assert.deepEqual((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('a database error is recorded with its SQLSTATE as the upstream code, not as a gateway error', async () => {
    const c = await g.client(token);
    try {
      const { rows } = await newRowsAfter(() => c.query('SELECT * FROM no_such_table').catch(() => null));
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.errorCode, null);
      assert.equal(rows[0]!.upstreamCode, '42P01');
    } finally {
      await c.end();
    }
  });
});
