/**
 * docs/policy.md › Policy replay, run as a reader would: a gateway configured with the page's
 * policy before a real PostgreSQL, traffic from a pg client and the openai SDK, then the page's
 * commands (through the `gatehouse` bin) with the page's candidate as new.yaml; the output sample is
 * compared with the real output (ids and times aside). README shows the same commands.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { commandsOf, describe as explain, makeShims, runBash, shellEnv } from '../docs/support/shell.ts';

const RUNNER = '../e2e/policy-replay-doc.test.ts';
const POLICY = 'docs/policy.md › Policy replay › 1';
const CANDIDATE = 'docs/policy.md › Policy replay › 2';
const COMMANDS = 'docs/policy.md › Policy replay › 3';
const SAMPLE = 'docs/policy.md › Policy replay › 4';
const README = 'README.md › Policy replay › 1';

let g: PgGateway;
let shims: string;

before(async () => {
  g = await startPgGateway({ policyYaml: docBlock(POLICY).text });
  shims = await makeShims();
  await writeFile(join(g.t.dir, 'gatehouse.yaml'), g.t.configText);
  await writeFile(join(g.t.dir, 'new.yaml'), docBlock(CANDIDATE).text);
  const ann = await g.t.token({ connections: ['prod-db', 'openai'], user: 'ann', groups: ['eng'] });
  const bob = await g.t.token({ connections: ['openai'], user: 'bob' });
  const db = await g.client(ann);
  for (const sql of ['create table orders (id int)', 'insert into orders values (1)', 'select * from orders']) await db.query(sql);
  await assert.rejects(db.query('delete from orders where id = 1'), /no-deletes/);
  const chat = (token: string) =>
    new OpenAI({ baseURL: `${g.t.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'summarise the orders' }] });
  await chat(ann);
  await chat(bob);
});
after(async () => {
  await g?.close();
  if (shims) await rm(shims, { recursive: true, force: true });
});

test('this file runs exactly the blocks the manifest assigns it', () => {
  assert.deepEqual(assignedTo(RUNNER), [COMMANDS, SAMPLE, README].sort());
});

test("README's commands are the page's", () => {
  assert.equal(docBlock(README).text, docBlock(COMMANDS).text);
});

const run = (command: string) => runBash(command, { cwd: g.t.dir, env: shellEnv(shims, { UPSTREAM_KEY: 'unused-by-replay' }) });
const normalise = (text: string) =>
  text
    .replace(/int_[0-9a-f]+/g, 'int_ID')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, 'TIME')
    .trimEnd();

test("the page's commands report the changes, exit 4, and the sample is their output", async () => {
  const [human, ci] = commandsOf(docBlock(COMMANDS).text);
  const first = await run(human!);
  assert.equal(first.code, 4, explain(human!, first));
  assert.equal(normalise(first.stdout), normalise(docBlock(SAMPLE).text));

  const second = await run(ci!);
  assert.equal(second.code, 4, explain(ci!, second));
  const report = JSON.parse(second.stdout);
  assert.equal(report.connection, 'prod-db');
  assert.deepEqual(report.changes, { denied: 0, allowed: 1, held: 1, unheld: 0 });
  assert.equal(report.fails, true);
});
