/**
 * The pieces of `gatehouse login` that face hostile input, in process: the one-shot loopback
 * listener (RFC 8252) against odd requests, the answers openid-client refuses, a device
 * authorization answer meant to mislead the terminal, and which issuer addresses are accepted.
 * The whole login against a real IdP and gateway is test/cli/login.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import * as oidc from 'openid-client';
import { listenForCallback, type LoopbackCallback } from '../../src/cli/loopback-callback.ts';
import { deviceFlow, flowError, printable, canOpenBrowser } from '../../src/cli/oidc-flows.ts';
import { checkIssuer } from '../../src/cli/login.ts';

const STATE = oidc.randomState();

/** One raw HTTP exchange, bytes exactly as given; the response as text ('' when the connection was refused or cut). */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('error', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.end(request);
  });
}

function portOf(cb: LoopbackCallback): number {
  return Number(new URL(cb.redirectUri).port);
}

const host = (cb: LoopbackCallback) => `127.0.0.1:${portOf(cb)}`;
const get = (cb: LoopbackCallback, target: string, headers = `Host: ${host(cb)}\r\n`) => raw(portOf(cb), `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

async function withListener(run: (cb: LoopbackCallback, abort: AbortController) => Promise<void>): Promise<void> {
  const abort = new AbortController();
  const cb = await listenForCallback(STATE, abort.signal);
  try {
    await run(cb, abort);
  } finally {
    await cb.close();
  }
}

/** After refusals that must not end the wait, the real callback still gets through. */
async function stillWaiting(cb: LoopbackCallback): Promise<void> {
  const pending = get(cb, `/callback?code=real&state=${STATE}`);
  const url = await cb.received;
  assert.equal(url.searchParams.get('code'), 'real');
  await cb.finish(true);
  assert.equal(status(await pending), 200);
}

describe('the loopback callback listener', () => {
  test('binds 127.0.0.1 on a free port and hands over the callback; the browser hears back only when the login is done', async () => {
    await withListener(async (cb) => {
      assert.match(cb.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      const response = get(cb, `/callback?code=abc&state=${STATE}&iss=https%3A%2F%2Fidp`);
      const url = await cb.received;
      assert.equal(url.origin + url.pathname, cb.redirectUri);
      assert.deepEqual([...url.searchParams], [['code', 'abc'], ['state', STATE], ['iss', 'https://idp']]);
      let answered = false;
      void response.then(() => (answered = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(answered, false, 'the page waits for the login to finish');
      await cb.finish(true);
      const page = await response;
      assert.equal(status(page), 200);
      assert.match(page, /Signed in to Gatehouse/);
      assert.match(page, /content-security-policy: default-src 'none'/i);
      assert.match(page, /cache-control: no-store/i);
      assert.equal(await get(cb, `/callback?code=again&state=${STATE}`), '', 'closed: a second callback is refused at connect');
    });
  });

  test('a failed login tells the browser so, without details', async () => {
    await withListener(async (cb) => {
      const response = get(cb, `/callback?code=abc&state=${STATE}`);
      await cb.received;
      await cb.finish(false);
      const page = await response;
      assert.equal(status(page), 400);
      assert.match(page, /Sign-in did not complete/);
    });
  });

  // Refused without ending the wait: not a callback for this listener at all.
  const ignored: Array<[string, (cb: LoopbackCallback) => Promise<string>, number]> = [
    ['another path', (cb) => get(cb, `/other?code=x&state=${STATE}`), 404],
    ['/callback/ with a trailing slash', (cb) => get(cb, `/callback/?code=x&state=${STATE}`), 404],
    ['/CALLBACK in capitals', (cb) => get(cb, `/CALLBACK?code=x&state=${STATE}`), 404],
    ['a percent-encoded path', (cb) => get(cb, `/%63allback?code=x&state=${STATE}`), 404],
    ['a path with parameters (;)', (cb) => get(cb, `/callback;x=1?code=x&state=${STATE}`), 404],
    ['a scheme-relative target naming another host', (cb) => get(cb, `//evil.example/callback?code=x&state=${STATE}`), 404],
    ['an absolute-form target', (cb) => get(cb, `http://${host(cb)}/callback?code=x&state=${STATE}`), 404],
    ['the favicon a browser asks for', (cb) => get(cb, '/favicon.ico'), 404],
    ['a Host naming another site (DNS rebinding)', (cb) => get(cb, `/callback?code=x&state=${STATE}`, 'Host: evil.example\r\n'), 400],
    ['Host: localhost instead of the IP literal', (cb) => get(cb, `/callback?code=x&state=${STATE}`, `Host: localhost:${portOf(cb)}\r\n`), 400],
    ['Host with another port', (cb) => get(cb, `/callback?code=x&state=${STATE}`, `Host: 127.0.0.1:${portOf(cb) === 1 ? 2 : 1}\r\n`), 400],
    ['two Host headers', (cb) => get(cb, `/callback?code=x&state=${STATE}`, `Host: ${host(cb)}\r\nHost: evil.example\r\n`), 400],
    ['no Host header (HTTP/1.0)', (cb) => raw(portOf(cb), `GET /callback?code=x&state=${STATE} HTTP/1.0\r\n\r\n`), 400],
    ['POST', (cb) => raw(portOf(cb), `POST /callback HTTP/1.1\r\nHost: ${host(cb)}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${`code=x&state=${STATE}`.length}\r\nConnection: close\r\n\r\ncode=x&state=${STATE}`), 405],
    ['HEAD', (cb) => raw(portOf(cb), `HEAD /callback?code=x&state=${STATE} HTTP/1.1\r\nHost: ${host(cb)}\r\nConnection: close\r\n\r\n`), 405],
    ['a query past 4 KiB', (cb) => get(cb, `/callback?code=${'a'.repeat(5000)}&state=${STATE}`), 414],
    ['a 100 KiB query (past the header limit)', (cb) => get(cb, `/callback?code=${'a'.repeat(100_000)}&state=${STATE}`), 431],
  ];
  for (const [name, send, expected] of ignored) {
    test(`refused, and the wait goes on: ${name}`, async () => {
      await withListener(async (cb) => {
        const response = await send(cb);
        if (expected === 431) assert.ok(status(response) === 431 || response === '', `got ${status(response)}`);
        else assert.equal(status(response), expected, response);
        assert.ok(!response.includes('evil.example'), 'nothing from the request is echoed');
        await stillWaiting(cb);
      });
    });
  }

  // A callback for this listener that is not this login's: the login ends, nothing is redeemed.
  const refused: Array<[string, string, RegExp]> = [
    ['a wrong state', `code=x&state=${oidc.randomState()}`, /state does not match/],
    ['no state', 'code=x', /state does not match/],
    ['an empty state', 'code=x&state=', /state does not match/],
    ['the state with something appended', `code=x&state=${STATE}x`, /state does not match/],
    ['the state cut short', `code=x&state=${STATE.slice(0, -1)}`, /state does not match/],
    ['the state in another case', `code=x&state=${STATE.toUpperCase() === STATE ? STATE.toLowerCase() : STATE.toUpperCase()}`, /state does not match/],
    ['the state with a NUL byte', `code=x&state=${STATE}%00`, /state does not match/],
    ['a state that is markup', 'code=x&state=%3Cscript%3Ealert(1)%3C%2Fscript%3E', /state does not match/],
    ['two codes', `code=a&code=b&state=${STATE}`, /repeats a parameter/],
    ['two states, the right one first', `code=a&state=${STATE}&state=other`, /repeats a parameter/],
    ['the right state twice', `code=a&state=${STATE}&state=${STATE}`, /repeats a parameter/],
    ['two iss parameters', `code=a&state=${STATE}&iss=https%3A%2F%2Fa&iss=https%3A%2F%2Fb`, /repeats a parameter/],
    ['semicolons smuggling a second pair', `code=a;state=${STATE}`, /state does not match/],
  ];
  for (const [name, query, message] of refused) {
    test(`the login ends, nothing redeemed: ${name}`, async () => {
      await withListener(async (cb) => {
        const page = await get(cb, `/callback?${query}`);
        assert.equal(status(page), 400);
        assert.match(page, /does not belong to the sign-in running in your terminal/);
        assert.ok(!page.includes('<script>alert'), 'the page never echoes the request');
        await assert.rejects(cb.received, message);
        assert.equal(await get(cb, `/callback?code=x&state=${STATE}`), '', 'a callback after that finds nobody listening');
      });
    });
  }

  test('a second request on the open connection while the first is being redeemed is told it came too late', async () => {
    await withListener(async (cb) => {
      const socket = connect(portOf(cb), '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d));
      const closed = new Promise((r) => socket.on('close', r));
      socket.write(`GET /callback?code=one&state=${STATE} HTTP/1.1\r\nHost: ${host(cb)}\r\n\r\n`);
      await cb.received;
      const second = await get(cb, `/callback?code=two&state=${STATE}`);
      assert.equal(second, '', 'no new connection is accepted once a callback was taken');
      await cb.finish(true);
      await closed;
      assert.equal(status(text), 200);
    });
  });

  test('timing out (or Ctrl-C) closes the listener cleanly; a browser still waiting hears that it failed', async () => {
    const abort = new AbortController();
    const cb = await listenForCallback(STATE, abort.signal);
    abort.abort(new Error('the sign-in was not completed in time'));
    await assert.rejects(cb.received, /not completed in time/);
    assert.equal(await get(cb, `/callback?code=x&state=${STATE}`), '', 'the port is closed');

    const abort2 = new AbortController();
    const cb2 = await listenForCallback(STATE, abort2.signal);
    const page = get(cb2, `/callback?code=x&state=${STATE}`);
    await cb2.received;
    abort2.abort(new Error('login cancelled'));
    assert.equal(status(await page), 400);
    await cb2.close();
  });

  test('an already aborted signal never listens for long', async () => {
    const abort = new AbortController();
    abort.abort(new Error('login cancelled'));
    const cb = await listenForCallback(STATE, abort.signal);
    await assert.rejects(cb.received, /login cancelled/);
    assert.equal(await get(cb, `/callback?code=x&state=${STATE}`), '');
  });
});

describe('answers openid-client refuses, in words a person can act on', () => {
  const server = { issuer: 'https://idp.example', authorization_endpoint: 'https://idp.example/auth', token_endpoint: 'https://idp.example/token', authorization_response_iss_parameter_supported: true };
  const config = new oidc.Configuration(server, 'gatehouse-cli', undefined, oidc.None());
  config[oidc.customFetch] = async () => {
    throw new Error('no request should be made');
  };
  const live = new AbortController().signal;
  const redeem = (query: string) =>
    oidc
      .authorizationCodeGrant(config, new URL(`http://127.0.0.1:1/callback?${query}`), { expectedState: STATE, expectedNonce: 'n', pkceCodeVerifier: oidc.randomPKCECodeVerifier() })
      .catch((err: unknown) => {
        throw flowError(err, live, live);
      });

  test('error=access_denied from the IdP (the person said no)', async () => {
    await assert.rejects(redeem(`error=access_denied&error_description=User%20said%20no&state=${STATE}&iss=https%3A%2F%2Fidp.example`), /denied at the identity provider \(User said no\)/);
  });
  test('another error, with control characters in its description, is shown cleaned', async () => {
    await assert.rejects(redeem(`error=server_error&error_description=a%1B%5B31mred%0Aline&state=${STATE}&iss=https%3A%2F%2Fidp.example`), (err: Error) => {
      assert.match(err.message, /refused the sign-in: server_error/);
      assert.doesNotMatch(err.message, /[\u001b\n]/);
      return true;
    });
  });
  test('an iss naming another issuer (mix-up attack)', async () => {
    await assert.rejects(redeem(`code=x&state=${STATE}&iss=https%3A%2F%2Fevil.example`), /answer was refused.*iss/);
  });
  test('no iss where the IdP promises one', async () => {
    await assert.rejects(redeem(`code=x&state=${STATE}`), /answer was refused.*iss/);
  });
  test('tokens injected into the redirect (implicit flow)', async () => {
    await assert.rejects(redeem(`code=x&state=${STATE}&iss=https%3A%2F%2Fidp.example&id_token=eyJ.x.y`));
  });
  test('Ctrl-C and a timeout win over whatever error ended the wait', () => {
    const aborted = AbortSignal.abort();
    assert.match(flowError(new Error('x'), aborted, live).message, /login cancelled/);
    assert.match(flowError(new Error('x'), live, aborted).message, /not completed in time/);
  });
});

describe('a device authorization answer meant to mislead the terminal', () => {
  const say: string[] = [];
  const io = { say: (text: string) => say.push(text), cancel: new AbortController().signal };
  function idpAnswering(body: Record<string, unknown>): oidc.Configuration {
    const config = new oidc.Configuration(
      { issuer: 'https://idp.example', device_authorization_endpoint: 'https://idp.example/device/auth', token_endpoint: 'https://idp.example/token' },
      'gatehouse-cli',
      undefined,
      oidc.None(),
    );
    config[oidc.customFetch] = async (url) => {
      if (String(url).endsWith('/device/auth')) return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
      throw new Error('polling must not start');
    };
    return config;
  }
  const good = { device_code: 'd', user_code: 'ABCD-EFGH', verification_uri: 'https://idp.example/device', expires_in: 600 };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a user code carrying terminal escapes', { ...good, user_code: 'AB\u001b]0;pwned\u0007' }, /unusable user code/],
    ['a user code with a newline', { ...good, user_code: 'ABCD\nEnter your password at https://evil' }, /unusable user code/],
    ['a javascript: verification address', { ...good, verification_uri: 'javascript:alert(1)' }, /unusable verification address/],
    ['a plain http verification address off loopback', { ...good, verification_uri: 'http://idp.example/device' }, /unusable verification address/],
    ['a verification address with a password in it', { ...good, verification_uri: 'https://u:p@idp.example/device' }, /unusable verification address/],
    ['a complete address on a data: URL', { ...good, verification_uri_complete: 'data:text/html,<h1>hi' }, /unusable verification address/],
  ];
  for (const [name, body, message] of cases) {
    test(`refused: ${name}`, async () => {
      say.length = 0;
      await assert.rejects(deviceFlow(idpAnswering(body), 'openid', io, false), message);
      assert.deepEqual(say, [], 'nothing from the answer reached the terminal');
    });
  }
});

describe('which issuer addresses the gateway may send a person to', () => {
  const loopbackGateway = new URL('http://127.0.0.1:8080');
  const remoteGateway = new URL('https://gatehouse.example.com');
  test('https anywhere', () => {
    assert.deepEqual(checkIssuer({ name: 'okta', issuer: 'https://example.okta.com/oauth2/default' }, remoteGateway), { url: new URL('https://example.okta.com/oauth2/default'), insecure: false });
  });
  test('plain http only when issuer and gateway are both on this machine', () => {
    assert.equal(checkIssuer({ name: 'dev', issuer: 'http://127.0.0.1:9000' }, loopbackGateway).insecure, true);
    assert.throws(() => checkIssuer({ name: 'dev', issuer: 'http://127.0.0.1:9000' }, remoteGateway), /not https/);
    assert.throws(() => checkIssuer({ name: 'dev', issuer: 'http://idp.example.com' }, loopbackGateway), /not https/);
    assert.throws(() => checkIssuer({ name: 'dev', issuer: 'http://idp.example.com' }, remoteGateway), /not https/);
  });
  test('no credentials, query, fragment or other scheme', () => {
    assert.throws(() => checkIssuer({ name: 'x', issuer: 'https://u:p@idp.example.com' }, remoteGateway), /credentials/);
    assert.throws(() => checkIssuer({ name: 'x', issuer: 'https://idp.example.com/?next=evil' }, remoteGateway), /query/);
    assert.throws(() => checkIssuer({ name: 'x', issuer: 'https://idp.example.com/#x' }, remoteGateway), /fragment/);
    assert.throws(() => checkIssuer({ name: 'x', issuer: 'file:///etc/passwd' }, remoteGateway), /not https/);
    assert.throws(() => checkIssuer({ name: 'x', issuer: 'not a url' }, remoteGateway), /not a URL/);
  });
});

test('text from an IdP or gateway is shown without control characters and bounded', () => {
  assert.equal(printable('a\u001b[31mb\r\nc\u202ed'), 'a [31mb  c d');
  assert.equal(printable('x'.repeat(300)).length, 201);
});

test('a browser is opened by default only where one can be shown', () => {
  assert.equal(canOpenBrowser({}, 'linux'), false);
  assert.equal(canOpenBrowser({ DISPLAY: ':0' }, 'linux'), true);
  assert.equal(canOpenBrowser({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), true);
  assert.equal(canOpenBrowser({ DISPLAY: ':0', SSH_CONNECTION: '10.0.0.1 1 10.0.0.2 22' }, 'linux'), false);
  assert.equal(canOpenBrowser({}, 'darwin'), true);
  assert.equal(canOpenBrowser({ SSH_TTY: '/dev/pts/1' }, 'darwin'), false);
  assert.equal(canOpenBrowser({}, 'win32'), true);
});
