/**
 * Human approval attacked as an agent or a malicious insider would, through real gateways and real
 * clients (`pg`, bare protocol sessions, fetch as the OpenAI SDK speaks): a different request run
 * under an approval, messages queued behind a held statement, cancels aimed elsewhere or racing
 * the approval, approvals by the requester in disguise, stale approvers, hostile API input, secrets
 * in what approvers read, a token revoked or a person disabled while a statement waits, and
 * just-in-time grants abused. The clock is moved by hand: no case waits on wall time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { startPgGateway, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { personWithToken, updatePrincipal, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { rawSession, sendCancel, type RawMessage } from '../support/pg-raw.ts';
import { ManualTime } from '../approvals/manual-time.ts';
import { Credentials, toPrincipal } from '../../src/identity/credentials.ts';

const POLICY = `
policy:
  rules:
    - name: deletes-need-a-dba
      match: { connections: [${CONNECTION}], interactions: [sql.query] }
      when: "'delete' in request.sql.kinds"
      action: approve
      approvers: [dba]
      timeout: 15m
    - name: hold-chat
      match: { connections: [openai] }
      action: approve
      approvers: [oncall]
      wait: 1m
      timeout: 15m
    - name: two-person
      match: { connections: [other] }
      action: approve
      approvers: [oncall]
      required: 2
      wait: 1m
      timeout: 15m
    - name: allow-the-rest
      action: allow
`;

const ROLES = `
identity:
  roles:
    - group: dba
      role: approver
    - group: oncall
      role: approver
    - group: ic
      role: approver
    - group: engineering
      role: user
      connections: [${CONNECTION}, openai, other]
approvals:
  breakGlassGroups: [ic]
  access:
    approvers: [dba]
`;

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';

describe('approvals under attack', () => {
  let g: PgGateway;
  let time: ManualTime;
  let bob: Person;
  let carol: Person;
  let olga: Person;
  let oscar: Person;
  let ivy: Person;
  let adaToken: string;
  let direct: pg.Client;

  before(async () => {
    time = new ManualTime(Date.now());
    g = await startPgGateway({ policyYaml: POLICY, extraYaml: ROLES, approvals: { now: time.now, timers: time } });
    const store = g.t.gateway.store;
    [bob, carol, olga, oscar, ivy] = await Promise.all([
      personWithToken(store, 'bob', ['dba']),
      personWithToken(store, 'carol', ['dba']),
      personWithToken(store, 'olga', ['oncall', 'engineering']),
      personWithToken(store, 'oscar', ['oncall']),
      personWithToken(store, 'ivy', ['ic', 'engineering']),
    ]);
    adaToken = await g.t.token({ user: 'ada', groups: ['engineering'], connections: [CONNECTION, 'openai', 'other'] });
    direct = await g.direct();
    await direct.query('create table orders (id int primary key, note text)');
  });
  after(async () => {
    await g?.close();
  });

  const reset = async (...ids: number[]) => {
    await direct.query('delete from orders');
    for (const id of ids) await direct.query('insert into orders values ($1, $2)', [id, `order ${id}`]);
  };
  const ids = async () => (await direct.query('select id from orders order by id')).rows.map((r) => r.id as number);
  const approval = async (id: string) => (await g.t.api('GET', `/approvals/${id}`)).json;
  const vote = (who: Person | string, id: string, choice: 'approve' | 'deny', body: unknown = choice === 'deny' ? { reason: 'no' } : {}) =>
    fetch(`${g.t.url}/api/v1/approvals/${encodeURIComponent(id)}/${choice}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${typeof who === 'string' ? who : who.token}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as any }));

  /** A pg client of ada's whose notices name the approvals its statements wait for. */
  async function client(token = adaToken): Promise<{ c: pg.Client; held: (n?: number) => Promise<string>; notices: { message?: string }[] }> {
    const c = await g.client(token);
    const notices: { message?: string }[] = [];
    let wake = () => {};
    c.on('notice', (n) => {
      notices.push(n);
      wake();
    });
    const held = async (n = 1) => {
      while (notices.length < n) await new Promise<void>((r) => (wake = r));
      const id = /approval (apr_\w+) is pending/.exec(notices[n - 1]!.message ?? '')?.[1];
      assert.ok(id, `the notice names the approval: ${notices[n - 1]!.message}`);
      return id;
    };
    return { c, held, notices };
  }
  const settle = <T>(p: Promise<T>) => p.then((value) => ({ value, error: null as any }), (error) => ({ value: null as T | null, error }));

  // ── a different request under an approval ─────────────────────────────────────────────

  test('SQL changed by whitespace, a comment, case or a second statement after ";" never joins the approval of the statement held first', async () => {
    await reset(1, 2);
    const first = await client();
    const original = 'delete from orders where id = 1';
    const run = settle(first.c.query(original));
    const id = await first.held();
    const variants = [
      'delete from orders where id = 1 ',
      'delete  from orders where id = 1',
      'DELETE FROM orders WHERE id = 1',
      'delete from orders where id = 1 -- ok',
      '/* ok */ delete from orders where id = 1',
      'delete from orders where id = 1; delete from orders',
      'delete from orders where id = 1;',
    ];
    const others: { c: pg.Client; run: Promise<{ error: any }>; id: string }[] = [];
    for (const sql of variants) {
      const other = await client();
      const waiting = settle(other.c.query(sql));
      others.push({ c: other.c, run: waiting, id: await other.held() });
    }
    for (const [i, other] of others.entries()) assert.notEqual(other.id, id, `variant ${JSON.stringify(variants[i])} has its own approval`);
    // The control: the same text, byte for byte, waits on the same approval (so this test can fail).
    const same = await client();
    const sameRun = settle(same.c.query(original));
    assert.equal(await same.held(), id);

    assert.equal((await vote(bob, id, 'approve')).status, 200);
    // One of the two identical statements ran under it; the other found it used and asks anew.
    await pollUntil(() => first.notices.length + same.notices.length === 3, 'the second identical statement asks anew');
    const loser = first.notices.length === 2 ? first : same;
    const again = await loser.held(2);
    assert.notEqual(again, id);
    for (const other of others) assert.equal((await vote(bob, other.id, 'deny')).status, 200);
    assert.equal((await vote(bob, again, 'deny')).status, 200);
    for (const other of others) assert.match((await other.run).error?.detail ?? '', /approval_denied/);
    const outcomes = [await run, await sameRun];
    assert.equal(outcomes.filter((o) => o.error === null).length, 1, 'exactly one ran');
    assert.equal(outcomes.filter((o) => /approval_denied/.test(o.error?.detail ?? '')).length, 1);
    assert.deepEqual(await ids(), [2], 'only the approved statement ran, once');
  });

  test('the same statement with other bind parameters (extended protocol) never joins the approval of the first', async () => {
    await reset(1, 2, 3);
    const first = await client();
    const run = settle(first.c.query({ text: 'delete from orders where id = $1', values: [1] }));
    const id = await first.held();
    const other = await client();
    const otherRun = settle(other.c.query({ text: 'delete from orders where id = $1', values: [2] }));
    const otherId = await other.held();
    assert.notEqual(otherId, id, 'the parameters are part of what was approved');
    const nullParam = await client();
    const nullRun = settle(nullParam.c.query({ text: 'delete from orders where id = $1 or $2::text is null', values: [3, null] }));
    const textNull = await client();
    const textNullRun = settle(textNull.c.query({ text: 'delete from orders where id = $1 or $2::text is null', values: [3, 'null'] }));
    assert.notEqual(await nullParam.held(), await textNull.held(), 'a NULL parameter is not the text "null"');

    assert.equal((await vote(bob, id, 'approve')).status, 200);
    assert.equal((await run).error, null);
    assert.equal((await vote(bob, otherId, 'deny')).status, 200);
    assert.match((await otherRun).error?.detail ?? '', /approval_denied/);
    assert.equal((await vote(bob, await nullParam.held(), 'deny')).status, 200);
    assert.equal((await vote(bob, await textNull.held(), 'deny')).status, 200);
    await nullRun;
    await textNullRun;
    assert.deepEqual(await ids(), [2, 3]);
  });

  /** The approval a bare protocol session's first held statement waits on. */
  async function heldOnRaw(messages: Buffer[]): Promise<{ id: string; close: () => void }> {
    const raw = await rawSession(g.port, adaToken, CONNECTION);
    raw.send(Buffer.concat(messages));
    return { id: /approval (apr_\w+)/.exec((await raw.until('notice')).message)![1]!, close: raw.close };
  }
  const int4 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const extended = (sql: string, values: (string | Buffer | null)[], types: number[] = []) => [
    serialize.parse({ text: sql, types }),
    serialize.bind({ values }),
    serialize.execute({}),
    serialize.sync(),
  ];

  test('look-alikes the draft abridges never share an approval: binary parameters of one length, a text parameter reading "[binary 4 bytes]", statements or parameters differing past 64 KiB, other declared types', async () => {
    await reset(1, 2);
    const pad = `delete from orders where id = 1 -- ${'x'.repeat(70_000)}\n`;
    const long = 'y'.repeat(70_000);
    const pairs: [string, Buffer[], Buffer[]][] = [
      ['binary parameters', extended('delete from orders where id = $1', [int4(1)], [23]), extended('delete from orders where id = $1', [int4(2)], [23])],
      ['text that reads like a binary one', extended('delete from orders where note = $1', [Buffer.from('abcd')]), extended('delete from orders where note = $1', ['[binary 4 bytes]'])],
      ['SQL past 64 KiB', [serialize.query(pad)], [serialize.query(`${pad} or true`)]],
      ['a parameter past 64 KiB', extended('delete from orders where note = $1', [`${long}1`]), extended('delete from orders where note = $1', [`${long}2`])],
      ['declared types', extended('delete from orders where id = $1::int', ['1'], [25]), extended('delete from orders where id = $1::int', ['1'], [23])],
    ];
    const held: { id: string; close: () => void }[] = [];
    for (const [what, a, b] of pairs) {
      const first = await heldOnRaw(a);
      const second = await heldOnRaw(b);
      held.push(first, second);
      assert.notEqual(second.id, first.id, what);
    }
    // The control: byte for byte the same statement joins the approval (so this test can fail).
    const same = await heldOnRaw(extended('delete from orders where id = $1', [int4(1)], [23]));
    held.push(same);
    assert.equal(same.id, held[0]!.id);
    for (const h of held) h.close();
    for (const h of held) await pollUntil(async () => (await approval(h.id)).status === 'withdrawn', 'a client that left withdraws its approval');
    assert.deepEqual(await ids(), [1, 2]);
  });

  test('behind a held Execute, the client closes its portal and binds another delete: the first runs as approved, the second waits for its own approval', async () => {
    await reset(1, 2, 3);
    const raw = await rawSession(g.port, adaToken, CONNECTION);
    raw.send(
      Buffer.concat([
        serialize.parse({ name: 's', text: 'delete from orders where id = $1' }),
        serialize.bind({ statement: 's', portal: 'p', values: ['1'] }),
        serialize.execute({ portal: 'p' }),
        // queued behind the held Execute: redefine the portal and the statement's name
        serialize.close({ type: 'P', name: 'p' }),
        serialize.close({ type: 'S', name: 's' }),
        serialize.parse({ name: 's', text: 'delete from orders' }),
        serialize.bind({ statement: 's', portal: 'p', values: [] }),
        serialize.execute({ portal: 'p' }),
        serialize.sync(),
      ]),
    );
    const first = /approval (apr_\w+)/.exec((await raw.until('notice')).message)![1]!;
    assert.equal((await approval(first)).summary.sql, 'delete from orders where id = $1');
    assert.equal((await vote(bob, first, 'approve')).status, 200);
    const second = /approval (apr_\w+)/.exec((await raw.until('notice')).message)![1]!;
    assert.notEqual(second, first);
    assert.equal((await approval(second)).summary.sql, 'delete from orders');
    assert.equal((await approval(first)).status, 'used');
    assert.equal((await vote(bob, second, 'deny')).status, 200);
    assert.equal((await raw.until('commandComplete')).text, 'DELETE 1');
    assert.match((await raw.until('error')).detail, /approval_denied/);
    assert.equal((await raw.until('readyForQuery')).status, 'I');
    // The batch up to Sync is one implicit transaction: the refused Execute in it rolls the approved delete back, as PostgreSQL's own error would.
    assert.deepEqual(await ids(), [1, 2, 3], 'the redefined portal never ran');
    raw.close();
  });

  test('a held Execute denied: Parse of the same name, Bind and Execute pipelined behind it before Sync are skipped, as PostgreSQL skips after an error', async () => {
    await reset(1, 2);
    const raw = await rawSession(g.port, adaToken, CONNECTION);
    raw.send(
      Buffer.concat([
        serialize.parse({ text: 'delete from orders where id = $1' }),
        serialize.bind({ values: ['1'] }),
        serialize.execute({}),
        serialize.parse({ text: "update orders set note = 'pwned'" }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    const id = /approval (apr_\w+)/.exec((await raw.until('notice')).message)![1]!;
    assert.equal((await vote(bob, id, 'deny')).status, 200);
    assert.match((await raw.until('error')).detail, /approval_denied/);
    assert.equal((await raw.until('readyForQuery')).status, 'I');
    assert.ok(!raw.seen.some((m) => m.name === 'commandComplete'), 'nothing behind the denied Execute ran');
    assert.deepEqual((await direct.query('select note from orders order by id')).rows, [{ note: 'order 1' }, { note: 'order 2' }]);
    raw.close();
  });

  // ── cancels ───────────────────────────────────────────────────────────────────────────

  test("a CancelRequest with another session's key, or this session's id with a wrong secret, withdraws nothing; a flood of them neither", async () => {
    await reset(1);
    const victim = await client();
    const run = settle(victim.c.query('delete from orders where id = 1'));
    const id = await victim.held();
    const attacker = await g.client(adaToken);
    await sendCancel(g.port, (attacker as any).processID, (attacker as any).secretKey);
    const pid = (victim.c as any).processID as number;
    const secret = (victim.c as any).secretKey as number;
    const wrong = [secret ^ 1, 0, -1, secret + 1];
    for (let i = 0; i < 40; i++) await sendCancel(g.port, pid, wrong[i % wrong.length]!);
    for (let i = 0; i < 10; i++) await sendCancel(g.port, (Math.random() * 0x7fffffff) | 0, secret);
    assert.equal((await approval(id)).status, 'pending', 'still waiting');
    assert.deepEqual((await attacker.query('select 1 as one')).rows, [{ one: 1 }], 'the attacker session was not hurt by its own cancel');
    assert.equal((await vote(bob, id, 'approve')).status, 200);
    assert.equal((await run).value?.rowCount, 1);
    assert.deepEqual(await ids(), []);
    assert.equal((await approval(id)).status, 'used');
  });

  test('a cancel racing the approval: the statement either ran once under a used approval, or never ran under a withdrawn one', async () => {
    for (let round = 0; round < 3; round++) {
      await reset(1);
      const { c, held } = await client();
      const run = settle(c.query('delete from orders where id = 1'));
      const id = await held();
      const [decided] = await Promise.all([vote(bob, id, 'approve'), sendCancel(g.port, (c as any).processID, (c as any).secretKey)]);
      const { error } = await run;
      const status = (await approval(id)).status;
      const left = await ids();
      if (status === 'used') {
        assert.equal(decided.status, 200);
        // Cancelled as it started: the database was told, so it ran or was cancelled by PostgreSQL itself.
        assert.ok(error === null ? left.length === 0 : error.code === '57014', `ran once or cancelled by the database (${error?.code})`);
      } else {
        assert.equal(status, 'withdrawn');
        assert.match(error?.detail ?? '', /approval_withdrawn/);
        assert.deepEqual(left, [1], 'a withdrawn approval never ran');
        // The approver hears it: refused, or (the vote landing just before the withdrawal) answered with the approval withdrawn.
        assert.ok(decided.status === 409 || (decided.status === 200 && decided.json.status === 'withdrawn'), `${decided.status} ${decided.json.status}`);
      }
      assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }], 'the session goes on');
    }
  });

  // ── identity while a statement waits ──────────────────────────────────────────────────

  test('the token revoked while its statement waits: the approval is withdrawn, the session ends, and a late approval runs nothing', async () => {
    await reset(1);
    const issued = await g.t.api('POST', '/tokens', { connections: [CONNECTION], for: { user: 'ada', groups: ['engineering'] }, name: 'doomed' });
    assert.equal(issued.status, 201);
    const { c, held } = await client(issued.json.token);
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    assert.equal((await g.t.api('DELETE', `/tokens/${issued.json.id}`)).status < 300, true);
    const { error } = await run;
    assert.ok(error, 'the statement failed');
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'the approval withdrawn');
    const late = await vote(bob, id, 'approve');
    assert.equal(late.status, 409);
    assert.deepEqual(await ids(), [1]);
  });

  test('the requester disabled while the statement waits: withdrawn, never runs, and cannot be approved after', async () => {
    await reset(1);
    const token = await g.t.token({ user: 'eve', groups: ['engineering'], connections: [CONNECTION] });
    const { c, held } = await client(token);
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    assert.equal((await g.t.api('POST', '/users/eve/disable', {})).status, 200);
    assert.ok((await run).error, 'the statement failed');
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'the approval withdrawn');
    assert.equal((await vote(bob, id, 'approve')).status, 409);
    assert.deepEqual(await ids(), [1]);
  });

  // ── who may approve ───────────────────────────────────────────────────────────────────

  test("an approver's group removed after the request: the approver decides nothing; the same person under a second API token counts once", async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    const dave = await personWithToken(g.t.gateway.store, 'dave', ['dba']);
    updatePrincipal(`${g.t.dir}/gatehouse.db`, dave.principal.id, { groups: ['engineering'] });
    const refused = await vote(dave, id, 'approve');
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, 'forbidden_role');
    assert.equal((await approval(id)).votes.length, 0);
    assert.equal((await vote(bob, id, 'deny', { reason: 'cleanup later' })).status, 200);
    assert.match((await run).error?.detail ?? '', /approval_denied/);
  });

  test('2-of-2: one person approving twice under two API tokens counts once; the request waits for a second person', async () => {
    const credentials = new Credentials(g.t.gateway.store, { defaultTtlMs: 3_600_000, maxTtlMs: 3_600_000, cacheTtlMs: 0, maxTtlForGroups: () => null });
    const second = await credentials.issue({ principal: toPrincipal(olga.principal), kind: 'admin', name: 'olga laptop', connections: null, ttlMs: 3_600_000 });
    const call = chat('other', adaToken, 'move the money [two-tokens]');
    const id = await pendingWith('two-tokens');
    assert.equal((await vote(olga, id, 'approve')).status, 200);
    const twice = await vote(second.secret, id, 'approve');
    assert.equal(twice.status, 409);
    assert.match(twice.json.error.message, /already voted/);
    assert.equal((await approval(id)).status, 'pending');
    assert.equal((await vote(oscar, id, 'approve')).status, 200);
    assert.equal((await call).status, 200);
    assert.equal((await approval(id)).status, 'used');
  });

  test("break-glass: one member approves alone, recorded as such and logged at warn; never for the member's own request", async () => {
    const call = chat('openai', adaToken, 'page everyone [break-glass]');
    const id = await pendingWith('break-glass');
    assert.equal((await vote(ivy, id, 'approve')).status, 200);
    assert.equal((await call).status, 200);
    const after = await approval(id);
    assert.deepEqual(after.votes.map((v: any) => [v.approver, v.breakGlass]), [['ivy', true]]);
    assert.ok(g.t.logs.some((line) => line.includes('break-glass approval') && line.includes(id)));

    const ivyAgent = await g.t.token({ user: 'ivy', groups: ['ic', 'engineering'], connections: ['openai'] });
    const own = chat('openai', ivyAgent, 'let me in [break-glass-self]');
    const ownId = await pendingWith('break-glass-self');
    const self = await vote(ivy, ownId, 'approve');
    assert.equal(self.status, 403);
    assert.match(self.json.error.message, /own request/);
    assert.equal((await vote(olga, ownId, 'deny', { reason: 'no' })).status, 200);
    assert.equal((await own).status, 403);
  });

  test('a service account owned by an approver: its owner cannot approve its requests (their own request under another name)', async () => {
    const created = await g.t.api('POST', '/service-accounts', { name: 'olga-bot', owner: 'olga', connections: ['openai'], expires: '7d', groups: ['engineering'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const exchanged = (await (
      await fetch(`${g.t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${created.json.secret}`, 'content-type': 'application/json' }, body: '{}' })
    ).json()) as any;
    const call = chat('openai', exchanged.token, 'ship it [owned-bot]');
    const id = await pendingWith('owned-bot');
    const own = await vote(olga, id, 'approve');
    assert.equal(own.status, 403, JSON.stringify(own.json));
    assert.match(own.json.error.message, /own/);
    assert.equal((await approval(id)).votes.length, 0);
    assert.equal((await vote(oscar, id, 'approve')).status, 200, 'another approver may');
    assert.equal((await call).status, 200);
  });

  test('approving after the expiry on a clock nobody swept: 409 expired, and the request never runs', async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    time.advance(15 * 60_000);
    const late = await vote(bob, id, 'approve');
    assert.equal(late.status, 409);
    assert.match(late.json.error.message, /expired/);
    time.fire();
    assert.match((await run).error?.detail ?? '', /approval_expired/);
    assert.deepEqual(await ids(), [1]);
  });

  // ── the HTTP side: retries ────────────────────────────────────────────────────────────

  /** A chat completion as the OpenAI SDK sends it; resolves with status and body. */
  function chat(connection: string, token: string, content: string, extra: Record<string, unknown> = {}, init: { query?: string; signal?: AbortSignal } = {}) {
    return fetch(`${g.t.url}/proxy/${connection}/v1/chat/completions${init.query ?? ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content }], ...extra }),
      ...(init.signal ? { signal: init.signal } : {}),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as any }));
  }

  async function pendingWith(marker: string, not: readonly string[] = []): Promise<string> {
    let id: string | undefined;
    await pollUntil(async () => {
      const { json } = await g.t.api('GET', '/approvals?status=pending');
      id = (json.approvals as any[]).find((a) => String(a.summary.prompt ?? '').includes(marker) && !not.includes(a.id))?.id;
      return id !== undefined;
    }, `a pending approval for ${marker}`);
    return id!;
  }

  /**
   * Moves the hand-driven clock past `wait` and wakes held requests until `call` answers: a request
   * still being admitted when the clock moved schedules its wake-up after, so wake-ups repeat.
   */
  async function released<T>(call: Promise<T>): Promise<T> {
    let done = false;
    const watched = call.finally(() => (done = true));
    time.advance(60_000);
    for (let i = 0; i < 400 && !done; i++) {
      time.fire();
      await new Promise((r) => setTimeout(r, 10));
    }
    return watched;
  }

  /** A request left waiting past `wait`: the client hears approval_required naming the approval. */
  async function heldThenReleased(call: Promise<{ status: number; json: any }>, marker: string, not: readonly string[] = []): Promise<string> {
    const id = await pendingWith(marker, not);
    const answer = await released(call);
    assert.equal(answer.status, 403);
    assert.equal(answer.json.error.code, 'approval_required');
    assert.equal(answer.json.error.gatehouse?.approvalId ?? answer.json.error.details?.approvalId ?? id, id);
    return id;
  }

  test('a retry after approval runs once; the same prompt with another model, tools, temperature, query string or agent does not run under it', async () => {
    const id = await heldThenReleased(chat('openai', adaToken, 'wipe staging [retry]'), 'retry');
    assert.equal((await vote(olga, id, 'approve')).status, 200);
    const changed: [string, Promise<{ status: number; json: any }>][] = [
      ['model', chat('openai', adaToken, 'wipe staging [retry]', { model: 'demo-2' })],
      ['tools', chat('openai', adaToken, 'wipe staging [retry]', { tools: [{ type: 'function', function: { name: 'rm_rf', parameters: { type: 'object' } } }] })],
      ['temperature', chat('openai', adaToken, 'wipe staging [retry]', { temperature: 2 })],
      ['query string', chat('openai', adaToken, 'wipe staging [retry]', {}, { query: '?api-version=1' })],
      ['prompt case', chat('openai', adaToken, 'Wipe staging [retry]')],
    ];
    const otherAgent = await g.t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'ada', groups: ['engineering'] }, name: 'another-agent' });
    changed.push(['agent', chat('openai', otherAgent.json.token, 'wipe staging [retry]')]);
    const carlToken = await g.t.token({ user: 'carl', groups: ['engineering'], connections: ['openai'] });
    changed.push(['person', chat('openai', carlToken, 'wipe staging [retry]')]);
    // each changed request waits on an approval of its own
    await pollUntil(async () => (await g.t.api('GET', '/approvals?status=pending')).json.approvals.filter((a: any) => String(a.summary.prompt).includes('[retry]')).length === changed.length, 'one pending approval per changed request');
    assert.equal((await approval(id)).status, 'approved', 'none of them used the approval');
    const answers = await released(Promise.all(changed.map(([, call]) => call)));
    for (const [i, [what]] of changed.entries()) assert.equal(answers[i]!.json.error?.code, 'approval_required', what);

    const retried = await chat('openai', adaToken, 'wipe staging [retry]');
    assert.equal(retried.status, 200);
    assert.equal((await approval(id)).status, 'used');
    const before = ((await g.t.api('GET', '/approvals?status=pending')).json.approvals as any[]).map((a) => a.id as string);
    const third = chat('openai', adaToken, 'wipe staging [retry]');
    const next = await heldThenReleased(third, 'retry', before);
    assert.notEqual(next, id, 'used once: the same request again asks anew');
  });

  test('a body whose numbers do not survive parsing, or that names a key twice, can never run under an approval given for its look-alike', async () => {
    const body = (temperature: string) =>
      fetch(`${g.t.url}/proxy/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adaToken}`, 'content-type': 'application/json' },
        body: `{"model":"demo","temperature":${temperature},"messages":[{"role":"user","content":"bulk mail [numbers]"}]}`,
      }).then(async (res) => ({ status: res.status, json: (await res.json()) as any }));
    const id = await heldThenReleased(body('0.1000000000000000000001'), 'numbers');
    assert.equal((await vote(olga, id, 'approve')).status, 200);
    const retry = body('0.1000000000000000000002');
    await pollUntil(async () => (await g.t.api('GET', '/approvals?status=pending')).json.approvals.some((a: any) => String(a.summary.prompt).includes('[numbers]')), 'the look-alike asks anew');
    assert.equal((await released(retry)).json.error.code, 'approval_required');
    assert.equal((await approval(id)).status, 'approved', 'not used by the look-alike');

    const dup = await fetch(`${g.t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adaToken}`, 'content-type': 'application/json' },
      body: '{"model":"demo","messages":[{"role":"user","content":"hi [dup]"}],"messages":[{"role":"user","content":"rm -rf /"}]}',
    });
    assert.equal(dup.status, 400);
    assert.equal(((await dup.json()) as any).error.code, 'bad_request');
  });

  // ── what approvers, requesters and notices read ───────────────────────────────────────

  test('a secret in the SQL or the prompt never shows in the approval summary, the notice, or the audit trail', async () => {
    await reset(1);
    const url = 'postgres://admin:Sup3rS3cretPw@db.internal:5432/prod';
    const { c, held, notices } = await client();
    const run = settle(c.query(`delete from orders where note = '${AWS_KEY}' or note = '${url}'`));
    const id = await held();
    const call = chat('openai', adaToken, `deploy with ${AWS_KEY} [secret-prompt]`);
    const chatId = await pendingWith('secret-prompt');
    for (const which of [id, chatId]) {
      const shown = JSON.stringify(await approval(which));
      assert.ok(!shown.includes(AWS_KEY), `approval ${which} shows no AWS key`);
      assert.ok(!shown.includes('Sup3rS3cretPw'), `approval ${which} shows no password`);
      const listed = JSON.stringify((await g.t.api('GET', '/approvals')).json);
      assert.ok(!listed.includes(AWS_KEY) && !listed.includes('Sup3rS3cretPw'));
      const trail = JSON.stringify((await g.t.api('GET', `/audit?target=${which}`)).json);
      assert.ok(!trail.includes(AWS_KEY) && !trail.includes('Sup3rS3cretPw'), 'the audit trail shows neither');
    }
    assert.match(String((await approval(id)).summary.sql), /delete from orders where note = /);
    assert.ok(!JSON.stringify(notices).includes(AWS_KEY));
    assert.ok(!g.t.logs.some((line) => line.includes(AWS_KEY) || line.includes('Sup3rS3cretPw')), 'nor the logs');
    assert.equal((await vote(bob, id, 'deny', { reason: `not with ${AWS_KEY}` })).status, 200);
    assert.equal((await vote(olga, chatId, 'deny', { reason: 'no' })).status, 200);
    await run;
    await call;
  });

  test("a plain user lists only their own approvals; another person's reads as missing, and cannot be decided", async () => {
    const call = chat('openai', adaToken, 'rotate [private]');
    const id = await pendingWith('private');
    const carlToken = await g.t.token({ user: 'carl', groups: ['engineering'], connections: ['openai'] });
    const carlApi = await personWithToken(g.t.gateway.store, 'carl-api', ['engineering']);
    const listed = await g.t.api('GET', '/approvals', undefined, carlApi.token);
    assert.equal(listed.status, 200);
    assert.ok(!(listed.json.approvals as any[]).some((a) => a.id === id), 'not listed');
    assert.equal((await g.t.api('GET', `/approvals/${id}`, undefined, carlApi.token)).status, 404);
    assert.equal((await vote(carlApi, id, 'approve')).status, 403);
    assert.equal((await vote(carlApi, id, 'deny')).status, 403);
    // An agent token (gth_) is no API token at all.
    assert.equal((await vote(carlToken, id, 'approve')).status, 401);
    assert.equal((await vote(olga, id, 'deny', { reason: 'no' })).status, 200);
    await call;
  });

  test('hostile ids and bodies: traversal, unicode, huge, wrong types, duplicate keys, extra fields and control characters are refused cleanly, and nothing is decided', async () => {
    const call = chat('openai', adaToken, 'drop it [hostile-input]');
    const id = await pendingWith('hostile-input');
    const ids = ['..%2Ftokens', '..%2F..%2Ftokens', `${id}%2F..%2F${id}`, 'apr_\u202eevil', 'apr_%00', 'x'.repeat(201), `${id} `, id.toUpperCase(), '%F0%9F%92%A3'];
    for (const bad of ids) {
      const res = await fetch(`${g.t.url}/api/v1/approvals/${bad}/approve`, { method: 'POST', headers: { authorization: `Bearer ${olga.token}`, 'content-type': 'application/json' }, body: '{}' });
      assert.ok([400, 404, 414].includes(res.status), `${JSON.stringify(bad)} → ${res.status}`);
    }
    const bodies: [unknown, number][] = [
      [{ comment: 5 }, 400],
      [{ comment: ['ok'] }, 400],
      [{ comment: 'ok', breakGlass: true }, 400],
      [{ comment: 'ok\u001b[2J' }, 400],
      [{ comment: 'ok\u202e' }, 400],
      [{ comment: 'x'.repeat(2001) }, 400],
      ['{"comment":"a","comment":"b"', 400],
      ['not json', 400],
      ['[]', 400],
    ];
    for (const [body, status] of bodies) assert.equal((await vote(olga, id, 'approve', body)).status, status, JSON.stringify(body));
    for (const body of [{}, { reason: '' }, { reason: 7 }, { comment: 'no' }]) assert.equal((await vote(olga, id, 'deny', body)).status, 400, JSON.stringify(body));
    assert.equal((await approval(id)).votes.length, 0, 'no vote counted');
    assert.equal((await approval(id)).status, 'pending');
    assert.equal((await vote(olga, id, 'deny', { reason: 'multi\nline\treason is fine' })).status, 200);
    assert.equal((await call).json.error.code, 'approval_denied');
  });

  test('a client that disconnects withdraws its request; an approval given after can never run it, nor a retry of it', async () => {
    const abort = new AbortController();
    const call = chat('openai', adaToken, 'delete prod [leaves]', {}, { signal: abort.signal }).catch(() => null);
    const id = await pendingWith('leaves');
    abort.abort();
    await call;
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'withdrawn');
    assert.equal((await vote(olga, id, 'approve')).status, 409);
    const retry = chat('openai', adaToken, 'delete prod [leaves]');
    await pollUntil(async () => (await g.t.api('GET', '/approvals?status=pending')).json.approvals.some((a: any) => String(a.summary.prompt).includes('[leaves]') && a.id !== id), 'the retry asks anew');
    assert.equal((await released(retry)).json.error.code, 'approval_required');
  });

  // ── just-in-time access ───────────────────────────────────────────────────────────────

  test('access requests: never approved by the requester, a guessed grant id is nothing, a revoked grant is not revived by asking the same again', async () => {
    const ada = await personWithToken(g.t.gateway.store, 'ada-api', ['engineering', 'oncall']);
    const asked = await g.t.api('POST', '/access/requests', { connection: CONNECTION, for: '1h', reason: 'incident 4521' }, ada.token);
    assert.equal(asked.status, 201, JSON.stringify(asked.json));
    const requestId = asked.json.id as string;
    const self = await vote(ada, requestId, 'approve');
    assert.equal(self.status, 403);
    for (const guess of ['grt_0000000000000000', `grt_${requestId.slice(4)}x`, '..%2Frequests', 'grt_%2e%2e%2f']) {
      const shown = await g.t.api('GET', `/access/requests/${guess}`);
      assert.ok([400, 404].includes(shown.status), `${guess} → ${shown.status}`);
      const revoked = await g.t.api('POST', `/access/grants/${guess}/revoke`, { reason: 'x' });
      assert.ok([400, 404].includes(revoked.status), `${guess} → ${revoked.status}`);
    }
    const approved = await vote(bob, requestId, 'approve');
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    const granted = (await g.t.api('GET', `/access/requests/${requestId}`)).json;
    assert.equal(granted.grant?.status, 'active');
    // Another person (no approver role) cannot end it nor see it.
    const stranger = await personWithToken(g.t.gateway.store, 'stranger', ['engineering']);
    assert.equal((await g.t.api('POST', `/access/grants/${granted.grant.id}/revoke`, { reason: 'mine now' }, stranger.token)).status, 404);
    assert.equal((await g.t.api('POST', `/access/grants/${granted.grant.id}/revoke`, { reason: 'incident over' }, ada.token)).status, 200);
    const again = await g.t.api('POST', '/access/requests', { connection: CONNECTION, for: '1h', reason: 'incident 4521' }, ada.token);
    assert.equal(again.status, 201);
    assert.notEqual(again.json.id, requestId, 'a new request');
    assert.equal(again.json.status, 'pending');
    assert.equal(again.json.grant, null);
    const twice = await g.t.api('POST', `/access/grants/${granted.grant.id}/revoke`, { reason: 'again' }, ada.token);
    assert.equal(twice.status, 409);
    assert.equal((await vote(bob, again.json.id, 'deny', { reason: 'over' })).status, 200);
  });

  test('access request input: unknown connection, zero, negative, huge or malformed durations, multi-line or control-character reasons are refused', async () => {
    const ada = await personWithToken(g.t.gateway.store, 'ada-input', ['engineering']);
    const cases: unknown[] = [
      { connection: 'no-such-db', for: '1h', reason: 'x' },
      { connection: '../prod-db', for: '1h', reason: 'x' },
      { connection: CONNECTION, for: '0s', reason: 'x' },
      { connection: CONNECTION, for: '-1h', reason: 'x' },
      { connection: CONNECTION, for: '9999d', reason: 'x' },
      { connection: CONNECTION, for: '1h; drop', reason: 'x' },
      { connection: CONNECTION, for: 3600, reason: 'x' },
      { connection: CONNECTION, for: '1h', reason: 'line one\nline two' },
      { connection: CONNECTION, for: '1h', reason: 'x\u001b]8;;http://evil\u0007' },
      { connection: CONNECTION, for: '1h', reason: '' },
      { connection: CONNECTION, for: '1h', reason: 'x', approvers: ['me'] },
    ];
    for (const body of cases) {
      const res = await g.t.api('POST', '/access/requests', body, ada.token);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(body)} → ${res.status}`);
    }
    assert.equal((await g.t.api('GET', '/access/requests', undefined, ada.token)).json.requests.length, 0, 'nothing was asked');
  });
});
