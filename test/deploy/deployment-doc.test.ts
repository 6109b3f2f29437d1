/**
 * docs/deployment.md against the repository. Docker, kubectl and helm do not run on the test
 * machines, so their blocks are allow-listed in test/docs/support/manifest.ts; what they name is
 * checked here instead: services and profiles, Secret names and keys, the chart path and the values
 * file (rendered through the chart), the CLI command, the image tag, and every repository path the
 * document mentions. The .env block runs for real and its output starts the compose check.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { extractBlocks, type DocBlock } from '../docs/support/markdown.ts';
import { commandsOf, runBash } from '../docs/support/shell.ts';
import { adminCommands } from '../../src/cli/admin-commands.ts';
import { bootstrapAdmin } from '../../src/identity/bootstrap.ts';
import { parseMasterKey } from '../../src/store/secret-box.ts';
import type { Credentials } from '../../src/identity/credentials.ts';
import type { Store } from '../../src/store/types.ts';
import { checkCompose, composeVariables, loadCompose } from './support/compose-checks.ts';
import { checkGatehouseChart } from './support/chart-checks.ts';
import { loadChart, only, renderChart } from './support/helm-render.ts';
import { checkReferences, validateObject, type Deployment } from './support/k8s-schema.ts';

const DOC = 'docs/deployment.md';
const TEXT = readFileSync(DOC, 'utf8');
const BLOCKS = extractBlocks(DOC);
const COMPOSE = readFileSync('docker-compose.yml', 'utf8');
const chart = loadChart();

const block = (heading: string, index: number): DocBlock => {
  const found = BLOCKS.find((b) => b.heading === heading && b.index === index);
  assert.ok(found, `${DOC} has no block ${index} under "${heading}"`);
  return found;
};
const fenceInfo = (b: DocBlock) => TEXT.split('\n')[b.line - 1]!;
/** The blocks this file checks, by id; the first test holds it to every block of the document. */
const CHECKED = new Set<string>();
const checks = (heading: string, index: number) => {
  const b = block(heading, index);
  CHECKED.add(b.id);
  return b;
};

/** The values a `-f <file>` names: a YAML block of the document titled with that file name. */
function valuesFile(name: string): Record<string, unknown> {
  const titled = BLOCKS.filter((b) => b.lang === 'yaml' && fenceInfo(b).includes(`title=${name}`));
  assert.equal(titled.length, 1, `one block titled ${name}`);
  return YAML.parse(titled[0]!.text) as Record<string, unknown>;
}

/** `--flag value` or `--flag=value` of one command line. */
const flag = (words: readonly string[], name: string) => {
  const i = words.findIndex((w) => w === name || w.startsWith(`${name}=`));
  return i < 0 ? undefined : words[i]!.includes('=') ? words[i]!.slice(name.length + 1) : words[i + 1];
};

/** Whether the gateway's own start-up check accepts this admin token (it refuses before touching the store). */
async function adminTokenAccepted(token: string): Promise<boolean> {
  const reached = new Error('format accepted; the store was reached');
  const store = { setSettingIfAbsent: () => Promise.reject(reached) } as unknown as Store;
  try {
    await bootstrapAdmin(store, {} as Credentials, token);
  } catch (err) {
    return err === reached;
  }
  return false;
}

describe('docs/deployment.md: Docker Compose', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-deploy-doc-'));
  const envFile = join(scratch, '.env');
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('the .env block runs and writes what the compose file requires, in forms the gateway accepts', async () => {
    const b = checks('Docker Compose', 1);
    const result = await runBash(b.text, { cwd: scratch, env: { PATH: process.env.PATH ?? '' } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    const env = Object.fromEntries(readFileSync(envFile, 'utf8').trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    assert.deepEqual(Object.keys(env).sort(), composeVariables(COMPOSE).required);
    assert.equal(parseMasterKey(env.GATEHOUSE_MASTER_KEY!).length, 32);
    assert.equal(await adminTokenAccepted(env.GATEHOUSE_ADMIN_TOKEN!), true);
    assert.equal(await adminTokenAccepted('gta_short'), false, 'the acceptance check can refuse');
    assert.deepEqual(await checkCompose({ compose: loadCompose(COMPOSE, env), haproxyText: readFileSync('deploy/compose/haproxy.cfg', 'utf8'), root: '.' }), []);
  });

  test('starting it: the load balancer publishes the readiness URL, the token line reads .env, the CLI command exists', async () => {
    const b = checks('Docker Compose', 2);
    const commands = commandsOf(b.text);
    assert.deepEqual(commands.filter((c) => c.startsWith('docker ')), ['docker compose up -d --build', 'docker compose ps']);
    const compose = loadCompose(COMPOSE, { GATEHOUSE_MASTER_KEY: 'x', GATEHOUSE_ADMIN_TOKEN: 'x', POSTGRES_PASSWORD: 'x', OPENAI_API_KEY: 'x' });
    const url = new URL(/curl -s (\S+)/.exec(b.text)![1]!);
    assert.equal(url.pathname, '/readyz');
    assert.ok(compose.services.lb!.ports!.includes(`127.0.0.1:${url.port}:${url.port}`));
    assert.ok(b.text.includes(`GATEHOUSE_URL=http://127.0.0.1:${url.port}\n`));
    // The line that reads the admin token out of .env, run on the .env the block above wrote.
    const tokenLine = commands.find((c) => c.startsWith('export GATEHOUSE_TOKEN='))!;
    const written = readFileSync(envFile, 'utf8');
    const read = await runBash(`${tokenLine}\nprintf %s "$GATEHOUSE_TOKEN"`, { cwd: scratch, env: { PATH: process.env.PATH ?? '' } });
    assert.equal(read.stdout, /^GATEHOUSE_ADMIN_TOKEN=(.*)$/m.exec(written)![1]);
    const cli = commands.find((c) => c.startsWith('npx gatehouse '))!.split(' ').slice(2);
    assert.deepEqual(cli, ['token', 'create', '--connection', 'openai']);
    const create = adminCommands(() => undefined).find((c) => c.name() === cli[0])?.commands.find((c) => c.name() === cli[1]);
    assert.ok(create, `gatehouse ${cli[0]} ${cli[1]} is no command`);
    assert.ok(create.options.some((o) => o.long === cli[2]), `${cli[2]} is no option of it`);
    const replicaConfig = YAML.parse(readFileSync('deploy/compose/gatehouse.yaml', 'utf8')) as { connections: { name: string }[] };
    assert.ok(replicaConfig.connections.some((c) => c.name === 'openai'));
  });

  test('the single gateway it starts is the "single" profile', () => {
    const b = checks('Docker Compose', 3);
    assert.deepEqual(commandsOf(b.text), ['docker compose down', 'docker compose up -d gatehouse']);
    const compose = loadCompose(COMPOSE, { GATEHOUSE_MASTER_KEY: 'x', GATEHOUSE_ADMIN_TOKEN: 'x', POSTGRES_PASSWORD: 'x', OPENAI_API_KEY: 'x' });
    assert.deepEqual(compose.services.gatehouse!.profiles, ['single']);
    assert.ok(compose.services.gatehouse!.volumes!.some((v) => v.startsWith('./examples/gatehouse.compose.yaml:')));
  });
});

describe('docs/deployment.md: Kubernetes', () => {
  const myValues = valuesFile('my-values.yaml');

  test('the image built and pushed is the chart\'s appVersion, in the repository my-values.yaml names', () => {
    const b = checks('Kubernetes (Helm)', 1);
    const tags = [...b.text.matchAll(/(?:-t|push) (\S+)/g)].map((m) => m[1]);
    const repository = (myValues.image as { repository: string }).repository;
    assert.deepEqual(tags, [`${repository}:${chart.meta.appVersion}`, `${repository}:${chart.meta.appVersion}`]);
  });

  test('the Secrets created are exactly the Secrets and keys the chart reads', () => {
    const b = checks('Secrets', 1);
    const created = new Set<string>();
    for (const command of commandsOf(b.text)) {
      const words = command.split(/\s+/);
      const at = words.indexOf('generic');
      if (at < 0) continue;
      for (const word of words) {
        const literal = /^--from-literal=([^=]+)=/.exec(word);
        if (literal) created.add(`${words[at + 1]}/${literal[1]}`);
      }
    }
    const values = chart.values as { secrets: Record<string, { existingSecret: string; key: string }>; envFromSecrets: { secret: string; key: string }[] };
    const read = new Set([...Object.values(values.secrets).map((s) => `${s.existingSecret}/${s.key}`), ...values.envFromSecrets.map((s) => `${s.secret}/${s.key}`)]);
    assert.deepEqual([...created].sort(), [...read].sort());
    assert.match(b.text, /master-key="\$\(openssl rand -hex 32\)"/);
    assert.match(b.text, /admin-token="gta_\$\(openssl rand -hex 24\)"/);
  });

  test('my-values.yaml renders to a working deployment with the admin listener and PostgreSQL TLS it describes', async () => {
    const rendered = await renderChart(chart, { values: myValues });
    const schema = rendered.manifests.flatMap(validateObject);
    assert.deepEqual(schema, []);
    assert.deepEqual([...checkReferences(rendered.manifests), ...(await checkGatehouseChart(rendered))], []);
    assert.equal(only(rendered, 'Service', '-admin').metadata.name, 'gatehouse-admin');
    assert.ok(TEXT.includes('`gatehouse-admin`'));
  });

  test('install: the TLS Secret my-values.yaml names, the chart path, and the Deployment whose rollout it waits for', async () => {
    const b = checks('Install', 2);
    const commands = commandsOf(b.text).map((c) => c.split(/\s+/));
    const tls = commands.find((w) => w.slice(0, 6).join(' ') === 'kubectl -n gatehouse create secret tls')!;
    assert.equal(tls[6], (myValues.postgresTls as { existingSecret: string }).existingSecret);
    const install = commands.find((w) => w[0] === 'helm')!;
    assert.deepEqual(install.slice(0, 3), ['helm', 'install', 'gatehouse']);
    assert.ok(existsSync(join(install[3]!, 'Chart.yaml')), install[3]);
    assert.equal(flag(install, '-f'), 'my-values.yaml');
    const rendered = await renderChart(chart, { values: myValues, releaseName: install[2]!, namespace: flag(install, '-n')! });
    const rollout = commands.find((w) => w.includes('rollout'))!;
    assert.equal(rollout.at(-1), `deployment/${(only(rendered, 'Deployment') as unknown as Deployment & { metadata: { name: string } }).metadata.name}`);
  });

  test('upgrade: the same chart path and values file; the restart command names the same Deployment', () => {
    const b = checks('Upgrade', 1);
    const words = commandsOf(b.text)[0]!.split(/\s+/);
    assert.deepEqual(words.slice(0, 4), ['helm', 'upgrade', 'gatehouse', 'deploy/helm/gatehouse']);
    assert.equal(flag(words, '-f'), 'my-values.yaml');
    assert.ok(TEXT.includes('`kubectl -n gatehouse rollout restart deployment/gatehouse`'));
  });

  test('the values table names only values the chart has, with their defaults', () => {
    const lines = TEXT.split('\n');
    const start = lines.indexOf('| value | default | what |');
    assert.ok(start > 0, 'the values table is there');
    const table = lines.slice(start + 2, lines.findIndex((line, i) => i > start && !line.startsWith('|')));
    const documented = new Set<string>();
    for (const row of table) {
      const [keysCell, defaultsCell] = row.split('|').slice(1, 3).map((c) => c.trim());
      let parent = '';
      const keys = [...keysCell!.matchAll(/`([^`]+)`/g)].map((m) => {
        const key = m[1]!.startsWith('.') ? parent + m[1] : m[1]!;
        parent = key.slice(0, key.lastIndexOf('.'));
        return key;
      });
      const defaults = [...defaultsCell!.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
      for (const [i, key] of keys.entries()) {
        const paths = key.includes('*') ? Object.keys(chart.values.secrets as object).map((name) => key.replace('*', name)) : [key];
        for (const path of paths) {
          const value = path.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], chart.values);
          assert.notEqual(value, undefined, `${path} is not in values.yaml`);
          documented.add(path.split('.')[0]!);
          // Rows whose defaults pair up with their keys state each scalar default: it must be the one in values.yaml.
          const scalar = value === null || (typeof value !== 'object' && !String(value).includes('\n')) || JSON.stringify(value) === '[]' || JSON.stringify(value) === '{}';
          if (defaults.length === keys.length && !key.includes('*') && scalar) assert.equal(defaults[i], JSON.stringify(value).replace(/^"(.+)"$/, '$1'), `default of ${path}`);
        }
      }
    }
    assert.deepEqual(Object.keys(chart.values).filter((key) => !documented.has(key)), [], 'every value of values.yaml has a row');
  });

  test('the drain figures in the prose are the chart\'s and the compose file\'s', () => {
    assert.ok(TEXT.includes(`\`preStopSleepSeconds\` (${chart.values.preStopSleepSeconds})`));
    assert.ok(TEXT.includes(`\`terminationGracePeriodSeconds\` (${chart.values.terminationGracePeriodSeconds})`));
    const grace = /stop_grace_period: (\S+)/.exec(COMPOSE)![1];
    assert.ok(TEXT.includes(`\`stop_grace_period: ${grace}\``));
  });
});

describe('docs/deployment.md and README: references', () => {
  test('every block of the document is one this file checks (or a YAML block it renders)', () => {
    const unchecked = BLOCKS.filter((b) => !CHECKED.has(b.id) && !(b.lang === 'yaml' && /title=/.test(fenceInfo(b)))).map((b) => b.id);
    assert.deepEqual(unchecked, []);
  });

  test('every repository path the document and the README\'s Deploying section mention exists', () => {
    const readme = readFileSync('README.md', 'utf8');
    const deploying = readme.slice(readme.indexOf('## Deploying'), readme.indexOf('\n## ', readme.indexOf('## Deploying') + 1));
    assert.match(deploying, /docs\/deployment\.md/);
    const mentioned = new Set<string>();
    for (const text of [TEXT, deploying]) {
      for (const m of text.matchAll(/[`(]((?:deploy|docs|examples|test|src)\/[A-Za-z0-9_./-]+|docker-compose\.yml|Dockerfile)[`)#]/g)) mentioned.add(m[1]!);
    }
    assert.ok(mentioned.size >= 8, [...mentioned].join(', '));
    assert.deepEqual([...mentioned].filter((path) => !existsSync(path)), []);
  });
});
