/**
 * docs/postgres.md's startup-settings snippets run for real: the PGOPTIONS example through psql
 * against a gateway in front of a throwaway PostgreSQL, and the documented refusal compared with
 * what psql prints for `-c role=…` in PGOPTIONS. (The page's YAML is loaded by config-snippets.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute } from '../docs/support/shell.ts';

const SELF = '../e2e/postgres-fidelity-doc.test.ts';
let g: PgGateway;
let token: string;
let shims: string;
let cwd: string;

before(async () => {
  g = await startPgGateway({ postgres: {} });
  token = await g.token();
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-pg-startup-'));
});
after(async () => {
  await g?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** psql from the docs, pointed at this gateway (psql's own folder first on PATH). */
function run(text: string) {
  const script = substitute(text, [
    ['host=gateway', 'host=127.0.0.1'],
    ['port=15432', `port=${g.port}`],
  ]);
  const env = shellEnv(shims, { GATEHOUSE_TOKEN: token, PGCONNECT_TIMEOUT: '10' });
  env.PATH = `${g.binDir}:${env.PATH}`;
  for (const key of Object.keys(env)) if (key.startsWith('PG') && key !== 'PGCONNECT_TIMEOUT') delete env[key];
  return { script, result: runBash(script, { cwd, env }) };
}

const CASES: Record<string, () => Promise<void>> = {
  'docs/postgres.md › Startup settings › 1': async () => {
    const text = docBlock('docs/postgres.md › Startup settings › 1').text;
    assert.equal(commandsOf(text).length, 1);
    const { script, result } = run(text);
    const r = await result;
    assert.equal(r.code, 0, describe(script, r));
    assert.match(r.stdout, /^ 5s$/m, describe(script, r));
    // the other setting of the example reached the database too
    const { script: check, result: checked } = run(text.replace("-c 'SHOW statement_timeout'", "-At -c 'SHOW search_path'"));
    const c = await checked;
    assert.equal(c.stdout.trim(), '"app data",public', describe(check, c));
  },

  'docs/postgres.md › Startup settings › 2': async () => {
    const sample = docBlock('docs/postgres.md › Startup settings › 2').text.trim();
    const text = docBlock('docs/postgres.md › Startup settings › 1').text.replace(/PGOPTIONS='[^']*'/, "PGOPTIONS='-c role=postgres'");
    const { script, result } = run(text);
    const r = await result;
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(sample), describe(script, r));
  },
};

for (const id of assignedTo(SELF)) {
  test(id, async () => {
    const check = CASES[id];
    assert.ok(check, `no case for ${id} in this file`);
    await check();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo(SELF));
});
