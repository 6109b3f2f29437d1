/**
 * Where a browser may be sent after signing in: a path on this gateway, nothing else. Checked as a
 * function (every trick we know) and on the real login route, which refuses before any redirect.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { safeRelayPath } from '../../src/identity/saml/relay-state.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { createTestIdp, samlYaml, startLogin } from '../support/saml-idp.ts';

const SAFE = ['/', '/console', '/console/sessions?id=ses_1&page=2', '/console#audit', '/a/b/c.d/e..f', '/next?to=//x', '/%E2%9C%93', '/search?q=a%20b'];

const HOSTILE: [string, unknown][] = [
  ['protocol-relative', '//evil.test/x'],
  ['absolute https', 'https://evil.test/'],
  ['absolute http', 'http://evil.test'],
  ['javascript: URL', 'javascript:alert(1)'],
  ['data: URL', 'data:text/html,<script>alert(1)</script>'],
  ['backslash after the slash', '/\\evil.test'],
  ['two backslashes', '\\\\evil.test'],
  ['encoded second slash', '/%2Fevil.test'],
  ['encoded double slash', '/%2F%2Fevil.test'],
  ['encoded backslash', '/%5Cevil.test'],
  ['lower-case encoded backslash', '/%5cevil.test'],
  ['tab inside', '/\t/evil.test'],
  ['encoded tab', '/%09/evil.test'],
  ['header splitting', '/ok\r\nSet-Cookie: gatehouse_session=evil'],
  ['encoded header splitting', '/ok%0d%0aSet-Cookie:%20x'],
  ['NUL', '/ok\u0000'],
  ['encoded NUL', '/ok%00'],
  ['space', '/ ok'],
  ['non-ASCII look-alike slash', '/\u2215evil.test'],
  ['fullwidth slashes', '\uff0f\uff0fevil.test'],
  ['relative without a slash', 'console'],
  ['dot segments leading to a double slash', '/..//evil.test'],
  ['encoded dot segments', '/%2E%2E/%2Fevil.test'],
  ['an empty segment', '/console//evil.test'],
  ['a dot segment', '/a/./b'],
  ['an empty segment behind an encoded question mark', '/a%3F//evil.test'],
  ['bad percent escape', '/%E0%A4%A'],
  ['empty', ''],
  ['too long', `/${'a'.repeat(600)}`],
  ['not a string', ['/a', '/b']],
  ['a number', 42],
];

test('safe paths pass unchanged', () => {
  for (const path of SAFE) assert.equal(safeRelayPath(path), path, path);
});

test('every off-site, encoded or malformed target is refused', () => {
  for (const [name, value] of HOSTILE) assert.equal(safeRelayPath(value), null, name);
});

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway({ extraYaml: samlYaml(await createTestIdp()) });
});
after(() => gw?.close());

test('the login route carries a safe relay as RelayState and defaults to /', async () => {
  assert.equal((await startLogin(gw.url, '/console?x=1')).location.searchParams.get('RelayState'), '/console?x=1');
  assert.equal((await startLogin(gw.url)).location.searchParams.get('RelayState'), '/');
});

test('the login route refuses a hostile relay with invalid_argument and redirects nowhere', async () => {
  for (const [name, value] of HOSTILE.filter(([, v]) => typeof v === 'string' && v !== '')) {
    const response = await fetch(`${gw.url}/api/v1/saml/login?relay=${encodeURIComponent(value as string)}`, { redirect: 'manual' });
    const body = await response.json();
    assert.equal(response.status, 400, name);
    assert.equal(body.error.code, 'invalid_argument', name);
    assert.equal(response.headers.get('location'), null, name);
  }
});

test('relay given twice, or an unknown query parameter, is refused', async () => {
  for (const query of ['relay=/a&relay=/b', 'relay=/a&RelayState=//evil.test', 'next=/a']) {
    const response = await fetch(`${gw.url}/api/v1/saml/login?${query}`, { redirect: 'manual' });
    assert.equal(response.status, 400, query);
    assert.equal(response.headers.get('location'), null, query);
  }
});

test('each login sends a fresh request id', async () => {
  const [a, b] = await Promise.all([startLogin(gw.url), startLogin(gw.url)]);
  assert.notEqual(a.requestId, b.requestId);
  assert.match(a.requestId, /^_gh\./);
});
