/**
 * docs/audit.md as a reader uses it: the page's openssl command makes the key, a gateway runs with
 * the page's YAML, the page's online commands run through the `gatehouse` CLI with bash, and the
 * offline command (README shows the same) verifies the stopped gateway's database with the key
 * printed, then fails once the tail is cut.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { extractBlocks } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { describe as explain, makeShims, runBash, shellEnv, substitute } from '../docs/support/shell.ts';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';

const DOC = 'docs/audit.md';
const blocks = extractBlocks(DOC);
const block = (heading: string, index: number) => {
  const found = blocks.find((b) => b.heading === heading && b.index === index);
  assert.ok(found, `${DOC} › ${heading} › ${index} is missing`);
  return found.text;
};

let shims: string;
let scratch: string;
let t: TestGateway | undefined;

before(async () => {
  shims = await makeShims();
  scratch = await mkdtemp(join(tmpdir(), 'gatehouse-audit-doc-'));
});
after(async () => {
  await t?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

const shell = (script: string, env: NodeJS.ProcessEnv = {}) => runBash(`set -eo pipefail\n${script}`, { cwd: scratch, env: shellEnv(shims, env) });

test('this file runs exactly the blocks the manifest assigns it, and README shows the page\'s offline command', () => {
  assert.deepEqual(assignedTo('../e2e/audit-doc.test.ts'), [`${DOC} › Checkpoints and keys › 1`, `${DOC} › Verifying › 1`, `${DOC} › Verifying › 2`, 'README.md › Tamper-evident audit trail › 1'].sort());
  assert.equal(extractBlocks('README.md').find((b) => b.heading === 'Tamper-evident audit trail' && b.index === 1)?.text, block('Verifying', 2));
});

test('the key made, checkpoints signed and sunk, verify online and offline; a cut tail fails offline', async () => {
  const made = await shell(block('Checkpoints and keys', 1));
  assert.equal(made.code, 0, explain('openssl', made));
  // The page's paths are relative to the config file's folder; this gateway's config has none, so they are made absolute.
  const yaml = substitute(block('Checkpoints and keys', 2), [['./audit-key.pem', join(scratch, 'audit-key.pem')], ['./audit-checkpoints.jsonl', join(scratch, 'audit-checkpoints.jsonl')]]);
  t = await startTestGateway({ dir: scratch, extraYaml: yaml });
  const token = await t.token();
  const answer = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] }),
  });
  assert.equal(answer.status, 200);
  await answer.text();
  const online = await shell(block('Verifying', 1), { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN });
  assert.equal(online.code, 0, explain('online', online));
  assert.match(online.stdout, /audit trail verified/);
  assert.match(online.stdout, /checkpoint: writer local/);
  await t.gateway.close();

  const offline = substitute(block('Verifying', 2), [['./data/gatehouse.db', './gatehouse.db']]);
  const clean = await shell(offline);
  assert.equal(clean.code, 0, explain(offline, clean));
  const db = new Database(join(scratch, 'gatehouse.db'));
  const last = db.prepare("SELECT seq FROM audit_ledger WHERE writer = 'local' ORDER BY seq DESC LIMIT 1").get() as { seq: number };
  db.prepare("DELETE FROM audit_ledger WHERE writer = 'local' AND seq = ?").run(last.seq);
  db.prepare('DELETE FROM audit_checkpoints').run();
  db.close();
  const cut = await shell(offline);
  assert.equal(cut.code, 1, explain(offline, cut));
  assert.match(cut.stdout, /audit trail BROKEN/);
  assert.match(cut.stdout, /entries after it were deleted/);
});
