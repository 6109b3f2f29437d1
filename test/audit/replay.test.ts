/**
 * Session replay end to end: real traffic through a gateway (the openai SDK before a model whose
 * answers leak a secret and an email; the pg driver before a real PostgreSQL, with a denied
 * statement, a failing one and one held for approval), then the replay through the API and the
 * CLI (in process, its sleep injected): what happened, in order, at the recorded times, masked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import OpenAI from 'openai';
import { ADMIN_TOKEN } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { startPgGateway, eventually, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { sessionsCommand, MAX_REPLAY_WAIT_MS } from '../../src/cli/sessions-commands.ts';

const SECRET = 'ghp_' + 'Zx9Yw8Xv7Wu6Vt5Us4Tr3Sq2Rp1Qo0PnMlKj';
const EMAIL = 'grace.hopper@example.org';
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';

const POLICY = `
policy:
  rules:
    - name: vault-off-limits
      match: { interactions: [sql.query] }
      when: "'vault' in request.sql.tables"
      action: deny
      reason: the vault is off limits
    - name: deletes-need-a-dba
      match: { interactions: [sql.query] }
      when: "'delete' in request.sql.kinds"
      action: approve
      approvers: [dba]
      timeout: 15m
    - name: leaky-masked
      match: { connections: [leaky] }
      action: allow
      mask: answers
    - name: allow-the-rest
      action: allow
masking:
  profiles:
    answers:
      entities: { email: redact, secret: redact }
`;

const ROLES = `
identity:
  roles:
    - group: dba
      role: approver
    - group: audit
      role: auditor
`;

/** An OpenAI-shaped model whose answer carries a secret and an email, as JSON or as a stream. */
async function startLeakyModel(): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const answer = `The deploy token is ${SECRET}; ask ${EMAIL}.`;
    if (!JSON.parse(body).stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'leaky', choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }] }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < answer.length; i += 5) {
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'leaky', choices: [{ index: 0, delta: { content: answer.slice(i, i + 5) }, finish_reason: null }] })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Run {
  out: string[];
  notes: string[];
  sleeps: number[];
}

/** The CLI's sessions commands in this process, against the gateway, with a sleep that only notes what it was asked. */
async function cli(g: PgGateway, args: string[], token = ADMIN_TOKEN): Promise<Run> {
  const run: Run = { out: [], notes: [], sleeps: [] };
  const program = new Command('gatehouse').option('--json').exitOverride();
  program.addCommand(
    sessionsCommand((t) => run.out.push(t), {
      sleep: async (ms) => void run.sleeps.push(ms),
      settings: async () => ({ url: g.t.url, token }),
      note: (t) => run.notes.push(t),
    }),
  );
  await program.parseAsync(args, { from: 'user' });
  return run;
}

describe('session replay of real traffic', () => {
  let g: PgGateway;
  let leaky: Awaited<ReturnType<typeof startLeakyModel>>;
  let bob: Person;
  let auditor: Person;
  let token: string;

  before(async () => {
    leaky = await startLeakyModel();
    g = await startPgGateway({ policyYaml: POLICY, extraYaml: ROLES, extraConnections: `  - name: leaky\n    type: openai\n    upstream: ${leaky.url}\n` });
    bob = await personWithToken(g.t.gateway.store, 'bob', ['dba']);
    auditor = await personWithToken(g.t.gateway.store, 'audrey', ['audit']);
    token = await g.t.token({ connections: [CONNECTION, 'leaky'], user: 'ada', groups: ['engineering'] });
    const direct = await g.direct();
    await direct.query('create table orders (id int primary key, note text)');
    await direct.query("insert into orders values (1, 'one'), (2, 'two')");
    await direct.query('create table vault (secret text)');
  });
  after(async () => {
    await g?.close();
    await new Promise((resolve) => leaky?.server.close(resolve));
  });

  const replay = async (id: string, query = '', as = ADMIN_TOKEN) => {
    const { status, json } = await g.t.api('GET', `/sessions/${id}/replay${query}`, undefined, as);
    assert.equal(status, 200, JSON.stringify(json));
    return json;
  };
  const sessionOf = async (connection: string, complete: number) => {
    let found: any;
    await eventually(async () => {
      const { json } = await g.t.api('GET', `/sessions?connection=${connection}&principal=ada`);
      found = json.sessions[0];
      if (!found) return false;
      const page = await replay(found.id);
      return page.entries.length >= complete && page.entries.every((e: any) => e.completedAt !== null);
    }, 10_000, `${complete} completed interactions on ${connection}`);
    return found;
  };

  test('an LLM session: the conversation and the answer, masked; decision and rule; relative times from the record', async () => {
    const client = new OpenAI({ baseURL: `${g.t.url}/proxy/leaky/v1`, apiKey: token, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'leaky', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: `who deploys? cc ${EMAIL}` }] });
    assert.doesNotMatch(answer.choices[0]!.message.content!, new RegExp(SECRET), 'the client got it masked too');
    const stream = await client.chat.completions.create({ model: 'leaky', stream: true, messages: [{ role: 'user', content: 'again, streamed' }] });
    for await (const _ of stream);

    const session = await sessionOf('leaky', 2);
    const page = await replay(session.id);
    const whole = JSON.stringify(page);
    for (const raw of [SECRET, EMAIL]) assert.ok(!whole.includes(raw), `${raw} never in the replay`);
    assert.equal(page.total, 2);
    const [first, second] = page.entries;
    assert.equal(first.kind, 'llm.chat');
    assert.equal(first.decision, 'allow');
    assert.equal(first.rule, 'leaky-masked');
    assert.deepEqual(first.request.messages.map((m: any) => m.role), ['system', 'user']);
    assert.match(first.request.messages[1].text, /^who deploys\? cc \[EMAIL\]$/);
    assert.match(first.response.text, /^The deploy token is \[[A-Z_]+\]; ask \[EMAIL\]\.$/);
    assert.match(second.response.text, /^The deploy token is \[[A-Z_]+\]; ask \[EMAIL\]\.$/, 'the stream, reassembled and masked');

    // Offsets and gaps are the recorded times', whatever the clock says now.
    const shown = (await g.t.api('GET', `/sessions/${session.id}`)).json;
    assert.equal(first.offsetMs, shown.interactions[0].startedAt - shown.session.startedAt);
    assert.equal(second.gapMs, shown.interactions[1].startedAt - shown.interactions[0].startedAt);

    const run = await cli(g, ['sessions', 'replay', session.id]);
    const text = run.out.join('\n');
    for (const raw of [SECRET, EMAIL]) assert.ok(!text.includes(raw));
    assert.match(text, /#1 llm\.chat leaky  allowed \(rule leaky-masked\)/);
    assert.match(text, /user: who deploys\? cc \[EMAIL\]/);
    assert.match(text, /assistant: The deploy token is \[[A-Z_]+\]; ask \[EMAIL\]\./);
    assert.match(text, /shown #1–#2 of 2; end of session/);
    // Real speed waits exactly the recorded gaps (none is over the cap here); --speed divides them.
    assert.deepEqual(run.sleeps, page.entries.filter((e: any) => e.gapMs > 0).map((e: any) => Math.min(e.gapMs, MAX_REPLAY_WAIT_MS)));
    const fast = await cli(g, ['sessions', 'replay', session.id, '--speed', '4']);
    assert.deepEqual(fast.sleeps, run.sleeps.map((ms) => ms / 4));
    assert.deepEqual((await cli(g, ['sessions', 'replay', session.id, '--instant'])).sleeps, []);
    const json = await cli(g, ['--json', 'sessions', 'replay', session.id]);
    assert.deepEqual(JSON.parse(json.out.join('')), page);
    assert.deepEqual(json.sleeps, []);
  });

  test('a Postgres session: statements, result summaries, a denial with its rule, a failure, an approval; masked; an auditor may replay', async () => {
    const c = await g.client(token);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query('select id, note from orders order by id');
    await assert.rejects(c.query('select * from vault'), (err: any) => err.code === '42501');
    await c.query(`select '${AWS_KEY}' as k`);
    await assert.rejects(c.query('select * from nowhere'), (err: any) => err.code === '42P01');
    await c.query({ text: 'update orders set note = $1 where id = $2', values: ['uno', 1] });
    const held = c.query('delete from orders where id = 2');
    await eventually(() => notices.length > 0, 10_000, 'the hold notice');
    const approvalId = /approval (apr_\w+) is pending/.exec(notices[0]!)![1]!;
    const decided = await fetch(`${g.t.url}/api/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'cleanup ok' }),
    });
    assert.equal(decided.status, 200);
    assert.equal((await held).rowCount, 1);
    await c.end();

    const session = await sessionOf(CONNECTION, 6);
    const page = await replay(session.id, '', auditor.token);
    assert.ok(!JSON.stringify(page).includes(AWS_KEY), 'the key in the SQL text is masked in the replay');
    const [select, denied, keyed, failed, update, del] = page.entries;
    assert.deepEqual([select.request.sql, select.response.command, select.response.rows], ['select id, note from orders order by id', 'SELECT 2', 2]);
    assert.deepEqual([denied.decision, denied.rule, denied.errorCode, denied.response], ['deny', 'vault-off-limits', 'policy_denied', null]);
    assert.match(keyed.request.sql, /^select '\[[A-Z_]+\]' as k$/);
    assert.deepEqual([failed.upstreamCode, failed.response.error.code], ['42P01', '42P01']);
    assert.deepEqual([update.request.sql, update.request.params, update.response.command], ['update orders set note = $1 where id = $2', ['uno', '1'], 'UPDATE 1']);
    assert.equal(del.decision, 'approve');
    assert.equal(del.approval.id, approvalId);
    assert.deepEqual(del.approval.events.map((e: any) => e.action), ['approval.created', 'approval.voted', 'approval.approved', 'approval.used']);
    assert.ok(del.approval.events.some((e: any) => e.action === 'approval.approved' && e.actor === 'bob'), JSON.stringify(del.approval.events));

    const text = (await cli(g, ['sessions', 'replay', session.id, '--instant'], auditor.token)).out.join('\n');
    assert.ok(!text.includes(AWS_KEY));
    assert.match(text, /#1 sql\.query  allowed \(rule allow-the-rest\)/);
    assert.match(text, /sql> select id, note from orders order by id\n\s+→ SELECT 2 \(2 rows\)/);
    assert.match(text, /#2 sql\.query  DENIED \(rule vault-off-limits\) → refused: policy_denied/);
    assert.match(text, /reason: the vault is off limits/);
    assert.match(text, /error: 42P01 relation "nowhere" does not exist/);
    assert.match(text, new RegExp(`approval ${approvalId}:\\n.*created by ada[^\\n]*\\n(?:.*\\n)*.*approved by bob`));
  });

  test('a long session pages: 300 statements print one bounded page by default, and the next page continues it', async () => {
    const c = await g.client(token);
    for (let i = 1; i <= 300; i++) await c.query(`select ${i} as n`);
    await c.end();
    let session: any;
    await eventually(async () => {
      session = (await g.t.api('GET', `/sessions?connection=${CONNECTION}&principal=ada&limit=1`)).json.sessions[0];
      return session.interactionCount === 300 && (await replay(session.id, '?from=300&limit=1')).entries[0]?.completedAt != null;
    }, 20_000, '300 statements recorded');

    const first = await cli(g, ['sessions', 'replay', session.id, '--instant']);
    const lines = first.out.join('\n').split('\n');
    assert.ok(lines.length < 400, `bounded: ${lines.length} lines`);
    assert.match(lines.at(-1)!, new RegExp(`^shown #1–#100 of 300; next page: gatehouse sessions replay ${session.id} --from 101$`));
    assert.ok(!lines.some((l) => /#101 /.test(l)));
    const second = (await cli(g, ['sessions', 'replay', session.id, '--instant', '--from', '101', '--limit', '150'])).out.join('\n');
    assert.match(second, /^\s+\+[\d.ms]+ #101 sql\.query/m);
    assert.match(second, /sql> select 250 as n/);
    assert.match(second, new RegExp(`shown #101–#250 of 300; next page: gatehouse sessions replay ${session.id} --limit 150 --from 251$`));
    const last = await replay(session.id, '?from=251&limit=100');
    assert.deepEqual([last.entries.length, last.entries[0].seq, last.nextSeq], [50, 251, null]);
    assert.equal(last.entries[0].gapMs, last.entries[0].startedAt - (await replay(session.id, '?from=250&limit=1')).entries[0].startedAt, 'the first gap of a page is from the interaction before it');

    // The search finds them too, a bounded page at a time.
    const search = (await g.t.api('GET', `/audit/search?session=${session.id}&text=select%2029`)).json;
    assert.deepEqual(search.interactions.map((i: any) => i.target).sort(), ['select 29 as n', 'select 290 as n', 'select 291 as n', 'select 292 as n', 'select 293 as n', 'select 294 as n', 'select 295 as n', 'select 296 as n', 'select 297 as n', 'select 298 as n', 'select 299 as n'].sort());
    const paged = (await g.t.api('GET', `/audit/search?session=${session.id}&limit=120`)).json;
    assert.equal(paged.interactions.length, 120);
    const rest = (await g.t.api('GET', `/audit/search?session=${session.id}&limit=1000&after=${paged.next}`)).json;
    assert.equal(rest.interactions.length, 180);
    assert.equal(rest.next, null);
    assert.equal(new Set([...paged.interactions, ...rest.interactions].map((i: any) => i.seq)).size, 300, 'no row twice, none missed');
  });
});
