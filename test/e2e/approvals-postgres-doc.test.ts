/**
 * docs/approvals.md's psql flow as a reader runs it: a gateway configured with the page's own rule
 * in front of a real PostgreSQL, the page's psql command run with bash, an approver deciding while
 * it waits, and psql's output compared with the page's sample.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startPgGateway, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { extractBlocks } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { makeShims, shellEnv, substitute } from '../docs/support/shell.ts';
import { rm } from 'node:fs/promises';

const DOC = 'docs/approvals.md';
const HEADING = 'The flow with psql';
const blocks = extractBlocks(DOC);
const block = (index: number) => {
  const found = blocks.find((b) => b.heading === HEADING && b.index === index);
  assert.ok(found, `${DOC} › ${HEADING} › ${index} is missing`);
  return found.text;
};
const PLACEHOLDER_ID = 'apr_0190c0ffee';

let g: PgGateway;
let shims: string;
let dora: Person;
let agentToken: string;

before(async () => {
  g = await startPgGateway({ policyYaml: block(1) });
  shims = await makeShims();
  dora = await personWithToken(g.t.gateway.store, 'dora', ['dba']);
  agentToken = await g.t.token({ user: 'ada', connections: [CONNECTION] });
  const direct = await g.direct();
  await direct.query('create table orders (id int primary key)');
  await direct.query('insert into orders values (41), (42)');
});
after(async () => {
  await g?.close();
  await rm(shims, { recursive: true, force: true });
});

test('this file runs exactly the blocks the manifest assigns it', () => {
  assert.deepEqual(assignedTo('../e2e/approvals-postgres-doc.test.ts'), ['README.md › Human approval › 3', `${DOC} › ${HEADING} › 2`, `${DOC} › ${HEADING} › 3`]);
});

test('README\'s psql step is the very command this file runs', () => {
  const readme = extractBlocks('README.md').find((b) => b.heading === 'Human approval' && b.index === 3);
  assert.equal(readme?.text, block(2));
});

test('the page\'s psql command waits, names its approval at once, and prints the result once a dba approves', async () => {
  assert.equal(CONNECTION, 'prod-db', 'the page\'s dbname is the fixture\'s connection');
  const command = substitute(block(2), [['port=6432', `port=${g.port}`]]);
  const env = shellEnv(shims, { GATEHOUSE_AGENT_TOKEN: agentToken, PATH: `${g.binDir}:${shims}:${process.env.PATH ?? ''}`, PGCONNECT_TIMEOUT: '10' });
  for (const key of Object.keys(env)) if (key.startsWith('PG') && key !== 'PGCONNECT_TIMEOUT') delete env[key];
  const child = spawn('bash', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((done) => child.once('close', done));

  // The notice arrives before anything is decided: its id is the one to approve.
  const id = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const m = /approval (apr_\w+) is pending/.exec(output);
      if (m) resolve(m[1]!);
    };
    child.stderr.on('data', look);
    child.once('close', () => reject(new Error(`psql ended before any notice:\n${output}`)));
  });
  const res = await fetch(`${g.t.url}/api/v1/approvals/${id}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dora.token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 200);
  assert.equal(await exited, 0, output);

  const expiresAt = /waits until (\S+Z)/.exec(output)![1]!;
  const sample = substitute(block(3), [[PLACEHOLDER_ID, id], ['2026-12-07T10:15:00.000Z', expiresAt]]);
  assert.equal(output.trim(), sample.trim());
  const direct = await g.direct();
  assert.deepEqual((await direct.query('select id from orders order by id')).rows, [{ id: 41 }]);
});
