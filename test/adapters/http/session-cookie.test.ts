/**
 * The gateway's session cookie (a gta_ admin-API token a browser sign-in leaves) never crosses the
 * HTTP proxy: on a passCookies connection the agent's other cookies go to the upstream and the
 * upstream's Set-Cookie comes back, but neither direction carries gatehouse_session, in any
 * spelling something on either side might take for it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { Connection } from '../../../src/connections/registry.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../../src/adapters/http/upstream.ts';
import { HOST_SESSION_COOKIE, SESSION_COOKIE, isSessionCookie, sessionCookieName } from '../../../src/identity/session-cookie.ts';

const SECRET = 'gta_0123456789abcdefghijABCDEFGHIJ0123456789';

function connection(passCookies: boolean): Connection {
  return { name: 'web', type: 'http', tags: [], upstream: new URL('http://127.0.0.1:9/'), credential: undefined, passCookies, source: 'config' };
}

const forwarded = (cookie: string | string[], passCookies = true) =>
  upstreamRequestHeaders({ cookie, accept: 'text/html' } as IncomingHttpHeaders, connection(passCookies), null, false).cookie;

const returned = (setCookie: string[], passCookies = true) =>
  clientResponseHeaders({ 'set-cookie': setCookie, 'content-type': 'text/html' }, false, connection(passCookies), null)['set-cookie'];

describe('the session cookie’s name', () => {
  it('carries the __Host- prefix over https only', () => {
    assert.equal(sessionCookieName(true), '__Host-gatehouse_session');
    assert.equal(sessionCookieName(false), 'gatehouse_session');
    assert.equal(HOST_SESSION_COOKIE, `__Host-${SESSION_COOKIE}`);
  });

  const spellings: [string, boolean][] = [
    ['gatehouse_session', true],
    ['__Host-gatehouse_session', true],
    ['__host-gatehouse_session', true],
    ['__Secure-gatehouse_session', true],
    ['GATEHOUSE_SESSION', true],
    [' gatehouse_session ', true],
    ['\tgatehouse_session', true],
    ['gatehouse_session2', false],
    ['my_gatehouse_session', false],
    ['gatehouse-session', false],
    ['gatehouse_sessions', false],
    ['__Host-__Host-gatehouse_session', false],
    ['', false],
  ];
  for (const [name, expected] of spellings) {
    it(`${JSON.stringify(name)} ${expected ? 'is' : 'is not'} the session cookie`, () => assert.equal(isSessionCookie(name), expected));
  }
});

describe('requests to the upstream', () => {
  const cases: [string, string | string[], string | undefined][] = [
    ['alone', `gatehouse_session=${SECRET}`, undefined],
    ['the https name alone', `__Host-gatehouse_session=${SECRET}`, undefined],
    ['first of several', `gatehouse_session=${SECRET}; theme=dark; sid=abc`, 'theme=dark; sid=abc'],
    ['in the middle', `theme=dark; __Host-gatehouse_session=${SECRET}; sid=abc`, 'theme=dark; sid=abc'],
    ['last', `theme=dark; gatehouse_session=${SECRET}`, 'theme=dark'],
    ['twice, both spellings', `gatehouse_session=${SECRET}; a=1; __Host-gatehouse_session=${SECRET}`, 'a=1'],
    ['no blank after the semicolon', `a=1;gatehouse_session=${SECRET};b=2`, 'a=1; b=2'],
    ['blanks around the name', `a=1;   gatehouse_session  =${SECRET}`, 'a=1'],
    ['upper case', `GATEHOUSE_SESSION=${SECRET}; a=1`, 'a=1'],
    ['without a value', 'gatehouse_session; a=1', 'a=1'],
    ['with an empty value', 'gatehouse_session=; a=1', 'a=1'],
    ['a quoted value', `gatehouse_session="${SECRET}"; a=1`, 'a=1'],
    ['in two Cookie headers (HTTP/2)', [`a=1`, `gatehouse_session=${SECRET}; b=2`], 'a=1; b=2'],
    ['empty pairs around it', `;;gatehouse_session=${SECRET};;`, undefined],
    ['a value that merely mentions it', 'note=gatehouse_session; a=1', 'note=gatehouse_session; a=1'],
    ['look-alike names are the upstream’s', 'gatehouse_session2=x; gatehouse-session=y', 'gatehouse_session2=x; gatehouse-session=y'],
  ];
  for (const [name, cookie, expected] of cases) {
    it(`strips the session cookie: ${name}`, () => {
      const out = forwarded(cookie);
      assert.equal(out, expected);
      assert.ok(!JSON.stringify(out ?? '').includes(SECRET));
    });
  }

  it('without passCookies no cookie goes at all, as before', () => {
    assert.equal(forwarded(`gatehouse_session=${SECRET}; a=1`, false), undefined);
  });
});

describe('responses to the client', () => {
  const cases: [string, string[], string[] | undefined][] = [
    ['setting it', [`gatehouse_session=evil; Path=/`], undefined],
    ['setting the https name', [`__Host-gatehouse_session=evil; Path=/; Secure`], undefined],
    ['clearing it', ['gatehouse_session=; Max-Age=0; Path=/'], undefined],
    ['in another case', ['Gatehouse_Session=evil'], undefined],
    ['with __Secure-', ['__Secure-gatehouse_session=evil; Secure'], undefined],
    ['with blanks', ['  gatehouse_session = evil'], undefined],
    ['without a value', ['gatehouse_session'], undefined],
    ['beside the upstream’s own', ['sid=abc; HttpOnly', 'gatehouse_session=evil; Path=/', 'theme=dark'], ['sid=abc; HttpOnly', 'theme=dark']],
    ['the upstream’s own only', ['sid=abc; Path=/app'], ['sid=abc; Path=/app']],
    ['an attribute that mentions it', ['sid=abc; Comment=gatehouse_session'], ['sid=abc; Comment=gatehouse_session']],
  ];
  for (const [name, setCookie, expected] of cases) {
    it(`drops a Set-Cookie for the session cookie: ${name}`, () => assert.deepEqual(returned(setCookie), expected));
  }

  it('without passCookies no Set-Cookie comes back at all, as before', () => {
    assert.equal(returned(['sid=abc', 'gatehouse_session=evil'], false), undefined);
  });
});
