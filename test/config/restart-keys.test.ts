import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { restartRequiredChanges } from '../../src/config/restart-keys.ts';

const env = { KEY_A: 'sk-a', KEY_B: 'sk-b', DB_URL: 'postgres://u:p@db/gatehouse' };

const BASE = `
http:
  listen: 127.0.0.1:8080
  bodyLimit: 1mb
store:
  sqlitePath: ./data/a.db
connections:
  - name: openai
    type: openai
    upstream: https://api.openai.com
    credential: \${KEY_A}
  - name: prod-db
    type: postgres
    upstream: postgres://db:5432/prod
    credential: { type: basic, username: agent, value: "\${KEY_A}" }
policy:
  rules:
    - name: allow
      action: allow
`;

/** [what changed, the edit applied to BASE, the keys that need a restart]. */
const CASES: [string, (text: string) => string, string[]][] = [
  ['nothing', (t) => t, []],
  ['only comments and spacing', (t) => `# edited\n${t}\n\n`, []],
  ['a policy rule (reloads)', (t) => t.replace('action: allow', 'action: deny'), []],
  ['policy.dir and packs (reload)', (t) => t.replace('policy:\n', 'policy:\n  dir: ./policy\n  include: [sql-destructive]\n'), []],
  ['policy token lifetimes (read through the policy)', (t) => t.replace('policy:\n', 'policy:\n  tokenLifetime: { default: 5m }\n'), []],
  ['masking profiles (reload)', (t) => `${t}masking:\n  profiles:\n    strict:\n      fields: [$.ssn]\n`, []],
  ['the listen address', (t) => t.replace('127.0.0.1:8080', '0.0.0.0:8080'), ['http.listen']],
  ['the port alone', (t) => t.replace('127.0.0.1:8080', '127.0.0.1:9090'), ['http.listen']],
  ['the body limit', (t) => t.replace('bodyLimit: 1mb', 'bodyLimit: 2mb'), ['http.bodyLimit']],
  ['a default made explicit is no change', (t) => t.replace('bodyLimit: 1mb', 'bodyLimit: 1mb\n  trustProxy: false'), []],
  ['trustProxy and upstreamTimeout', (t) => t.replace('bodyLimit: 1mb', 'bodyLimit: 1mb\n  trustProxy: true\n  upstreamTimeout: 5s'), ['http.trustProxy', 'http.upstreamTimeout']],
  ['a separate admin listener', (t) => `${t}admin:\n  listen: 127.0.0.1:8081\n`, ['admin.listen']],
  ['the postgres listener', (t) => `${t}postgres:\n  listen: 127.0.0.1:15432\n  allowCleartextOverNetwork: true\n`, ['postgres.allowCleartextOverNetwork', 'postgres.listen']],
  ['the store', (t) => t.replace('./data/a.db', './data/b.db\n  databaseUrl: ${DB_URL}'), ['store.databaseUrl', 'store.sqlitePath']],
  ['token lifetimes and the verify cache', (t) => `${t}identity:\n  tokens: { maxTtl: 1h }\n  cacheTtl: 5s\n`, ['identity.cacheTtl', 'identity.tokens.maxTtl']],
  ['recording', (t) => `${t}recording:\n  maxBodyBytes: 1kb\n`, ['recording.maxBodyBytes']],
  ['log level', (t) => `${t}log:\n  level: debug\n`, ['log.level']],
  ['a connection upstream', (t) => t.replace('https://api.openai.com', 'https://example.com'), ['connections.openai.upstream']],
  ['a credential (named, never shown)', (t) => t.replace('credential: ${KEY_A}', 'credential: ${KEY_B}'), ['connections.openai.credential']],
  ['a nested credential value', (t) => t.replace('username: agent, value: "${KEY_A}"', 'username: agent, value: "${KEY_B}"'), ['connections.prod-db.credential']],
  ['a connection added and one removed', (t) => t.replace('name: openai', 'name: openai-eu'), ['connections.openai', 'connections.openai-eu']],
  ['connection tags', (t) => t.replace('https://api.openai.com', 'https://api.openai.com\n    tags: [llm]'), ['connections.openai.tags']],
  [
    'connections reordered is no change',
    (t) => {
      const [head, rest] = t.split('connections:\n');
      const [list, tail] = rest!.split('policy:\n');
      const [first, second] = list!.split(/(?=  - name: prod-db)/);
      return `${head}connections:\n${second}${first}policy:\n${tail}`;
    },
    [],
  ],
];

for (const [name, edit, keys] of CASES) {
  test(`restart-only keys: ${name}`, () => {
    const before = parseConfig(BASE, 'gatehouse.yaml', env);
    const after = parseConfig(edit(BASE), 'gatehouse.yaml', env);
    assert.deepEqual(restartRequiredChanges(before, after), keys);
  });
}

test('the key names carry no secret values', () => {
  const before = parseConfig(BASE, 'gatehouse.yaml', env);
  const after = parseConfig(BASE.replaceAll('${KEY_A}', '${KEY_B}'), 'gatehouse.yaml', env);
  const keys = restartRequiredChanges(before, after);
  assert.deepEqual(keys, ['connections.openai.credential', 'connections.prod-db.credential']);
  assert.ok(!JSON.stringify(keys).includes('sk-'));
});
