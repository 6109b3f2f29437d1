/**
 * Every YAML block in README.md and docs/*.md, and every example config, goes through what
 * `gatehouse start` does with a config file: the real loader and schema, masking profiles compiled,
 * the policy (packs, inline rules, policy.dir) compiled with the known profiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { GatewayConfig } from '../../src/config/schema.ts';
import { compileMaskingProfiles, DEFAULT_PROFILES } from '../../src/masking/index.ts';
import { checkPolicy, loadPolicy } from '../../src/policy/index.ts';
import { allDocBlocks, type DocBlock } from './support/markdown.ts';

/**
 * Values for the `${NAME}` references the snippets make. Listed rather than made up on demand, so
 * a snippet that starts needing a new variable shows up here (and in its doc's instructions).
 */
const SNIPPET_ENV: Readonly<Record<string, string>> = {
  OPENAI_API_KEY: 'sk-placeholder-openai',
  BILLING_KEY: 'placeholder-billing-key',
  PG_PASSWORD: 'placeholder-pg-password',
  GATEHOUSE_MASKING_KEY: 'placeholder-masking-key-of-32-bytes',
  GATEHOUSE_DEMO_MODEL_URL: 'http://127.0.0.1:9/',
  GATEHOUSE_DEMO_MODEL_KEY: 'placeholder-demo-key',
  APPROVAL_WEBHOOK_SECRET: 'placeholder-webhook-secret-0123456789',
  AUDIT_WEBHOOK_SECRET: 'placeholder-audit-webhook-secret-0123',
  SPLUNK_HEC_TOKEN: 'placeholder-splunk-hec-token',
  OTLP_API_KEY: 'placeholder-otlp-api-key',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0000/B0000/placeholder',
  MCP_TOOLS_TOKEN: 'placeholder-mcp-tools-token',
  GITHUB_TOKEN: 'placeholder-github-token',
  ANTHROPIC_API_KEY: 'sk-ant-placeholder',
  GEMINI_API_KEY: 'placeholder-gemini-key',
  AZURE_OPENAI_KEY: 'placeholder-azure-openai-key',
  AZURE_CLIENT_SECRET: 'placeholder-azure-client-secret',
  BEDROCK_ACCESS_KEY_ID: 'AKIDPLACEHOLDERBEDROCK',
  BEDROCK_SECRET_ACCESS_KEY: 'placeholder-bedrock-secret-access-key',
  S3_SECRET_ACCESS_KEY: 'placeholder-s3-secret-access-key',
  // identity.saml parses its IdP certificate, so this one is real: self-signed, its key thrown away.
  SAML_IDP_CERT: 'MIIBhDCCASmgAwIBAgIUOK+o7vWA/GexkZpEChDrvmTM59EwCgYIKoZIzj0EAwIwFjEUMBIGA1UEAwwLaWRwLmV4YW1wbGUwIBcNMjYxMjA3MTcwODAwWhgPMjEyNjExMTMxNzA4MDBaMBYxFDASBgNVBAMMC2lkcC5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAET1ZBP0M8/+6CVKvSkULtGaE+z6kfjfmWtLEyd5MJBQ03GpsMP8irR7/Rp0j4L3fkMHtNIth7nDkzbDa6qjjAmaNTMFEwHQYDVR0OBBYEFFgtub8xdPjivGJ9Nl1jny29g0jMMB8GA1UdIwQYMBaAFFgtub8xdPjivGJ9Nl1jny29g0jMMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAIkeNqMdbovVvKTJQ/SizLk9wMZT0d2t3hHaN07ubsXyAiEA6dyQN8VV+uJRBCAxngtAE8b3tHemXuS+mOhIJbJHU38=',
};

/** `${file:…}` secrets the snippets read (Docker and Kubernetes secret files), listed like SNIPPET_ENV. */
const SNIPPET_FILES: Readonly<Record<string, string>> = {
  '/run/secrets/openai_api_key': 'sk-placeholder-from-file',
};

function secretFileStub(path: string): string {
  const value = SNIPPET_FILES[path];
  if (value === undefined) throw new Error(`no stub for secret file ${path}`);
  return value;
}

const YAML_LANGS = new Set(['yaml', 'yml']);

/**
 * The snippet as a config file whose line numbers are the document's (blank lines stand in for the
 * prose above it), so a problem reads `README.md:104: connections[1]…`. A bare list of rules
 * (docs/policy.md shows one rule) is what `policy.rules` holds.
 */
function asConfigText(text: string, firstLine = 1): string {
  const doc = YAML.parseDocument(text);
  // A snippet that is not even YAML is left for parseConfig to report with its line.
  if (doc.errors.length > 0 || !Array.isArray(doc.toJS())) return '\n'.repeat(firstLine - 1) + text;
  const indented = text.split('\n').map((line) => (line ? `    ${line}` : line)).join('\n');
  return `${'\n'.repeat(Math.max(0, firstLine - 3))}policy:\n  rules:\n${indented}`;
}

/** What the gateway builds from a config at start and on reload, minus the listeners. */
async function compileLikeStart(config: GatewayConfig, baseDir: string) {
  const masking = compileMaskingProfiles({ ...config.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config.masking?.profiles } }, randomBytes(32));
  const policy = await loadPolicy(config.policy, { baseDir, knownMaskProfiles: masking.names });
  const check = checkPolicy(config.policy, { knownMaskProfiles: masking.names });
  return { masking, policy, check };
}

async function exercise(name: string, text: string, firstLine = 1): Promise<{ config: GatewayConfig; warnings: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-docs-config-'));
  try {
    const config = parseConfig(asConfigText(text, firstLine), name, SNIPPET_ENV, secretFileStub);
    // A `policy.dir` in a snippet is a folder the reader creates next to the config; here it is empty.
    if (config.policy.dir) await mkdir(join(dir, config.policy.dir), { recursive: true });
    const { masking, check } = await compileLikeStart(config, dir);
    assert.deepEqual(check.errors, [], `${name}: policy problems`);
    // Every profile a rule names must exist (loadPolicy refused otherwise); every defined one compiles.
    for (const profile of Object.keys(config.masking?.profiles ?? {})) assert.ok(masking.get(profile), `${name}: profile ${profile}`);
    return { config, warnings: check.warnings.map((w) => w.message) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A YAML block whose info string names another file (```yaml title=my-values.yaml, for Helm values
 * or Kubernetes objects) shows that file, not gatehouse.yaml, and is checked by the test named here;
 * a title no test is named for fails below. `title=gatehouse.yaml`, or no title, is a config fragment.
 */
const OTHER_YAML_FILES: Readonly<Record<string, string>> = {
  'my-values.yaml': 'test/deploy/deployment-doc.test.ts renders the Helm chart with it and checks the result',
};

function titleOf(block: DocBlock): string | null {
  const fence = readFileSync(block.file, 'utf8').split('\n')[block.line - 1] ?? '';
  const title = /\stitle=(\S+)/.exec(fence)?.[1] ?? null;
  return title === 'gatehouse.yaml' ? null : title;
}

const blocks = allDocBlocks().filter((b: DocBlock) => YAML_LANGS.has(b.lang) && titleOf(b) === null);

test('YAML blocks titled as another file name one that a test checks', () => {
  const titled = allDocBlocks().filter((b) => YAML_LANGS.has(b.lang) && titleOf(b) !== null);
  for (const b of titled) assert.ok(titleOf(b)! in OTHER_YAML_FILES, `${b.id}: title=${titleOf(b)} is no file a test checks; add it to OTHER_YAML_FILES with its test`);
});

test('the docs have YAML snippets to check (the extractor found them)', () => {
  // Guards the loop below: a broken extractor would otherwise pass by checking nothing.
  assert.ok(blocks.length >= 6, `found ${blocks.length}`);
});

for (const block of blocks) {
  test(`${block.id} (line ${block.line}) loads and compiles`, async () => {
    // The fence is on block.line, so the snippet's first line is the one after it.
    const { config } = await exercise(block.file, block.text, block.line + 1);
    // Each snippet is there to show something: the loader must have kept it, not defaulted it away.
    const raw = YAML.parse(asConfigText(block.text)) as Record<string, unknown>;
    for (const key of Object.keys(raw)) assert.notEqual((config as Record<string, unknown>)[key], undefined, `${block.id}: ${key}`);
  });
}

test('README minimal gatehouse.yaml: every commented setting takes effect', async () => {
  const block = blocks.find((b) => b.id === 'README.md › Running it for real › 2');
  assert.ok(block, 'README minimal config block moved or renamed');
  const { config } = await exercise(block.file, block.text, block.line + 1);
  assert.deepEqual(config.http.listen, { host: '127.0.0.1', port: 8080 });
  assert.equal(config.http.bodyLimit, 10 * 1024 * 1024);
  assert.equal(config.http.upstreamTimeout, 60_000);
  assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 9090 });
  assert.equal(config.recording.maxBodyBytes, 64 * 1024);
  assert.deepEqual(config.identity.tokens, { defaultTtl: 15 * 60_000, maxTtl: 12 * 3600_000 });
  assert.deepEqual(
    config.connections.map((c) => [c.name, c.type, c.credential?.type]),
    [
      ['openai', 'openai', 'bearer'],
      ['billing', 'http', 'header'],
    ],
  );
});

test('README: the alternative credential shapes in the comment are valid too', async () => {
  // The minimal config's comment offers `{ type: header, header: X-Api-Key, value: … }` and `{ type: basic, username, value }`.
  const { config } = await exercise(
    'README credential comment',
    `connections:
  - { name: a, type: http, upstream: https://a.example, credential: { type: header, header: X-Api-Key, value: k } }
  - { name: b, type: http, upstream: https://b.example, credential: { type: basic, username: u, value: p } }
`,
  );
  assert.deepEqual(config.connections.map((c) => c.credential?.type), ['header', 'basic']);
});

const EXAMPLES = readdirSync('examples').filter((name) => /\.ya?ml$/.test(name)).sort();

test('examples/ holds configs to check', () => {
  assert.ok(EXAMPLES.includes('gatehouse.demo.yaml') && EXAMPLES.includes('gatehouse.compose.yaml'), EXAMPLES.join(', '));
});

for (const name of EXAMPLES) {
  test(`examples/${name} loads and compiles as a whole config`, async () => {
    const { config } = await exercise(`examples/${name}`, readFileSync(join('examples', name), 'utf8'));
    assert.ok(config.connections.length > 0 && config.policy.rules.length > 0, `examples/${name} defines connections and rules`);
  });
}
