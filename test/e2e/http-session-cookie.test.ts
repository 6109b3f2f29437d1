/**
 * The SAML session cookie and the HTTP proxy, end to end. A browser signed in over SAML holds
 * gatehouse_session (a gta_ admin-API token) with Path=/, so it sends the cookie to /proxy/… too:
 * on a connection that passes cookies the proxy must not hand it to the upstream, and an upstream
 * must not be able to set or clear it through its Set-Cookie. Over https the cookie is named
 * __Host-gatehouse_session (Secure, Path=/, no Domain), over http gatehouse_session.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { b64, createTestIdp, postAcs, samlYaml, signedResponse, startLogin, type TestIdp } from '../support/saml-idp.ts';

interface Upstream {
  readonly url: string;
  readonly seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** Records each request's headers; answers with the Set-Cookie lines the path's `set` parameters name. */
async function startUpstream(): Promise<Upstream> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const setCookie = new URL(req.url ?? '/', 'http://x').searchParams.getAll('set');
    res.writeHead(200, { 'content-type': 'text/plain', ...(setCookie.length > 0 ? { 'set-cookie': setCookie } : {}) });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const ROLES = '  roles:\n    - { group: gatehouse-admins, role: admin }\n';

const connectionYaml = (upstream: Upstream) => `  - name: web
    type: http
    upstream: ${upstream.url}
    passCookies: true
`;

async function signIn(gw: TestGateway, idp: TestIdp, origin: string, user: string): Promise<{ name: string; value: string; attributes: string[] }> {
  const { requestId } = await startLogin(gw.url);
  const sp = { audience: `${origin}/api/v1/saml/metadata`, recipient: `${origin}/api/v1/saml/acs`, destination: `${origin}/api/v1/saml/acs` };
  const result = await postAcs(gw.url, { SAMLResponse: b64(signedResponse({ idp, inResponseTo: requestId, nameId: user, attributes: { groups: ['gatehouse-admins'] }, ...sp })) });
  assert.equal(result.status, 303, result.text);
  const [pair, ...attributes] = (result.setCookie ?? '').split(/;\s*/);
  const at = pair!.indexOf('=');
  return { name: pair!.slice(0, at), value: pair!.slice(at + 1), attributes };
}

async function browse(gw: TestGateway, agent: string, cookie: string, set: string[] = []): Promise<{ status: number; setCookie: string[] }> {
  const query = set.map((line) => `set=${encodeURIComponent(line)}`).join('&');
  const response = await fetch(`${gw.url}/proxy/web/page${query ? `?${query}` : ''}`, { headers: { authorization: `Bearer ${agent}`, cookie } });
  await response.arrayBuffer();
  return { status: response.status, setCookie: response.headers.getSetCookie() };
}

for (const origin of ['https://gatehouse.test', 'http://gatehouse.test']) {
  const https = origin.startsWith('https:');
  describe(`the session cookie over ${https ? 'https' : 'http'} never crosses the proxy`, () => {
    let idp: TestIdp;
    let upstream: Upstream;
    let gw: TestGateway;
    let session: Awaited<ReturnType<typeof signIn>>;
    let agent: string;

    before(async () => {
      idp = await createTestIdp('idp');
      upstream = await startUpstream();
      gw = await startTestGateway({ extraConnections: connectionYaml(upstream), extraYaml: samlYaml(idp, { identityYaml: ROLES, ...(https ? {} : { baseUrl: origin }) }) });
      session = await signIn(gw, idp, origin, 'ann@example.com');
      agent = await gw.token({ connections: ['web'] });
    });
    after(async () => {
      await gw?.close();
      await upstream?.close();
    });

    test(`the sign-in sets ${https ? '__Host-gatehouse_session, Secure' : 'gatehouse_session, not Secure'}, Path=/, no Domain`, () => {
      assert.equal(session.name, https ? '__Host-gatehouse_session' : 'gatehouse_session');
      assert.match(session.value, /^gta_/);
      assert.ok(session.attributes.includes('Path=/'));
      assert.equal(session.attributes.includes('Secure'), https);
      assert.ok(!session.attributes.some((a) => /^domain=/i.test(a)));
    });

    test('the browser’s Cookie header reaches the upstream without it; the other cookies pass', async () => {
      const sent = [
        `theme=dark; ${session.name}=${session.value}; sid=up-1`,
        `${session.name}=${session.value}`,
        `gatehouse_session=${session.value}; __Host-gatehouse_session=${session.value}; sid=up-1`,
      ];
      for (const cookie of sent) {
        const before = upstream.seen.length;
        assert.equal((await browse(gw, agent, cookie)).status, 200);
        const received = upstream.seen.slice(before);
        assert.equal(received.length, 1);
        assert.ok(!JSON.stringify(received[0]).includes(session.value), `the session token reached the upstream: ${JSON.stringify(received[0]?.cookie)}`);
        assert.ok(!/gatehouse_session/i.test(String(received[0]!.cookie ?? '')));
      }
      assert.equal(upstream.seen.at(-1)!.cookie, 'sid=up-1', 'what is left still passes');
    });

    test('an upstream cannot set or clear it; its own cookies still come back', async () => {
      const answer = await browse(gw, agent, 'sid=up-1', [
        'sid=up-2; Path=/; HttpOnly',
        '__Host-gatehouse_session=planted; Path=/; Secure; HttpOnly',
        'gatehouse_session=planted; Path=/',
        'gatehouse_session=; Max-Age=0; Path=/',
        'GATEHOUSE_SESSION=planted',
      ]);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.setCookie, ['sid=up-2; Path=/; HttpOnly']);
    });

    test('the signed-in session still works where it belongs, the admin API', async () => {
      const whoami = await gw.api('GET', '/whoami', undefined, session.value);
      assert.equal(whoami.status, 200);
      assert.equal(whoami.json.principal.name, 'ann@example.com');
      assert.deepEqual(whoami.json.roles, ['admin']);
    });
  });
}
