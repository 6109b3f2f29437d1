/**
 * docs/audit.md "Replaying a session" and "Searching the record", and the README's lines on them:
 * a gateway before a real PostgreSQL, an agent's session with a denial and a database error, then
 * every documented command run with bash as a reader would, and the sample replay compared with
 * the real one (times, durations and ids normalised).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { commandsOf, describe as explain, makeShims, runBash, shellEnv, substitute, type ShellResult } from '../docs/support/shell.ts';
import { ADMIN_TOKEN } from '../support/gateway.ts';
import { startPgGateway, eventually, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';

const POLICY = `
policy:
  rules:
    - name: vault-off-limits
      match: { interactions: [sql.query] }
      when: "'vault' in request.sql.tables"
      action: deny
      reason: the vault is off limits
    - name: allow-the-rest
      action: allow
`;

let g: PgGateway;
let shims: string;
let cwd: string;
let sessionId: string;

before(async () => {
  g = await startPgGateway({ policyYaml: POLICY });
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-replay-doc-'));
  const direct = await g.direct();
  await direct.query('create table orders (id int, note text)');
  await direct.query("insert into orders values (1, 'one'), (2, 'two')");
  await direct.query('create table vault (secret text)');
  const { json } = await g.t.api('POST', '/tokens', { connections: [CONNECTION], name: 'nightly-eval', for: { user: 'ada', groups: [] } });
  const c = await g.client(json.token);
  await c.query('select id, note from orders order by id');
  await assert.rejects(c.query('select * from vault'));
  await assert.rejects(c.query('select * from nowhere'));
  await c.end();
  await eventually(async () => {
    const session = (await g.t.api('GET', '/sessions?agent=nightly-eval')).json.sessions[0];
    sessionId = session?.id;
    return session?.endedAt != null && (await g.t.api('GET', `/sessions/${session.id}/replay`)).json.entries.every((e: any) => e.completedAt !== null);
  }, 10_000, 'the session recorded and ended');
});
after(async () => {
  await g?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

async function sh(command: string): Promise<ShellResult> {
  const result = await runBash(command, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: g.t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN }) });
  assert.equal(result.code, 0, explain(command, result));
  return result;
}

/** What varies from run to run: ids, times, offsets and durations. */
const normalise = (text: string) =>
  text
    .replace(/ses_\w+/g, 'ses_…')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, '2026-12-08T00:00:00.000Z')
    .replace(/[+-](?:\d+m)?\d+\.\d{3}s/g, '+0.000s')
    .replace(/\d+ ms\b/g, '0 ms')
    .trimEnd();

const CASES: Record<string, () => Promise<void>> = {
  'docs/audit.md › Replaying a session › 1': async () => {
    const [list, instant, faster] = commandsOf(docBlock('docs/audit.md › Replaying a session › 1').text) as [string, string, string];
    assert.match((await sh(list)).stdout, new RegExp(`^${sessionId}\\s+ada\\s+prod-db\\s+postgres\\s.*nightly-eval$`, 'm'));
    const played = (await sh(substitute(instant, [['ses_…', sessionId]]))).stdout;
    assert.equal(normalise(played), docBlock('docs/audit.md › Replaying a session › 2').text.trimEnd(), played);
    const page = (await sh(substitute(faster, [['ses_…', sessionId]]))).stdout;
    assert.match(page, /\(playing at 10x; idle gaps over 5s are cut short/);
    assert.match(page, /^\s+\+[\d.]+s #2 sql\.query  DENIED/m);
    assert.doesNotMatch(page, /#1 sql\.query/);
    assert.match(page, /^shown #2–#3 of 3; end of session$/m);
  },

  'docs/audit.md › Replaying a session › 2': async () => {
    // Compared in the case above, against the replay it shows.
    assert.match(docBlock('docs/audit.md › Replaying a session › 2').text, /DENIED \(rule vault-off-limits\)/);
  },

  'docs/audit.md › Searching the record › 1': async () => {
    const [denied, window, api] = commandsOf(docBlock('docs/audit.md › Searching the record › 1').text) as [string, string, string];
    const found = (await sh(denied)).stdout;
    assert.match(found, /ada\s+nightly-eval\s+prod-db\s+sql\.query\s+deny\s+vault-off-limits\s+select \* from vault\s+policy_denied\s+ses_\w+#2/);
    assert.equal(found.trim().split('\n').length, 2, found);
    assert.equal((await sh(window)).stdout.trim(), '(none)', 'nothing of ada in that hour');
    const json = JSON.parse((await sh(api)).stdout);
    assert.deepEqual(json.interactions.map((i: any) => [i.rule, i.target]), [['vault-off-limits', 'select * from vault']]);
    assert.equal(json.next, null);
  },

  'README.md › Recordings › 2': async () => {
    const [replay, search] = commandsOf(docBlock('README.md › Recordings › 2').text) as [string, string];
    assert.match((await sh(substitute(replay, [['ses_…', sessionId]]))).stdout, /#3 sql\.query  allowed \(rule allow-the-rest\)[^\n]*\n.*\n\s+error: 42P01/);
    assert.match((await sh(search)).stdout, /vault-off-limits/);
  },
};

for (const id of Object.keys(CASES)) {
  test(id, async () => {
    await CASES[id]!();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('../audit/replay-doc.test.ts'));
});
