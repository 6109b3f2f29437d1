import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequest } from '../../../src/errors.ts';
import { isOverrideParameter, MAX_PATH_LENGTH, normalizePath, normalizeProxyTarget, refuseOverrideHeaders } from '../../../src/adapters/http/path.ts';

/** A path and what it normalises to, or `null` when it must be refused with bad_request. */
const paths: readonly (readonly [name: string, raw: string, expected: string | null])[] = [
  // ordinary paths pass unchanged
  ['root', '/', '/'],
  ['empty', '', '/'],
  ['an OpenAI endpoint', '/v1/chat/completions', '/v1/chat/completions'],
  ['a trailing slash is kept', '/api/items/', '/api/items/'],
  ['reserved characters stay', "/a:b@c/!$&'()*+,=", "/a:b@c/!$&'()*+,="],
  ['an encoded space stays encoded', '/files/my%20file.txt', '/files/my%20file.txt'],
  ['encoded UTF-8 stays encoded, hex upper-cased', '/users/%c3%a9milie', '/users/%C3%A9milie'],
  ['an encoded question mark stays', '/a%3Fb', '/a%3Fb'],
  ['dots inside names are names', '/v1/file.name/..x/x../...', '/v1/file.name/..x/x../...'],
  ['an encoded percent sign alone', '/100%25', '/100%25'],
  // percent-encoded unreserved characters
  ['encoded letters', '/v1/%63hat/completions', '/v1/chat/completions'],
  ['a whole encoded segment', '/%61%64%6D%69%6E', '/admin'],
  ['encoded tilde, hyphen, underscore', '/%7euser/a%2Db%5Fc', '/~user/a-b_c'],
  // dot segments
  ['a dot segment', '/v1/./chat/completions', '/v1/chat/completions'],
  ['a double-dot segment', '/v1/x/../chat/completions', '/v1/chat/completions'],
  ['encoded dots', '/v1/x/%2e%2e/chat/completions', '/v1/chat/completions'],
  ['upper-case encoded dots', '/v1/x/%2E%2E/chat', '/v1/chat'],
  ['half-encoded dots', '/v1/x/.%2e/chat', '/v1/chat'],
  ['an encoded single dot', '/v1/%2e/chat', '/v1/chat'],
  ['a trailing dot segment keeps the slash', '/a/b/.', '/a/b/'],
  ['a trailing double dot keeps the slash', '/a/b/c/..', '/a/b/'],
  ['dots back to the root', '/a/..', '/'],
  ['dots from a deeper allowed path into /admin', '/public/../admin/users', '/admin/users'],
  // doubled slashes and empty segments
  ['doubled slashes', '//admin//users', '/admin/users'],
  ['many slashes', '/v1///chat////completions', '/v1/chat/completions'],
  ['only slashes', '////', '/'],
  ['a doubled trailing slash', '/a//', '/a/'],
  ['an empty segment before dots', '/a//../b', '/b'],
  // climbing above the base path
  ['.. at the root', '/..', null],
  ['.. after a climb back', '/a/../..', null],
  ['encoded .. at the root', '/%2e%2e/etc/passwd', null],
  ['.. past the start after empty segments', '//../x', null],
  ['many ..', '/a/b/../../../c', null],
  // slashes and backslashes that are not separators
  ['an encoded slash', '/v1%2Fchat/completions', null],
  ['a lower-case encoded slash', '/a%2fb', null],
  ['a raw backslash', '/a\\..\\admin', null],
  ['an encoded backslash', '/a%5C..%5Cadmin', null],
  ['a lower-case encoded backslash', '/a%5c..', null],
  // double encoding
  ['double-encoded dot', '/%252e%252e/admin', null],
  ['double-encoded slash', '/a%252Fb', null],
  ['double encoding spelled with encoded hex digits', '/%25%32%65', null],
  // overlong and invalid UTF-8, and compatibility forms
  ['overlong UTF-8 dot', '/%c0%ae%c0%ae/admin', null],
  ['overlong UTF-8 slash', '/a%c0%afb', null],
  ['a lone continuation byte', '/a%80', null],
  ['a truncated sequence', '/a%e2%82', null],
  ['fullwidth full stops', '/%EF%BC%8E%EF%BC%8E/admin', null],
  ['fullwidth solidus', '/a%EF%BC%8Fadmin', null],
  ['fullwidth letters', '/%EF%BD%81dmin', null],
  ['a two-dot leader', '/%E2%80%A5/admin', null],
  ['CJK text is fine', '/docs/%E6%97%A5%E6%9C%AC', '/docs/%E6%97%A5%E6%9C%AC'],
  ['an emoji is fine', '/tags/%F0%9F%98%80', '/tags/%F0%9F%98%80'],
  // control characters and raw bytes
  ['an encoded NUL', '/admin%00.txt', null],
  ['an encoded newline', '/a%0Ab', null],
  ['an encoded DEL', '/a%7Fb', null],
  ['a raw tab', '/a\tb', null],
  ['a raw space', '/a b', null],
  ['raw non-ASCII', '/café', null],
  ['raw Latin-1 as Node reads an unencoded byte', '/caf\u00e9', null],
  ['a fragment', '/a#b', null],
  // matrix parameters
  ['a ; parameter after the endpoint', '/v1/chat/completions;x', null],
  ['a ; parameter in a segment', '/admin;jsessionid=1/users', null],
  ['a bare ;', '/a;', null],
  ['an encoded ;', '/v1/chat/completions%3Bx', null],
  ['a lower-case encoded ;', '/admin%3b/users', null],
  // malformed percent-encoding
  ['a lone percent sign', '/100%', null],
  ['a percent sign with one digit', '/a%4', null],
  ['a percent sign with non-hex digits', '/a%zz', null],
  // size
  ['the longest accepted path', `/${'a'.repeat(MAX_PATH_LENGTH - 1)}`, `/${'a'.repeat(MAX_PATH_LENGTH - 1)}`],
  ['a path over the limit', `/${'a'.repeat(MAX_PATH_LENGTH)}`, null],
  ['many dot segments within the limit', `${'/a/..'.repeat(1000)}/b`, '/b'],
];

describe('normalizePath', () => {
  for (const [name, raw, expected] of paths) {
    it(`${name}: ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw)} → ${expected === null ? 'refused' : JSON.stringify(expected.length > 60 ? `${expected.slice(0, 60)}…` : expected)}`, () => {
      if (expected === null) {
        assert.throws(() => normalizePath(raw), (err: unknown) => err instanceof BadRequest && err.code === 'bad_request');
      } else {
        assert.equal(normalizePath(raw), expected);
        // Normalising once is enough: the result is its own normal form, so classify and forward agree.
        assert.equal(normalizePath(expected), expected);
      }
    });
  }

  it('no accepted path ever holds a dot segment, an empty segment or a backslash', () => {
    for (const [, raw, expected] of paths) {
      if (expected === null) continue;
      const segments = normalizePath(raw).split('/').slice(1, -1);
      assert.ok(!segments.some((s) => s === '' || s === '.' || s === '..'), raw);
      assert.ok(!normalizePath(raw).includes('\\'), raw);
    }
  });
});

describe('normalizeProxyTarget', () => {
  it('normalises the path and keeps the query as sent', () => {
    assert.deepEqual(normalizeProxyTarget('/v1/x/../%6Dodels?a=%2e%2e/&b=1'), {
      path: '/v1/models',
      query: 'a=%2e%2e/&b=1',
      target: '/v1/models?a=%2e%2e/&b=1',
    });
  });

  it('an empty query keeps no question mark', () => {
    assert.deepEqual(normalizeProxyTarget('/a?'), { path: '/a', query: '', target: '/a' });
    assert.deepEqual(normalizeProxyTarget('/?x=1'), { path: '/', query: 'x=1', target: '/?x=1' });
  });

  it('a ; in the query is not a matrix parameter', () => {
    assert.equal(normalizeProxyTarget('/a?x=1;y=2').target, '/a?x=1;y=2');
  });

  const overrides = ['_method=DELETE', 'a=1&_method=PUT', '_METHOD=delete', '%5Fmethod=DELETE', '%5fmethod=DELETE', '.method=DELETE', '_method[]=DELETE', 'a=1;_method=DELETE', 'x-http-method-override=DELETE', '_method'];
  for (const query of overrides) {
    it(`refuses the method-override parameter in ?${query}`, () => {
      assert.throws(() => normalizeProxyTarget(`/items/1?${query}`), (err: unknown) => err instanceof BadRequest);
    });
  }

  it('parameters that only resemble an override pass', () => {
    for (const query of ['method=flickr.photos.search', 'my_method=x', 'a=_method', '_methods=1']) {
      assert.equal(normalizeProxyTarget(`/a?${query}`).query, query);
    }
  });
});

describe('method and path overrides', () => {
  for (const header of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url']) {
    it(`refuses the ${header} header`, () => {
      assert.throws(() => refuseOverrideHeaders({ [header]: 'DELETE' }), (err: unknown) => err instanceof BadRequest && err.code === 'bad_request');
    });
  }

  it('ordinary headers pass', () => {
    refuseOverrideHeaders({ 'content-type': 'application/json', 'x-request-method': 'x', accept: '*/*' });
  });

  it('recognises override parameter names as frameworks read them', () => {
    assert.ok(isOverrideParameter('_method'));
    assert.ok(isOverrideParameter('%5F%6Dethod'));
    assert.ok(isOverrideParameter('_method[x]'));
    assert.ok(!isOverrideParameter('method'));
    assert.ok(!isOverrideParameter('_methodx'));
  });
});
