/**
 * Policy replay end to end: real traffic (the openai SDK against the demo model, a pg client
 * against a real PostgreSQL) recorded by a real gateway, then `gatehouse policy replay` run as a
 * separate process over its store, on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import pg from 'pg';
import { compilePolicy } from '../../src/policy/compile.ts';
import { replayStore } from '../../src/cli/policy-replay.ts';
import type { Store } from '../../src/store/types.ts';
import { startPgGateway, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const MAIN = resolve('src/cli/main.ts');
const EMAIL = 'ann.private@example.com';

const POLICY = `
policy:
  rules:
    - name: deny-drop
      match: { interactions: [sql.query] }
      when: "'drop' in request.sql.kinds"
      action: deny
    - name: hold-other
      match: { connections: [other] }
      action: approve
      approvers: [security]
    - name: mask-people
      match: { connections: [${CONNECTION}] }
      when: "'people' in request.sql.tables"
      action: allow
      mask: pii
    - name: allow-all
      action: allow
`;

const CANDIDATE = `
rules:
  - name: deny-delete
    match: { interactions: [sql.query] }
    when: "'delete' in request.sql.kinds"
    action: deny
  - name: deny-people
    match: { interactions: [sql.query] }
    when: "'people' in request.sql.tables && 'select' in request.sql.kinds"
    action: deny
  - name: hold-chat
    match: { connections: [openai], interactions: [llm.chat] }
    action: approve
    approvers: [security]
  - name: allow-all
    action: allow
`;

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

/** Every interaction in the store, by a text its target contains (or its kind and connection). */
async function recorded(store: Store) {
  const rows = await store.listInteractionsBetween({ from: 0, to: Date.now() + 60_000, limit: 10_000 });
  const find = (pred: (r: (typeof rows)[number]) => boolean, what: string) => {
    const found = rows.filter(pred);
    assert.equal(found.length, 1, `one recorded ${what}`);
    return found[0]!.id;
  };
  return { rows, find };
}

describe('gatehouse policy replay over recorded traffic', () => {
  let g: PgGateway;
  let configFile: string;
  let candidate: string;
  let env: NodeJS.ProcessEnv;
  const expected: Record<string, string[]> = {};

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
    const { t } = g;
    configFile = join(t.dir, 'gatehouse.yaml');
    await writeFile(configFile, t.configText);
    candidate = join(t.dir, 'new.yaml');
    await writeFile(candidate, CANDIDATE);
    env = { ...t.env, GATEHOUSE_DATABASE_URL: '' };

    const token = await t.token({ connections: ['openai', 'other', CONNECTION], user: 'ann', groups: ['eng'] });
    const db = await g.client(token);
    for (const sql of ['select 1', 'create table orders (id int)', 'insert into orders values (1)', 'select * from orders', 'create table people (email text)']) await db.query(sql);
    await db.query(`select * from people where email = '${EMAIL}'`);
    await db.query('delete from orders where id = 1');
    await assert.rejects(db.query(`drop table orders /* ${EMAIL} */`), /deny-drop/);
    const openai = new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: `hello, I am ${EMAIL}` }] });
    const other = new OpenAI({ baseURL: `${t.url}/proxy/other/v1`, apiKey: token, maxRetries: 0 });
    await assert.rejects(other.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'held' }] }));

    const { find } = await recorded(t.gateway.store);
    expected.denied = [find((r) => r.target?.startsWith('delete') === true, 'delete'), find((r) => r.target?.startsWith('select * from people') === true, 'people select')].sort();
    expected.allowed = [find((r) => r.target?.startsWith('drop') === true, 'drop')];
    expected.held = [find((r) => r.kind === 'llm.chat' && r.session.connection === 'openai', 'chat')];
    expected.unheld = [find((r) => r.kind === 'llm.chat' && r.session.connection === 'other', 'held chat')];
  });
  after(async () => g?.close());

  test('finds exactly the requests each changed rule flips, and none other', async () => {
    const run = await gatehouse(['--json', 'policy', 'replay', '--policy', candidate, '--config', configFile, '--since', '1h', '--examples', '10'], env);
    assert.equal(run.code, 4, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.changes, { denied: 2, allowed: 1, held: 1, unheld: 1 });
    assert.equal(report.inexact, 0);
    assert.equal(report.fails, true);
    const ids = (change: string) => report.rules.flatMap((r: any) => r.examples.filter((e: any) => e.change === change).map((e: any) => e.id)).sort();
    for (const change of ['denied', 'allowed', 'held', 'unheld']) assert.deepEqual(ids(change), expected[change], change);
    const byRule = Object.fromEntries(report.rules.map((r: any) => [r.rule, r]));
    assert.deepEqual(Object.keys(byRule), ['deny-delete', 'deny-people', 'hold-chat', 'allow-all']);
    assert.equal(byRule['deny-people'].examples[0].was.rule, 'mask-people');
    assert.equal(byRule['allow-all'].examples.find((e: any) => e.change === 'allowed').was.rule, 'deny-drop');
    // Unchanged: select 1, create, insert, select orders, create people.
    assert.equal(report.unchanged, 5);
    assert.ok(!run.stdout.includes(EMAIL), 'a masked value never reaches the report');
    assert.ok(!run.stdout.includes('hello, I am'), 'prompt text never reaches the report');
  });

  test('the text report names rules and examples, masked; --fail-on narrows what fails', async () => {
    const run = await gatehouse(['policy', 'replay', '--policy', candidate, '--config', configFile, '--since', '1h', '--fail-on', 'held'], env);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stdout, /rule deny-people\n {2}1 allowed or held → denied/);
    assert.match(run.stdout, /5 request\(s\) would be decided differently/);
    assert.ok(!run.stdout.includes(EMAIL));
    const none = await gatehouse(['policy', 'replay', '--policy', candidate, '--config', configFile, '--since', '1h', '--connection', CONNECTION, '--fail-on', 'held,unheld'], env);
    assert.equal(none.code, 0, `${none.stdout}${none.stderr}`);
    assert.match(none.stdout, /on prod-db/);
  });

  test('the recorded policy replayed over its own traffic changes nothing', async () => {
    const same = join(g.t.dir, 'same.yaml');
    await writeFile(same, POLICY);
    const run = await gatehouse(['--json', 'policy', 'replay', '--policy', same, '--config', configFile, '--since', '1d'], env);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.replayed, 10);
    assert.deepEqual(report.changes, { denied: 0, allowed: 0, held: 0, unheld: 0 });
  });

  test('an empty range, a connection that no longer exists, a policy that does not load', async () => {
    const empty = await gatehouse(['--json', 'policy', 'replay', '--policy', candidate, '--config', configFile, '--from', '2001-01-01', '--to', '2001-01-02'], env);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(JSON.parse(empty.stdout).replayed, 0);
    const gone = await gatehouse(['--json', 'policy', 'replay', '--policy', candidate, '--config', configFile, '--connection', 'gone-db'], env);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(JSON.parse(gone.stdout).replayed, 0);
    const broken = join(g.t.dir, 'broken.yaml');
    await writeFile(broken, 'rules:\n  - name: x\n    when: request.sql.nope ==\n    action: allow\n');
    const bad = await gatehouse(['policy', 'replay', '--policy', broken, '--config', configFile], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /policy is invalid.*rule "x".*\(config_invalid\)/);
    const badSince = await gatehouse(['policy', 'replay', '--policy', candidate, '--config', configFile, '--since', '7 days'], env);
    assert.equal(badSince.code, 1);
    assert.match(badSince.stderr, /--since: invalid duration.*\(invalid_argument\)/);
  });

  test('a huge range is read page by page, with the same findings', async () => {
    const store = g.t.gateway.store;
    const pages: number[] = [];
    const counting = Object.create(store) as Store;
    counting.listInteractionsBetween = async (filter) => {
      const page = await store.listInteractionsBetween(filter);
      pages.push(page.length);
      return page;
    };
    const engine = compilePolicy(
      await import('yaml').then((y) => y.parse(CANDIDATE)),
      { knownMaskProfiles: ['pii', 'secrets'] },
    );
    const options = { from: 0, to: Date.parse('2100-01-01'), examples: 10, configured: [], mask: (text: string) => text };
    const paged = await replayStore(counting, engine, { ...options, pageSize: 3 });
    const whole = await replayStore(store, engine, options);
    assert.deepEqual(pages, [3, 3, 3, 1]);
    assert.deepEqual(paged, whole);
    assert.deepEqual(paged.changes, { denied: 2, allowed: 1, held: 1, unheld: 1 });
  });

  test('odd records (written straight into the store) are skipped or not trusted, never crash or leak control characters', async () => {
    const store = g.t.gateway.store;
    const now = Date.now();
    const session = { id: `ses_odd${now}`, principalId: 'usr_gone', principalName: 'gone', tokenId: null, connection: 'removed-db', protocol: 'postgres', clientAddr: null, startedAt: now, endedAt: null, endReason: null, replicaId: null };
    await store.insertSession(session);
    const row = (n: number, over: Record<string, unknown>) => ({
      id: `int_${now.toString(16).padStart(12, '0')}odd${n}`, sessionId: session.id, seq: n, kind: 'sql.query', status: 'complete' as const, decision: 'allow',
      rule: 'allow-all', reason: null, method: null, target: 'select 1', model: null, summary: {}, requestBody: null, responseStatus: null,
      responseBody: null, errorCode: null, upstreamCode: null, bytesIn: 0, bytesOut: 0, startedAt: now, completedAt: now, latencyMs: 0, prevHash: null, hash: null,
      ...over,
    });
    const odd = [
      row(1, { summary: { sql: 'delete everything' } }),
      row(2, { summary: { sql: { kinds: ['delete'], hasWhere: 'no' } } }),
      row(3, { kind: 'smtp.send' }),
      row(4, { decision: 'teleport' }),
      row(5, { decision: 'deny', rule: null }),
      row(6, { summary: { sql: { kinds: ['delete'], tables: [], hasWhere: true, functions: [], multiStatement: false, parseError: null, flags: {} } }, target: 'delete\u001b[2J\u0007 from x where id = 1' }),
    ];
    for (const r of odd) await store.insertInteraction(r as never);
    const run = await gatehouse(['--json', 'policy', 'replay', '--policy', candidate, '--config', configFile, '--since', '1h', '--connection', 'removed-db', '--examples', '10'], env);
    assert.equal(run.code, 4, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.skipped, { count: 3, reasons: { 'interaction kind not known': 1, 'recorded decision not known': 1, 'refused before policy decided': 1 } });
    assert.equal(report.inexact, 2, 'the two malformed summaries');
    // The well-formed delete on a connection that is gone: no candidate rule reads its tags, so it replays exactly.
    assert.deepEqual(report.changes, { denied: 1, allowed: 0, held: 0, unheld: 0 });
    assert.ok(!/[\u0000-\u001f]/.test(report.rules.flatMap((r: any) => r.examples.map((e: any) => e.line)).join('')));
  });

  test('works against a gateway whose store is on PostgreSQL', async () => {
    const admin = new pg.Client({ connectionString: g.db.url });
    await admin.connect();
    await admin.query('CREATE DATABASE replay_store');
    await admin.end();
    const url = g.db.url.replace(/\/[^/?]+(\?|$)/, '/replay_store$1');
    let t: TestGateway | undefined;
    try {
      t = await startTestGateway({ databaseUrl: url, policyYaml: POLICY, demo: g.t.demo });
      const token = await t.token({ connections: ['openai', 'other'], user: 'ann', groups: ['eng'] });
      const openai = new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'on postgres' }] });
      const config = join(t.dir, 'gatehouse.yaml');
      await writeFile(config, t.configText);
      const run = await gatehouse(['--json', 'policy', 'replay', '--policy', candidate, '--config', config, '--since', '1h'], { ...t.env, GATEHOUSE_DATABASE_URL: url });
      assert.equal(run.code, 4, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.deepEqual(report.changes, { denied: 0, allowed: 0, held: 1, unheld: 0 });
      assert.equal(report.replayed, 1);
    } finally {
      await t?.close();
    }
  });
});
