/**
 * docker-compose.yml (two replicas behind HAProxy on one PostgreSQL, and the single-node profile),
 * checked statically since Docker does not run where the tests do (support/compose-checks.ts says
 * what is checked). Each check is shown to catch what it is for on a copy of the files broken on
 * purpose.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCompose, composeVariables, interpolate, loadCompose, parseHaproxy } from './support/compose-checks.ts';

/** A .env as docs/deployment.md has the reader make one. */
const DOT_ENV: Readonly<Record<string, string>> = {
  GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'),
  GATEHOUSE_ADMIN_TOKEN: `gta_${randomBytes(24).toString('hex')}`,
  POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
  OPENAI_API_KEY: 'sk-placeholder',
};

const COMPOSE = readFileSync('docker-compose.yml', 'utf8');
const HAPROXY = readFileSync('deploy/compose/haproxy.cfg', 'utf8');

async function problemsOf(edits: Readonly<Record<string, (text: string) => string>> = {}, env: Readonly<Record<string, string>> = DOT_ENV): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'));
  try {
    for (const path of ['Dockerfile', 'docker-compose.yml', 'deploy/compose', 'examples']) cpSync(path, join(root, path), { recursive: true });
    for (const [path, edit] of Object.entries(edits)) {
      const before = readFileSync(join(root, path), 'utf8');
      const after = edit(before);
      // An edit that no longer applies would make its case pass without testing anything.
      assert.notEqual(after, before, `the edit of ${path} changed nothing`);
      writeFileSync(join(root, path), after);
    }
    const compose = loadCompose(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), env);
    return await checkCompose({ compose, haproxyText: readFileSync(join(root, 'deploy/compose/haproxy.cfg'), 'utf8'), root });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const replace = (from: string | RegExp, to: string) => (text: string) => text.replace(from, to);

describe('docker-compose.yml as shipped', () => {
  test('two replicas, HAProxy and PostgreSQL by default; the single gateway only in its profile; nothing to fix', async () => {
    const compose = loadCompose(COMPOSE, DOT_ENV);
    const byDefault = Object.entries(compose.services).filter(([, s]) => !s.profiles).map(([name]) => name).sort();
    assert.deepEqual(byDefault, ['gatehouse-1', 'gatehouse-2', 'lb', 'postgres']);
    assert.deepEqual(compose.services.gatehouse?.profiles, ['single']);
    assert.deepEqual(await problemsOf(), []);
  });

  test('the replicas get the same store, master key and admin token, all from .env', () => {
    const compose = loadCompose(COMPOSE, DOT_ENV);
    for (const name of ['gatehouse-1', 'gatehouse-2', 'gatehouse']) {
      const env = compose.services[name]!.environment!;
      assert.equal(env.GATEHOUSE_MASTER_KEY, DOT_ENV.GATEHOUSE_MASTER_KEY);
      assert.equal(env.GATEHOUSE_ADMIN_TOKEN, DOT_ENV.GATEHOUSE_ADMIN_TOKEN);
      assert.equal(env.GATEHOUSE_DATABASE_URL, `postgres://gatehouse:${DOT_ENV.POSTGRES_PASSWORD}@postgres:5432/gatehouse`);
    }
  });

  test('without .env it refuses to start, naming each missing secret', () => {
    const { required } = composeVariables(COMPOSE);
    assert.deepEqual(required, ['GATEHOUSE_ADMIN_TOKEN', 'GATEHOUSE_MASTER_KEY', 'OPENAI_API_KEY', 'POSTGRES_PASSWORD']);
    for (const name of required) {
      const env = { ...DOT_ENV, [name]: '' };
      assert.throws(() => loadCompose(COMPOSE, env), new RegExp(`set ${name} in \\.env`));
    }
  });

  test('every variable it reads is listed in deploy/compose/env.example and in its own header', () => {
    const example = readFileSync('deploy/compose/env.example', 'utf8');
    const header = COMPOSE.split('\n').filter((line) => line.startsWith('#')).join('\n');
    for (const name of composeVariables(COMPOSE).names) {
      assert.match(example, new RegExp(`^${name}=`, 'm'), `env.example: ${name}`);
      assert.match(header, new RegExp(`#\\s+${name}=`), `header: ${name}`);
    }
  });

  test('HAProxy: HTTP and the PostgreSQL listener balanced over both replicas, health from /readyz', () => {
    const sections = parseHaproxy(HAPROXY);
    const servers = (name: string) => sections.find((s) => s.name === name)!.lines.filter((l) => l[0] === 'server').map((l) => l.slice(1, 3).join(' '));
    assert.deepEqual(servers('gateways_http'), ['gatehouse-1 gatehouse-1:8080', 'gatehouse-2 gatehouse-2:8080']);
    assert.deepEqual(servers('gateways_postgres'), ['gatehouse-1 gatehouse-1:15432', 'gatehouse-2 gatehouse-2:15432']);
    assert.deepEqual(loadCompose(COMPOSE, DOT_ENV).services.lb!.ports, ['127.0.0.1:8080:8080', '127.0.0.1:15432:15432']);
  });
});

describe('docker-compose.yml: what the checks refuse', () => {
  const refused = async (problems: Promise<string[]>, expected: RegExp) => {
    const found = await problems;
    assert.ok(found.some((p) => expected.test(p)), `expected a problem matching ${expected}, got:\n${found.join('\n') || '(none)'}`);
  };
  const DC = 'docker-compose.yml';
  const LB = 'deploy/compose/haproxy.cfg';
  const CONFIG = 'deploy/compose/gatehouse.yaml';

  test('one replica only', () => refused(problemsOf({ [DC]: replace('  gatehouse-2:\n    <<: *replica\n', '') }), /1 gateway replica\(s\) start by default/));
  test('a replica with its own master key', () =>
    refused(problemsOf({ [DC]: replace('  gatehouse-2:\n    <<: *replica\n', '  gatehouse-2:\n    <<: *replica\n    environment:\n      GATEHOUSE_MASTER_KEY: ${OTHER_KEY:-0000000000000000000000000000000000000000000000000000000000000000}\n      GATEHOUSE_ADMIN_TOKEN: ${GATEHOUSE_ADMIN_TOKEN}\n      GATEHOUSE_DATABASE_URL: postgres://gatehouse:${POSTGRES_PASSWORD}@postgres:5432/gatehouse\n      OPENAI_API_KEY: x\n') }), /the replicas get different GATEHOUSE_MASTER_KEY values/));
  test('a store URL that is not the compose PostgreSQL', () => refused(problemsOf({ [DC]: replace('@postgres:5432/gatehouse', '@db:5432/gatehouse') }), /GATEHOUSE_DATABASE_URL is not the postgres service's database/));
  test('a mounted file that does not exist', () => refused(problemsOf({ [DC]: replace('./deploy/compose/haproxy.cfg:', './deploy/compose/haproxy.conf:') }), /mounts \.\/deploy\/compose\/haproxy\.conf, which does not exist/));
  test('a GATEHOUSE_ variable the gateway never reads', () => refused(problemsOf({ [DC]: replace('  environment:\n    GATEHOUSE_DATABASE_URL', '  environment:\n    GATEHOUSE_WORKERS: "2"\n    GATEHOUSE_DATABASE_URL') }), /GATEHOUSE_WORKERS: the gateway reads no such variable/));
  test('a ${NAME} in the gateway config that the service does not set', () => refused(problemsOf({ [DC]: replace('    OPENAI_API_KEY: ${OPENAI_API_KEY:?set OPENAI_API_KEY in .env}\n', '') }), /references \$\{OPENAI_API_KEY\}, which the service's environment does not set/));
  test('replicas that do not wait for a healthy PostgreSQL', () => refused(problemsOf({ [DC]: replace('condition: service_healthy\n  environment', 'condition: service_started\n  environment') }), /does not wait for postgres to be healthy/));
  test('a stop grace period shorter than the drain', () => refused(problemsOf({ [DC]: replace('stop_grace_period: 30s', 'stop_grace_period: 15s') }), /stop_grace_period 15s is not above shutdown\.drainTimeout 20s/));
  test('a healthcheck that asks liveness instead of readiness', () => refused(problemsOf({ [DC]: replace("127.0.0.1:8080/readyz", '127.0.0.1:8080/healthz') }), /healthcheck does not ask \/readyz on port 8080/));
  test('the load balancer published beyond loopback', () => refused(problemsOf({ [DC]: replace('"127.0.0.1:15432:15432"', '"15432:15432"') }), /publishes 15432 beyond the host's loopback/));
  test('a load balancer that does not wait for the replicas', () => refused(problemsOf({ [DC]: replace('      gatehouse-2:\n        condition: service_healthy\n', '') }), /lb: does not wait for gatehouse-2 to be healthy/));
  test('the single gateway without a published port', () => refused(problemsOf({ [DC]: replace('    ports:\n      - "127.0.0.1:8080:8080"\n\nvolumes:', '\nvolumes:') }), /gatehouse: publishes no 127\.0\.0\.1 port/));
  test('syntax Compose has but this check does not read', () => assert.throws(() => loadCompose(COMPOSE.replace('${OPENAI_API_KEY:?set OPENAI_API_KEY in .env}', '${OPENAI_API_KEY:+x}'), DOT_ENV), /interpolation this check does not understand/));
  test('a key written twice', () => assert.throws(() => loadCompose(COMPOSE.replace('    image: postgres:16\n', '    image: postgres:16\n    image: postgres:17\n'), DOT_ENV), /docker-compose\.yml: .*[Uu]nique|duplicate/i));
  test('interpolation: defaults, required, $$', () => {
    assert.equal(interpolate('${A:-x}/${B-y}/$${C}', { B: '' }, 't'), 'x//${C}');
    assert.throws(() => interpolate('${A?gone}', {}, 't'), /gone/);
    assert.equal(interpolate('${A?gone}', { A: '' }, 't'), '');
  });

  test('a server on the wrong port', () => refused(problemsOf({ [LB]: replace('server gatehouse-2 gatehouse-2:8080 check', 'server gatehouse-2 gatehouse-2:8081 check') }), /server gatehouse-2 uses port 8081, but gatehouse-2 listens on 8080/));
  test('a replica missing from a backend', () => refused(problemsOf({ [LB]: replace('    server gatehouse-2 gatehouse-2:15432 check port 8080\n', '') }), /backend gateways_postgres: replica gatehouse-2 is not a server/));
  test('health from /healthz (alive) instead of /readyz (ready)', () => refused(problemsOf({ [LB]: replace('option httpchk GET /readyz', 'option httpchk GET /healthz') }), /backend gateways_http: health is not GET \/readyz/));
  test('the PostgreSQL backend checked on its own port, where no HTTP answers', () => refused(problemsOf({ [LB]: replace('gatehouse-1:15432 check port 8080', 'gatehouse-1:15432 check') }), /server gatehouse-1 checks port 15432, but \/readyz is on 8080/));
  test('a client\'s X-Forwarded-For passed through to a gateway that trusts it', () => refused(problemsOf({ [LB]: replace('    http-request del-header X-Forwarded-For\n', '') }), /X-Forwarded-For reaches the gateway/));
  test('a frontend on a port the load balancer does not publish', () => refused(problemsOf({ [LB]: replace('bind :15432', 'bind :5432') }), /binds 5432, which lb does not publish/));
  test('a default_backend that does not exist', () => refused(problemsOf({ [LB]: replace('default_backend gateways_postgres', 'default_backend gateway_postgres') }), /default_backend gateway_postgres does not exist/));
  test('a section HAProxy would not know', () => refused(problemsOf({ [LB]: replace('defaults\n', 'default\n') }), /"default" is not a section/));

  test('the replicas\' HTTP listener on loopback', () => refused(problemsOf({ [CONFIG]: replace('listen: 0.0.0.0:8080', 'listen: 127.0.0.1:8080') }), /http\.listen is 127\.0\.0\.1, unreachable/));
  test('a PostgreSQL listener that refuses every token arriving through the load balancer', () => refused(problemsOf({ [CONFIG]: replace('  allowCleartextOverNetwork: true\n', '') }), /refuses tokens from the load balancer/));
  test('a replica config the gateway refuses', () => refused(problemsOf({ [CONFIG]: replace('trustProxy: true', 'trustProxy: yes-please') }), /trustProxy/));
});
