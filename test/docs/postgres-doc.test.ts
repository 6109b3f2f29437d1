/**
 * The PostgreSQL snippets (README and docs/postgres.md) run for real: psql and node-postgres through
 * a gateway this file starts, in front of a throwaway PostgreSQL; the documented refusal is compared
 * with what psql prints for a DROP under the sql-destructive pack.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute, type ShellResult } from './support/shell.ts';

let db: PostgresServer;
let t: TestGateway;
let shims: string;
let cwd: string;
let token: string;

before(async () => {
  db = await startPostgres();
  // The docs' connection name, prod-db, in front of the throwaway database; the pack behind the
  // documented refusal, then everything else allowed.
  t = await startTestGateway({
    postgres: {},
    extraConnections: `  - name: prod-db
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
`,
    policyYaml: `
policy:
  include: [sql-destructive]
  rules:
    - name: allow-all
      action: allow
`,
  });
  token = await t.token({ connections: ['prod-db'] });
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-pg-'));
});
after(async () => {
  await t?.close();
  await db?.stop();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** The docs' address (host `gateway` or 127.0.0.1, port 15432) becomes this gateway's listener. */
function toThisGateway(text: string, host: 'gateway' | '127.0.0.1'): string {
  return substitute(text, [
    ['15432', String(t.pgPort)],
    ...(host === 'gateway' ? ([['host=gateway', 'host=127.0.0.1'], ['-h gateway', '-h 127.0.0.1']] as const) : []),
  ]);
}

/** psql reads the statements from standard input, as when a reader types them. */
function psql(command: string, input: string): Promise<ShellResult> {
  return runBash(command, { cwd, env: shellEnv(shims, { GTH: token, GATEHOUSE_TOKEN: token }), input });
}

const CASES: Record<string, () => Promise<void>> = {
  'README.md › PostgreSQL › 2': async () => {
    const [command] = commandsOf(toThisGateway(docBlock('README.md › PostgreSQL › 2').text, '127.0.0.1'));
    const result = await psql(command!, "SELECT 'through the gateway' AS greeting;\n");
    assert.equal(result.code, 0, describe(command!, result));
    assert.match(result.stdout, /^ through the gateway$/m, describe(command!, result));
  },

  'docs/postgres.md › Connect › 1': async () => {
    const commands = commandsOf(toThisGateway(docBlock('docs/postgres.md › Connect › 1').text, 'gateway'));
    assert.equal(commands.length, 2);
    for (const command of commands) {
      const result = await psql(command, 'SELECT current_database() AS db;\n');
      assert.equal(result.code, 0, describe(command, result));
      // The gateway logs in to the real database behind the prod-db connection.
      assert.match(result.stdout, new RegExp(`^ ${db.database}$`, 'm'), describe(command, result));
    }
  },

  'docs/postgres.md › Connect › 2': async () => {
    // The snippet is one expression; it runs inside a module that connects and asks one question.
    const snippet = substitute(docBlock('docs/postgres.md › Connect › 2').text, [
      ["host: 'gateway'", "host: '127.0.0.1'"],
      ['port: 15432', `port: ${t.pgPort}`],
    ])
      .trim()
      .replace(/;$/, '');
    const module = `import pg from 'pg';
const token = process.env.GATEHOUSE_TOKEN;
const client = ${snippet};
await client.connect();
const { rows } = await client.query('SELECT $1::text AS said', ['hello from pg']);
process.stdout.write(rows[0].said);
await client.end();`;
    const result = await runBash('node --input-type=module -e "$SNIPPET"', { cwd: resolve('.'), env: shellEnv(shims, { GATEHOUSE_TOKEN: token, SNIPPET: module }) });
    assert.equal(result.code, 0, describe(module, result));
    assert.equal(result.stdout, 'hello from pg');
  },

  'docs/postgres.md › What a refusal looks like › 1': async () => {
    const sample = docBlock('docs/postgres.md › What a refusal looks like › 1').text;
    const command = `psql "host=127.0.0.1 port=${t.pgPort} dbname=prod-db user=me password=$GTH"`;
    // A DROP, then proof that the session stays usable.
    const result = await psql(command, "DROP TABLE IF EXISTS anything;\nSELECT 'still here' AS after;\n");
    assert.match(result.stderr, new RegExp(`^${sample.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), describe(command, result));
    assert.match(result.stdout, /^ still here$/m, describe(command, result));
  },
};

for (const id of assignedTo('postgres-doc.test.ts')) {
  test(id, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('postgres-doc.test.ts'));
});
