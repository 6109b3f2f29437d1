/**
 * Workload identity federation end to end: a CI-style token from a real OIDC provider on loopback
 * (standing in for GitHub Actions' issuer) is exchanged at POST /api/v1/oauth2/token (RFC 8693) for
 * a gth_ token of the mapped service account, which then reaches the connection it was granted.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { claimMatches, globMatches } from '../../src/identity/workload-trust.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

interface Setup {
  gw: TestGateway;
  ci: TestOidcProvider;
  sent: string[];
}

async function start(t: TestContext): Promise<Setup> {
  const ci = await startOidcProvider({ alg: 'ES256' });
  t.after(() => ci.close());
  const gw = await startTestGateway({
    extraYaml: `
identity:
  workload:
    trust:
      - name: github-deploy
        issuer: ${ci.issuer}
        audience: gatehouse
        conditions:
          repository: acme/payments
          ref: refs/heads/main
        serviceAccount: ci-deployer
        connections: [openai]
        ttl: 15m
      - name: release-branches
        issuer: ${ci.issuer}
        audience: [gatehouse, gatehouse-release]
        conditions:
          repository: [acme/payments, acme/billing]
          ref: refs/heads/release/*
        serviceAccount: ci-deployer
        ttl: 5m
      - name: orphan
        issuer: ${ci.issuer}
        audience: gatehouse
        conditions:
          repository: acme/orphan
        serviceAccount: does-not-exist
`,
  });
  t.after(() => gw.close());
  const created = await gw.api('POST', '/service-accounts', { name: 'ci-deployer', owner: 'admin', connections: ['openai', 'other'], expires: '30d' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  return { gw, ci, sent: [] };
}

/** What GitHub Actions puts in a job's OIDC token (the claims Gatehouse conditions read). */
function ciClaims(ci: TestOidcProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: 'repo:acme/payments:ref:refs/heads/main',
    aud: 'gatehouse',
    repository: 'acme/payments',
    repository_owner: 'acme',
    ref: 'refs/heads/main',
    workflow: 'deploy',
    event_name: 'push',
    run_id: '1234567890',
    jti: `jti-${now}-${Math.random()}`,
    iat: now,
    nbf: now,
    exp: now + 300,
    iss: ci.issuer,
    ...extra,
  };
}

async function exchange(s: Setup, params: Record<string, string>, as: 'form' | 'json' = 'form') {
  if (params.subject_token) s.sent.push(params.subject_token);
  const res = await fetch(`${s.gw.url}/api/v1/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': as === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: as === 'form' ? new URLSearchParams(params).toString() : JSON.stringify(params),
  });
  return { status: res.status, json: (await res.json()) as any, headers: res.headers };
}

const request = (subjectToken: string, extra: Record<string, string> = {}) => ({
  grant_type: GRANT,
  subject_token: subjectToken,
  subject_token_type: JWT_TYPE,
  ...extra,
});

async function chat(gw: TestGateway, connection: string, token: string): Promise<{ status: number; code: string | null }> {
  const res = await fetch(`${gw.url}/proxy/${connection}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return { status: res.status, code: res.headers.get('x-gatehouse-error') };
}

test('a CI token whose claims match a trust buys a gth_ token of its service account, narrowed to the trust', async (t) => {
  const s = await start(t);
  const res = await exchange(s, request(await s.ci.sign(ciClaims(s.ci))));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.match(res.json.access_token, /^gth_[A-Za-z0-9]{40}$/);
  assert.equal(res.json.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
  assert.equal(res.json.token_type, 'Bearer');
  assert.equal(res.json.expires_in, 900);
  assert.equal(res.json.scope, 'openai');
  assert.equal(res.headers.get('cache-control'), 'no-store');

  // The token reaches the trust's connection, and not the service account's other one.
  assert.equal((await chat(s.gw, 'openai', res.json.access_token)).status, 200);
  assert.deepEqual(await chat(s.gw, 'other', res.json.access_token), { status: 403, code: 'forbidden_connection' });

  // It belongs to the service account: disabling the account revokes it.
  const tokens = await s.gw.api('GET', '/tokens');
  const issued = tokens.json.tokens.find((tok: any) => tok.name.includes('workload github-deploy'));
  assert.equal(issued.principal, 'ci-deployer');
  assert.equal((await s.gw.api('DELETE', '/service-accounts/ci-deployer')).status, 200);
  assert.equal((await chat(s.gw, 'openai', res.json.access_token)).code, 'auth_revoked');
  // …and a disabled account buys no new one.
  const after = await exchange(s, request(await s.ci.sign(ciClaims(s.ci))));
  assert.equal(after.status, 400);
  assert.equal(after.json.error, 'invalid_grant');
  assert.equal(after.json.gatehouse_code, 'auth_revoked');

  const audited = (await s.gw.api('GET', '/audit/events?action=oauth2TokenExchange')).json.events;
  assert.equal(audited.length, 1, 'the exchange that succeeded is an audit event; the refused one is only logged');
  assert.equal(audited[0].actorName, 'ci-deployer');
  assert.equal(audited[0].actorKind, 'service_account');
  assert.equal(audited[0].details.trust, 'github-deploy');
  assert.ok(!JSON.stringify(audited).includes(res.json.access_token));

  const exchanged = s.gw.logs.filter((line) => line.includes('"event":"workload.exchange"'));
  assert.equal(exchanged.length, 1);
  assert.match(exchanged[0]!, /"trust":"github-deploy"/);
  assert.match(exchanged[0]!, /"serviceAccount":"ci-deployer"/);
  for (const secret of [...s.sent, res.json.access_token]) {
    for (const line of s.gw.logs) assert.ok(!line.includes(secret) && !line.includes(secret.split('.').pop()!), 'no token in any log line');
  }
});

test('JSON bodies work like forms; a list of values and a * pattern select the second trust; scope narrows', async (t) => {
  const s = await start(t);
  const release = await exchange(s, request(await s.ci.sign(ciClaims(s.ci, { repository: 'acme/billing', ref: 'refs/heads/release/2.4' }))), 'json');
  assert.equal(release.status, 200, JSON.stringify(release.json));
  assert.equal(release.json.expires_in, 300);
  assert.equal(release.json.scope, 'openai other');

  const narrowed = await exchange(s, request(await s.ci.sign(ciClaims(s.ci, { ref: 'refs/heads/release/x', aud: 'gatehouse-release' })), { scope: 'other' }));
  assert.equal(narrowed.status, 200, JSON.stringify(narrowed.json));
  assert.equal(narrowed.json.scope, 'other');
  assert.equal((await chat(s.gw, 'openai', narrowed.json.access_token)).code, 'forbidden_connection');

  // The main-branch trust reaches openai only: asking for more is invalid_target.
  for (const scope of ['other', 'openai other', 'openai nonexistent']) {
    const wide = await exchange(s, request(await s.ci.sign(ciClaims(s.ci)), { scope }));
    assert.equal(wide.status, 400, scope);
    assert.equal(wide.json.error, 'invalid_target', scope);
    assert.equal(wide.json.gatehouse_code, 'forbidden_connection');
  }
});

test('CI tokens whose claims do not match are refused without telling the caller what the trust wants', async (t) => {
  const s = await start(t);
  const mismatches: [string, Record<string, unknown>][] = [
    ['another repository', { repository: 'acme/other' }],
    ['a feature branch', { ref: 'refs/heads/feature/x' }],
    ['a branch that only starts like main', { ref: 'refs/heads/main-evil' }],
    ['a repository in another case', { repository: 'Acme/Payments' }],
    ['a repository with a trailing space', { repository: 'acme/payments ' }],
    ['a repository given as a list', { repository: ['acme/payments'] }],
    ['a repository given as an object', { repository: { name: 'acme/payments' } }],
    ['no repository claim', { repository: undefined }],
    ['a look-alike repository (Cyrillic а)', { repository: 'аcme/payments' }],
    ['a ref with a NUL', { ref: 'refs/heads/main\u0000' }],
    ['the release pattern, with a repository outside its list', { repository: 'evil/payments', ref: 'refs/heads/release/1' }],
  ];
  for (const [name, extra] of mismatches) {
    const res = await exchange(s, request(await s.ci.sign(ciClaims(s.ci, extra))));
    assert.equal(res.status, 400, name);
    assert.equal(res.json.error, 'invalid_grant', name);
    assert.equal(res.json.gatehouse_code, 'auth_conditions_unmet', name);
    assert.doesNotMatch(res.json.error_description, /acme\/payments|refs\/heads/, `${name}: the trust's conditions stay private`);
  }
  const refused = s.gw.logs.filter((line) => line.includes('"event":"workload.exchange_refused"'));
  assert.equal(refused.length, mismatches.length);
  assert.ok(refused[0]!.includes('"claim":"repository"') && refused[0]!.includes('acme/other'), 'the log says which condition failed');

  // A trust naming a service account that does not exist refuses too.
  const orphan = await exchange(s, request(await s.ci.sign(ciClaims(s.ci, { repository: 'acme/orphan' }))));
  assert.equal(orphan.json.gatehouse_code, 'auth_revoked');
});

test('refusals of the token itself: expired, wrong audience, unknown issuer, forged, alg none', async (t) => {
  const s = await start(t);
  const other = await startOidcProvider({ alg: 'ES256' });
  t.after(() => other.close());
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const cases: [string, () => Promise<string>, string][] = [
    ['expired', () => s.ci.sign(ciClaims(s.ci, { iat: now - 3600, nbf: now - 3600, exp: now - 600 })), 'auth_expired'],
    ['not yet valid', () => s.ci.sign(ciClaims(s.ci, { nbf: now + 600 })), 'auth_not_yet_valid'],
    ['wrong audience', () => s.ci.sign(ciClaims(s.ci, { aud: 'sts.amazonaws.com' })), 'auth_wrong_audience'],
    ['an issuer no trust names', () => other.sign(ciClaims(other)), 'auth_unknown_issuer'],
    ['our issuer, signed by another provider', () => other.sign(ciClaims(s.ci), { header: { kid: s.ci.currentKid } }), 'auth_bad_signature'],
    ['alg none', async () => `${b64({ alg: 'none' })}.${b64(ciClaims(s.ci))}.`, 'auth_alg_refused'],
    ['no subject', () => s.ci.sign(ciClaims(s.ci, { sub: undefined })), 'auth_claim_missing'],
  ];
  for (const [name, make, code] of cases) {
    const res = await exchange(s, request(await make()));
    assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error, 'invalid_grant', name);
    assert.equal(res.json.gatehouse_code, code, name);
    assert.equal(res.headers.get('x-gatehouse-error'), code);
  }
});

test('malformed exchange requests get RFC 6749 errors', async (t) => {
  const s = await start(t);
  const token = await s.ci.sign(ciClaims(s.ci));
  const post = async (body: string, type: string) => {
    const res = await fetch(`${s.gw.url}/api/v1/oauth2/token`, { method: 'POST', headers: { 'content-type': type }, body });
    return { status: res.status, json: (await res.json()) as any };
  };
  const form = 'application/x-www-form-urlencoded';
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const cases: [string, string, string, string][] = [
    ['another grant type', q({ ...request(token), grant_type: 'client_credentials' }), form, 'unsupported_grant_type'],
    ['no subject token', q({ grant_type: GRANT, subject_token_type: JWT_TYPE }), form, 'invalid_request'],
    ['no subject token type', q({ grant_type: GRANT, subject_token: token }), form, 'invalid_request'],
    ['a SAML subject token type', q(request(token, { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' })), form, 'invalid_request'],
    ['a refresh token requested', q(request(token, { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' })), form, 'invalid_request'],
    ['delegation (actor_token)', q(request(token, { actor_token: token, actor_token_type: JWT_TYPE })), form, 'invalid_request'],
    ['subject_token twice in a form', `${q(request(token))}&subject_token=${encodeURIComponent(token)}`, form, 'invalid_request'],
    ['grant_type twice in a form', `${q(request(token))}&grant_type=x`, form, 'invalid_request'],
    ['subject_token twice in JSON', `{"grant_type":"${GRANT}","subject_token_type":"${JWT_TYPE}","subject_token":"x","subject_token":"${token}"}`, 'application/json', 'invalid_request'],
    ['subject_token as a number', JSON.stringify({ ...request(token), subject_token: 42 }), 'application/json', 'invalid_request'],
    ['subject_token as a list', JSON.stringify({ ...request(token), subject_token: [token] }), 'application/json', 'invalid_request'],
    ['JSON that is not JSON', '{"grant_type":', 'application/json', 'invalid_request'],
    ['an empty form', '', form, 'invalid_request'],
    ['a body over 64 KiB', q(request(token, { scope: 'x'.repeat(70_000) })), form, 'invalid_request'],
    ['__proto__ and constructor parameters beside a missing subject token', `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(JWT_TYPE)}&__proto__=x&constructor=y`, form, 'invalid_request'],
    ['a subject token that is a gts_ secret', q(request('gts_0123456789012345678901234567890123456789')), form, 'invalid_grant'],
  ];
  for (const [name, body, type, error] of cases) {
    const res = await post(body, type);
    assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error, error, name);
    assert.equal(typeof res.json.error_description, 'string');
  }
  // The same token still works: nothing above consumed or banned it.
  assert.equal((await exchange(s, request(token))).status, 200);
});

test('condition patterns: exact, lists, and * as any run of characters', () => {
  assert.equal(globMatches('refs/heads/main', 'refs/heads/main'), true);
  assert.equal(globMatches('refs/heads/main', 'refs/heads/main2'), false);
  assert.equal(globMatches('refs/heads/release/*', 'refs/heads/release/'), true);
  assert.equal(globMatches('refs/heads/release/*', 'refs/heads/release/1.2/hotfix'), true);
  assert.equal(globMatches('refs/heads/release/*', 'refs/heads/releases/1'), false);
  assert.equal(globMatches('repo:acme/*:ref:refs/heads/main', 'repo:acme/x:ref:refs/heads/main'), true);
  assert.equal(globMatches('repo:acme/*:ref:refs/heads/main', 'repo:acme/x:ref:refs/heads/main:evil'), false);
  assert.equal(globMatches('*a*a*a*a*a*b', 'a'.repeat(5000)), false, 'no exponential backtracking');
  assert.equal(claimMatches('acme/payments', ['acme/billing', 'acme/payments']), true);
  assert.equal(claimMatches(true, ['true']), false);
  assert.equal(claimMatches(42, ['42']), false);
  assert.equal(claimMatches(['acme/payments'], ['acme/payments']), false);
});
