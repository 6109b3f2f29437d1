/**
 * docs/approvals.md › Just-in-time access as a reader uses it: a gateway configured with the page's
 * own YAML in front of a real PostgreSQL, the page's requester, approver and revoke commands run
 * with bash through the `gatehouse` CLI, the `pg` driver as the agent, and the page's policy test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { extractBlocks } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { describe as explain, makeShims, runBash, shellEnv, substitute } from '../docs/support/shell.ts';

const DOC = 'docs/approvals.md';
const SECTION = 'Just-in-time access';
const blocks = extractBlocks(DOC);
const block = (index: number) => {
  const found = blocks.find((b) => b.heading === SECTION && b.index === index);
  assert.ok(found, `${DOC} › ${SECTION} › ${index} is missing`);
  return found.text;
};

let g: PgGateway;
let shims: string;
let scratch: string;
let ada: Person;
let olive: Person;
let agent: string;

before(async () => {
  // The page's config block, as it stands, is the gateway's roles, access settings and policy.
  g = await startPgGateway({ policyYaml: block(1) });
  shims = await makeShims();
  scratch = await mkdtemp(join(tmpdir(), 'gatehouse-access-doc-'));
  [ada, olive] = await Promise.all([personWithToken(g.t.gateway.store, 'ada', ['engineering']), personWithToken(g.t.gateway.store, 'olive', ['oncall'])]);
  agent = await g.t.token({ user: 'ada', connections: ['prod-db'] });
  await (await g.direct()).query('create table orders (id int)');
});
after(async () => {
  await g?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

const shell = (script: string, who: Person, cwd = shims) =>
  runBash(`set -eo pipefail\n${script}`, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: g.t.url, GATEHOUSE_TOKEN: who.token }) });

test('this file runs exactly the blocks the manifest assigns it, and README shows the page\'s request command', () => {
  assert.deepEqual(assignedTo('../e2e/access-doc.test.ts'), [...[2, 3, 4, 5].map((i) => `${DOC} › ${SECTION} › ${i}`), `README.md › ${SECTION} › 1`].sort());
  const readme = extractBlocks('README.md').find((b) => b.heading === SECTION && b.index === 1)?.text;
  assert.equal(readme, block(2));
});

test('asked with --wait, approved with the page\'s commands: the agent writes; revoked with the page\'s commands: its session ends and writes are denied again', async () => {
  const before = await g.client(agent);
  await assert.rejects(before.query('insert into orders values (1)'), (err: any) => err.code === '42501' && /just-in-time grant/.test(err.message));

  const asking = shell(block(2), ada);
  let id: string | undefined;
  await pollUntil(async () => {
    id = ((await g.t.api('GET', '/access/requests?status=pending')).json.requests as any[]).find((r) => r.reason === 'incident 4521')?.id;
    return id !== undefined;
  }, 'the access request exists');
  const approve = substitute(block(3), [['apr_0190c0ffee', id!]]);
  const approved = await shell(approve, olive);
  assert.equal(approved.code, 0, explain(approve, approved));
  assert.match(approved.stdout, new RegExp(id!));
  assert.match(approved.stdout, /incident 4521/, 'the approver reads the reason');
  const asked = await asking;
  assert.equal(asked.code, 0, explain(block(2), asked));
  assert.match(asked.stdout, /: active/);

  await before.query('insert into orders values (2)');
  const grantId = (await g.t.api('GET', `/access/requests/${id}`)).json.grant.id as string;
  const ended = new Promise<any>((resolve) => {
    let heard: unknown = null;
    before.on('error', (err) => (heard ??= err));
    before.once('end', () => resolve(heard));
  });
  const revoke = substitute(block(4), [['grt_0190c0ffee', grantId]]);
  const revoked = await shell(revoke, olive);
  assert.equal(revoked.code, 0, explain(revoke, revoked));
  assert.equal((await ended)?.code, '42501');
  const after = await g.client(agent);
  await assert.rejects(after.query('insert into orders values (3)'), (err: any) => err.code === '42501');
  await after.end();
});

test('the page\'s policy test allows the write with the grant, and denies it without', async () => {
  await writeFile(join(scratch, 'gatehouse.yaml'), block(1));
  const withGrant = await shell(block(5), ada, scratch);
  assert.equal(withGrant.code, 0, explain(block(5), withGrant));
  assert.match(withGrant.stdout, /decision: allow/);
  const without = substitute(block(5), [[' --grant "incident 4521"', '']]);
  const refused = await shell(without, ada, scratch);
  assert.equal(refused.code, 3, explain(without, refused));
  assert.match(refused.stdout, /deny \(rule prod-writes-need-a-grant\)/);
});
