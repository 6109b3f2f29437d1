/**
 * docs/identity.md's OIDC sign-in and workload federation commands, run with bash against a gateway
 * this file starts, which trusts a real OIDC provider on loopback (standing in for Okta and for
 * GitHub's token issuer). The GitHub Actions step runs as written, against a stand-in for the
 * runner's ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) that hands out the provider's tokens.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute, type ShellResult } from './support/shell.ts';

let gw: TestGateway;
let idp: TestOidcProvider;
let runner: Server;
let runnerUrl: string;
let shims: string;
let cwd: string;
const REQUEST_TOKEN = `runner-${randomBytes(8).toString('hex')}`;

/** What GitHub's token service answers a job, for the audience it asks for. */
async function ciToken(audience: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return idp.sign({ sub: 'repo:acme/payments:ref:refs/heads/main', aud: audience, repository: 'acme/payments', ref: 'refs/heads/main', iat: now, nbf: now, exp: now + 300 });
}

before(async () => {
  idp = await startOidcProvider();
  idp.setAccount('alice', { email: 'alice@example.com', email_verified: true, groups: ['engineering'] });
  gw = await startTestGateway({
    extraYaml: `
identity:
  oidc:
    issuers:
      - name: okta
        issuer: ${idp.issuer}
        clientId: ${idp.clientId}
        usernameClaim: email
  workload:
    trust:
      - name: github-deploy
        issuer: ${idp.issuer}
        audience: gatehouse
        conditions:
          repository: acme/payments
          ref: refs/heads/main
        serviceAccount: ci-deployer
        connections: [openai]
        ttl: 15m
`,
  });
  const created = await gw.api('POST', '/service-accounts', { name: 'ci-deployer', owner: 'admin', connections: ['openai'], expires: '30d' });
  assert.equal(created.status, 201);
  runner = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://runner');
    if (req.headers.authorization !== `Bearer ${REQUEST_TOKEN}` || url.searchParams.get('api-version') !== '2.0') {
      return void res.writeHead(401).end();
    }
    void ciToken(url.searchParams.get('audience') ?? 'https://github.com/acme').then((value) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })),
    );
  });
  await new Promise<void>((resolve) => runner.listen(0, '127.0.0.1', resolve));
  runnerUrl = `http://127.0.0.1:${(runner.address() as AddressInfo).port}/token?api-version=2.0`;
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-identity-'));
});

after(async () => {
  await gw.close();
  await idp.close();
  await new Promise((resolve) => runner.close(resolve));
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

async function sh(command: string, extra: NodeJS.ProcessEnv = {}): Promise<ShellResult> {
  const result = await runBash(command, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: gw.url, ...extra }) });
  assert.equal(result.code, 0, describe(command, result));
  return result;
}

async function chat(token: string): Promise<number> {
  const res = await fetch(`${gw.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

const CASES: Record<string, () => Promise<void>> = {
  'docs/identity.md › OIDC sign-in › 2': async () => {
    const [config, signIn] = commandsOf(docBlock('docs/identity.md › OIDC sign-in › 2').text) as [string, string];
    const listed = JSON.parse((await sh(config)).stdout);
    assert.deepEqual(listed.issuers.map((i: { name: string }) => i.name), ['okta']);
    const answer = JSON.parse((await sh(signIn, { ID_TOKEN: await idp.idToken('alice') })).stdout);
    assert.match(answer.token, /^gta_/);
    assert.deepEqual(answer.principal, { name: 'alice@example.com', groups: ['engineering'] });
    // The ID token from another audience is refused with its code, through the same command.
    const refused = JSON.parse((await sh(signIn, { ID_TOKEN: await idp.idToken('alice', { audience: 'another-app' }) })).stdout);
    assert.equal(refused.error.code, 'auth_wrong_audience');
  },

  'docs/identity.md › GitHub Actions › 1': async () => {
    const step = substitute(docBlock('docs/identity.md › GitHub Actions › 1').text, [['"gpt-4o-mini"', '"demo"']]);
    const out = await sh(step, { ACTIONS_ID_TOKEN_REQUEST_URL: runnerUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN });
    const masked = /^::add-mask::(gth_\w+)$/m.exec(out.stdout);
    assert.ok(masked, out.stdout);
    const completion = JSON.parse(out.stdout.slice(out.stdout.indexOf('{')));
    assert.equal(completion.object, 'chat.completion');
    assert.equal(await chat(masked[1]!), 200);
  },

  'docs/identity.md › GitHub Actions › 2': async () => {
    await writeFile(join(cwd, 'ci-token.jwt'), `${await ciToken('gatehouse')}\n`);
    const [fromFile, fromStdin] = commandsOf(docBlock('docs/identity.md › GitHub Actions › 2').text) as [string, string];
    const first = (await sh(fromFile)).stdout.trim();
    assert.match(first, /^gth_\w{40}$/);
    assert.equal(await chat(first), 200);
    const second = (await sh(fromStdin)).stdout.trim();
    assert.match(second, /^gth_\w{40}$/);
    assert.notEqual(second, first);
    // A token whose claims meet no trust: the CLI fails with the code.
    await writeFile(join(cwd, 'ci-token.jwt'), await idp.sign({ sub: 'x', aud: 'gatehouse', repository: 'evil/fork', ref: 'refs/heads/main', exp: Math.floor(Date.now() / 1000) + 300 }));
    const refused = await runBash(fromFile, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: gw.url, GATEHOUSE_TOKEN: ADMIN_TOKEN }) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /auth_conditions_unmet/);
  },
};

test('this file has a case for exactly the blocks the manifest assigns it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('identity-federation-doc.test.ts'));
});

for (const [id, run] of Object.entries(CASES)) test(id, run);
