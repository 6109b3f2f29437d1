import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { GatewayError } from '../../src/errors.ts';

const valid = `
connections:
  - name: openai
    type: openai
    upstream: https://api.openai.com
    credential: \${OPENAI_KEY}
policy:
  rules:
    - name: allow
      action: allow
`;

function problemOf(text: string, env: NodeJS.ProcessEnv = { OPENAI_KEY: 'sk-x' }): string {
  try {
    parseConfig(text, 'gatehouse.yaml', env);
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'config_invalid');
    return err.message;
  }
  assert.fail('expected the config to be refused');
}

test('a valid config gets defaults, reads secrets from the environment and is frozen', () => {
  const config = parseConfig(valid, 'gatehouse.yaml', { OPENAI_KEY: 'sk-from-env' });
  assert.deepEqual(config.http.listen, { host: '127.0.0.1', port: 8080 });
  assert.equal(config.http.bodyLimit, 10 * 1024 * 1024);
  assert.deepEqual(config.connections[0]!.credential, { type: 'bearer', value: 'sk-from-env' });
  assert.equal(config.identity.tokens.defaultTtl, 15 * 60_000);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.connections[0]));
});

test('a missing environment variable names the file, line, key and variable, not a value', () => {
  const message = problemOf(valid, {});
  assert.match(message, /gatehouse\.yaml:6: connections\[0\]\.credential: environment variable OPENAI_KEY is not set/);
});

test('${VAR:-default} and $${ escapes', () => {
  const config = parseConfig(valid.replace('${OPENAI_KEY}', '${OPENAI_KEY:-fallback}') + 'log:\n  level: info\n', 'x.yaml', {});
  assert.deepEqual(config.connections[0]!.credential, { type: 'bearer', value: 'fallback' });
  const literal = parseConfig(valid.replace('${OPENAI_KEY}', () => 'a$${b}'), 'x.yaml', {});
  assert.deepEqual(literal.connections[0]!.credential, { type: 'bearer', value: 'a${b}' });
});

test('${file:…} reads a secret from a file (Docker and Kubernetes secrets), without its trailing newline', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'openai_key');
  writeFileSync(file, 'sk-from-file\n');
  const config = parseConfig(valid.replace('${OPENAI_KEY}', `\${file:${file}}`), 'x.yaml', {});
  assert.deepEqual(config.connections[0]!.credential, { type: 'bearer', value: 'sk-from-file' });
  // Only one newline is the file's ending; a value may itself end in spaces.
  writeFileSync(file, 'sk-two-lines\n\n');
  assert.deepEqual(parseConfig(valid.replace('${OPENAI_KEY}', `\${file:${file}}`), 'x.yaml', {}).connections[0]!.credential, { type: 'bearer', value: 'sk-two-lines\n' });
});

test('a missing, empty or unreadable secret file names the key and the file, never a value', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope');
  assert.match(problemOf(valid.replace('${OPENAI_KEY}', `\${file:${missing}}`), {}), new RegExp(`:6: connections\\[0\\]\\.credential: secret file ${missing} is missing, unreadable or empty`));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  assert.match(problemOf(valid.replace('${OPENAI_KEY}', `\${file:${empty}}`), {}), /secret file .*empty is missing, unreadable or empty/);
  // A folder is not a secret; root reads files whatever their mode, so a mode test would prove nothing here.
  assert.match(problemOf(valid.replace('${OPENAI_KEY}', `\${file:${dir}}`), {}), /is missing, unreadable or empty/);
});

const cases: [string, string, RegExp][] = [
  ['unknown top-level key', valid + 'htpp:\n  listen: 1\n', /\(top level\): Unrecognized key: "htpp"/],
  ['bad listen address', valid + 'http:\n  listen: localhost\n', /:\d+: http\.listen: expected host:port/],
  ['bad upstream URL', valid.replace('https://api.openai.com', 'ftp://x'), /:5: connections\[0\]\.upstream: expected an http/],
  ['bad connection type', valid.replace('type: openai', 'type: mysql'), /:4: connections\[0\]\.type:/],
  ['bad duration', valid + 'identity:\n  tokens:\n    maxTtl: forever\n', /identity\.tokens\.maxTtl: invalid duration/],
  ['bad size', valid + 'http:\n  bodyLimit: lots\n', /http\.bodyLimit: "lots" is not a size/],
  ['YAML syntax error', 'connections: [\n', /gatehouse\.yaml:\d+: \(syntax\)/],
];
for (const [name, text, expected] of cases) {
  test(`refused with file, line and key: ${name}`, () => assert.match(problemOf(text), expected));
}
