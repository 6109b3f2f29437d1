/**
 * Workload trusts that share an issuer but not a key set: two Kubernetes clusters that both call
 * themselves https://kubernetes.default.svc.cluster.local, each serving its own JWKS on loopback.
 * A token may match only the trusts whose keys verified it, so the dev cluster cannot mint a token
 * for prod's service account, and prod's own tokens are not refused for being tried on dev's keys.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import pino from 'pino';
import { workloadConfigSchema } from '../../src/config/identity-oidc.ts';
import { GatewayError } from '../../src/errors.ts';
import { IssuerDirectory } from '../../src/identity/oidc/issuers.ts';
import { WorkloadAuthenticator } from '../../src/identity/workload-exchange.ts';
import { startTestGateway } from '../support/gateway.ts';

const ISS = 'https://kubernetes.default.svc.cluster.local';
const DEV_SUB = 'system:serviceaccount:ci:runner';
const PROD_SUB = 'system:serviceaccount:prod:deployer';

interface Cluster {
  readonly url: string;
  readonly kid: string;
  readonly jwk: JWK;
  /** Signs with this cluster's key; `kid` may name another key (or none). */
  sign(claims: Record<string, unknown>, header?: { kid?: string | undefined }): Promise<string>;
  /** Serve these keys from now on (another cluster's, for one). */
  serve(keys: JWK[]): void;
  /** 503 from now on. */
  fail(): void;
  hits(): number;
}

async function cluster(t: TestContext, name: string): Promise<Cluster> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `${name}-key`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let keys: JWK[] = [jwk];
  let failing = false;
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits += 1;
    if (failing) res.writeHead(503).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', () => ready()));
  t.after(() => new Promise<void>((done) => (server.closeAllConnections(), server.close(() => done()))));
  const key: CryptoKey = privateKey;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`,
    kid,
    jwk,
    sign: (claims, header = { kid }) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...(header.kid === undefined ? {} : { kid: header.kid }) }).sign(key),
    serve: (next) => void (keys = next),
    fail: () => void (failing = true),
    hits: () => hits,
  };
}

function trusts(dev: Cluster, prod: Cluster, extra = '') {
  return `
    trust:
      - name: dev-ci
        issuer: ${ISS}
        jwksUri: ${dev.url}
        audience: gatehouse
        conditions:
          sub: ${DEV_SUB}
        serviceAccount: dev-ci
      - name: prod-deploy
        issuer: ${ISS}
        jwksUri: ${prod.url}
        audience: gatehouse
        conditions:
          sub: ${PROD_SUB}
        serviceAccount: prod-deployer
${extra}`;
}

async function setup(t: TestContext) {
  const dev = await cluster(t, 'dev');
  const prod = await cluster(t, 'prod');
  const clock = { ms: Date.now() };
  const yaml = await import('yaml');
  const config = workloadConfigSchema.parse(yaml.parse(trusts(dev, prod)));
  const auth = new WorkloadAuthenticator(config, new IssuerDirectory(pino({ level: 'silent' }), { now: () => clock.ms }), () => clock.ms);
  const seconds = () => Math.floor(clock.ms / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, sub: PROD_SUB, aud: 'gatehouse', iat: seconds(), exp: seconds() + 600, ...extra });
  const outcome = async (token: string): Promise<string> => {
    try {
      return `trust:${(await auth.authenticate({ token })).trust.name}`;
    } catch (err) {
      assert.ok(err instanceof GatewayError, String(err));
      return err.code;
    }
  };
  return { dev, prod, clock, claims, outcome };
}

test('each cluster\'s tokens reach its own trusts only', async (t) => {
  const { dev, prod, claims, outcome } = await setup(t);
  assert.equal(await outcome(await prod.sign(claims())), 'trust:prod-deploy', 'prod\'s genuine token');
  assert.equal(await outcome(await dev.sign(claims({ sub: DEV_SUB }))), 'trust:dev-ci', 'dev\'s genuine token');
  assert.equal(await outcome(await dev.sign(claims())), 'auth_conditions_unmet', 'dev minting prod\'s subject');
  assert.equal(await outcome(await prod.sign(claims({ sub: DEV_SUB }))), 'auth_conditions_unmet', 'prod minting dev\'s subject');
});

test('hostile tokens across two key sets of one issuer', async (t) => {
  const s = await setup(t);
  const { dev, prod, claims, outcome, clock } = s;
  const attacker = await cluster(t, 'attacker');
  const seconds = Math.floor(clock.ms / 1000);
  const cases: [string, () => Promise<string>, string][] = [
    ['dev-signed, naming prod\'s kid', () => dev.sign(claims(), { kid: prod.kid }), 'auth_bad_signature'],
    ['prod-signed, naming dev\'s kid', () => prod.sign(claims(), { kid: dev.kid }), 'auth_bad_signature'],
    ['dev-signed, no kid, prod\'s subject', () => dev.sign(claims(), { kid: undefined }), 'auth_conditions_unmet'],
    ['prod-signed, no kid', () => prod.sign(claims(), { kid: undefined }), 'trust:prod-deploy'],
    ['an unknown key, prod\'s subject', () => attacker.sign(claims()), 'auth_unknown_key'],
    ['an unknown key, naming prod\'s kid', () => attacker.sign(claims(), { kid: prod.kid }), 'auth_bad_signature'],
    ['prod-signed, expired', () => prod.sign(claims({ iat: seconds - 7200, exp: seconds - 3600 })), 'auth_expired'],
    ['prod-signed, another audience', () => prod.sign(claims({ aud: 'someone-else' })), 'auth_wrong_audience'],
    ['prod-signed, issuer with a trailing slash', () => prod.sign(claims({ iss: `${ISS}/` })), 'auth_unknown_issuer'],
    ['dev-signed, prod\'s subject in another letter case', () => dev.sign(claims({ sub: PROD_SUB.toUpperCase() })), 'auth_conditions_unmet'],
    ['dev-signed, prod\'s subject as a list', () => dev.sign(claims({ sub: [PROD_SUB] })), 'auth_claim_missing'],
    ['prod\'s claims with dev\'s signature', async () => {
      const good = await prod.sign(claims());
      const other = await dev.sign(claims());
      return `${good.slice(0, good.lastIndexOf('.'))}${other.slice(other.lastIndexOf('.'))}`;
    }, 'auth_bad_signature'],
  ];
  for (const [name, make, expected] of cases) assert.equal(await outcome(await make()), expected, name);
});

test('prod\'s keys unreachable: prod\'s token is refused as unavailable (worth a retry), never matched to dev\'s trusts', async (t) => {
  const { prod, claims, outcome } = await setup(t);
  prod.fail();
  assert.equal(await outcome(await prod.sign(claims())), 'auth_issuer_unavailable');
});

test('one key set served at two addresses: a token verified by both may match either group\'s trusts', async (t) => {
  const { dev, prod, claims, outcome } = await setup(t);
  prod.serve([dev.jwk]);
  assert.equal(await outcome(await dev.sign(claims())), 'trust:prod-deploy');
});

test('through the gateway: the dev cluster cannot exchange a token for prod\'s service account; prod can', async (t) => {
  const dev = await cluster(t, 'dev');
  const prod = await cluster(t, 'prod');
  const gw = await startTestGateway({ extraYaml: `\nidentity:\n  workload:${trusts(dev, prod)}` });
  t.after(() => gw.close());
  for (const [name, connections] of [['dev-ci', ['other']], ['prod-deployer', ['openai']]] as const) {
    const created = await gw.api('POST', '/service-accounts', { name, owner: 'admin', connections, expires: '30d' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
  }
  const now = Math.floor(Date.now() / 1000);
  const exchange = async (subjectToken: string) => {
    const res = await fetch(`${gw.url}/api/v1/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subjectToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      }),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const claims = { iss: ISS, aud: 'gatehouse', iat: now, exp: now + 600 };

  const forged = await exchange(await dev.sign({ ...claims, sub: PROD_SUB }));
  assert.equal(forged.status, 400);
  assert.equal(forged.json.gatehouse_code, 'auth_conditions_unmet');
  assert.equal(forged.json.access_token, undefined);

  const genuine = await exchange(await prod.sign({ ...claims, sub: PROD_SUB }));
  assert.equal(genuine.status, 200, JSON.stringify(genuine.json));
  assert.equal(genuine.json.scope, 'openai');

  const devOwn = await exchange(await dev.sign({ ...claims, sub: DEV_SUB }));
  assert.equal(devOwn.status, 200, JSON.stringify(devOwn.json));
  assert.equal(devOwn.json.scope, 'other');
});
