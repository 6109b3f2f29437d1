/**
 * Hostile input on both sides of the MCP gateway: agents sending what is not one well-formed MCP
 * message (raw HTTP, so nothing tidies it), and a tool server answering what it should not. Each
 * is refused with a typed error, the session (and the gateway) keeps working, and no secret leaks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { startHostileServer, type HostileServer } from '../../support/mcp-hostile-server.ts';
import { MCP_UPSTREAM_TOKEN } from '../../support/mcp-server.ts';
import { connectClient, disconnect, startMcpFixture, textOf, type McpFixture } from './fixtures.ts';

const ROLES = `
identity:
  roles:
    - group: engineering
      role: user
      connections: [tools, hostile, openai]
`;

interface Reply {
  status: number;
  headers: Headers;
  /** JSON-RPC messages in the body (a JSON body, or the data of each event). */
  messages: any[];
  text: string;
}

async function post(url: string, token: string | null, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body,
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  const messages = type.startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)))
    : text
      ? [JSON.parse(text)]
      : [];
  return { status: response.status, headers: response.headers, messages, text };
}

const initialize = (id: number | string = 1) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '0' } } });

describe('MCP gateway under hostile input', () => {
  let f: McpFixture;
  let hostile: HostileServer;
  let ada: string;
  let eve: string;

  before(async () => {
    hostile = await startHostileServer();
    f = await startMcpFixture({
      extraYaml: ROLES,
      extraMcp: `
  - name: hostile
    type: mcp
    upstream: ${hostile.url}
    credential: \${MCP_UPSTREAM_TOKEN}
    mcp:
      maxMessageBytes: 64kb
      callTimeout: 1s
      pinTools: false       # the wire is under test here, not pinning: the hostile list is used as sent
`,
    });
    ada = await f.t.token({ user: 'ada', groups: ['engineering'], connections: ['tools', 'hostile'] });
    eve = await f.t.token({ user: 'eve', groups: ['engineering'], connections: ['tools', 'hostile'] });
  });
  after(async () => {
    await f?.close();
    await hostile?.close();
  });

  const endpoint = (connection = 'tools') => `${f.t.url}/mcp/${connection}`;

  /** A session opened by hand: its id and a function posting into it. */
  async function rawSession(token = ada, connection = 'tools') {
    const opened = await post(endpoint(connection), token, initialize());
    assert.equal(opened.status, 200, opened.text);
    const sid = opened.headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
    await post(endpoint(connection), token, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
    return { sid, headers, send: (body: string, extra: Record<string, string> = {}) => post(endpoint(connection), token, body, { ...headers, ...extra }) };
  }

  const gatehouseCode = (reply: Reply) => reply.messages[0]?.error?.data?.gatehouse?.code;

  describe('from the agent', () => {
    test('text that is not JSON is a 400 bad_request', async () => {
      const reply = await post(endpoint(), ada, '{"jsonrpc": "2.0", "id": 1, "method": ');
      assert.equal(reply.status, 400);
      assert.equal(gatehouseCode(reply), 'bad_request');
    });

    test('a JSON-RPC batch is refused, even of valid messages', async () => {
      const reply = await post(endpoint(), ada, `[${initialize(1)}, ${initialize(2)}]`);
      assert.equal(reply.status, 400);
      assert.match(reply.messages[0].error.message, /batches are not accepted/);
    });

    for (const [what, body] of [
      ['a string', '"initialize"'],
      ['a number', '42'],
      ['null', 'null'],
    ] as const) {
      test(`a body that is ${what} is refused`, async () => {
        const reply = await post(endpoint(), ada, body);
        assert.equal(reply.status, 400);
        assert.equal(gatehouseCode(reply), 'bad_request');
      });
    }

    test('a message larger than mcp.maxMessageBytes is refused (413) before it is parsed', async () => {
      const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { pad: 'z'.repeat(2 * 1024 * 1024) } });
      const reply = await post(endpoint(), ada, big);
      assert.equal(reply.status, 413);
      assert.equal(gatehouseCode(reply), 'body_too_large');
    });

    test('a first message that is not initialize opens nothing', async () => {
      const reply = await post(endpoint(), ada, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
      assert.equal(reply.status, 400);
      assert.match(reply.messages[0].error.message, /first request of a session must be one initialize/);
    });

    test('an unknown, a malformed and another person\'s session id are all 404', async () => {
      const own = await rawSession(ada);
      const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      for (const sid of ['6f1c1c1e-0000-4000-8000-000000000000', '../../etc/passwd', `${own.sid}x`, '']) {
        const reply = await post(endpoint(), ada, list, { 'mcp-session-id': sid, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION });
        assert.equal(reply.status, 404, `session id ${JSON.stringify(sid)}`);
      }
      const stolen = await post(endpoint(), eve, list, own.headers);
      assert.equal(stolen.status, 404, 'eve cannot use ada\'s session');
      assert.equal(gatehouseCode(stolen), 'not_found');
      // The same session on another connection is unknown there too.
      const elsewhere = await post(endpoint('hostile'), ada, list, own.headers);
      assert.equal(elsewhere.status, 404);
      const mine = await own.send(list);
      assert.equal(mine.status, 200, 'the owner still uses it');
    });

    test('methods outside MCP are refused and recorded; the session goes on', async () => {
      const s = await rawSession();
      for (const method of ['evil/method', 'tasks/list', 'tools/call/../../admin', 'sampling/createMessage']) {
        const reply = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: {} }));
        assert.equal(reply.messages[0].error.data.gatehouse.code, 'bad_request', method);
      }
      const ok = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' } } }));
      assert.equal(ok.messages[0].result.content[0].text, 'echo: still here');
    });

    for (const [what, params] of [
      ['no tool name', { arguments: {} }],
      ['a tool name that is not a string', { name: ['echo'], arguments: {} }],
      ['an over-long tool name', { name: 'e'.repeat(300), arguments: {} }],
      ['arguments that are a list', { name: 'echo', arguments: ['a'] }],
      ['arguments that are a string', { name: 'echo', arguments: 'text=a' }],
    ] as const) {
      test(`tools/call with ${what} is refused before the tool server`, async () => {
        const s = await rawSession();
        const before = f.upstream.received.length;
        const reply = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params }));
        assert.equal(reply.messages[0].error.data.gatehouse.code, 'bad_request');
        assert.equal(f.upstream.received.length, before);
      });
    }

    test('params that are not an object are refused', async () => {
      const s = await rawSession();
      const reply = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'resources/read', params: 'config://settings' }));
      assert.equal(reply.status, 400, 'the SDK schema itself refuses non-object params');
    });

    test('a second initialize in a session is refused', async () => {
      const s = await rawSession();
      const reply = await s.send(initialize(9));
      assert.equal(reply.status, 400);
    });

    test('a response to a request the gateway never sent is ignored', async () => {
      const s = await rawSession();
      const reply = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 424242, result: { evil: true } }));
      assert.equal(reply.status, 202);
      const ok = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/list' }));
      assert.ok(Array.isArray(ok.messages[0].result.tools));
    });

    test('a wrong Content-Type or Accept is refused by the transport and opens no session', async () => {
      const wrongType = await post(endpoint(), ada, initialize(), { 'content-type': 'text/plain' });
      assert.equal(wrongType.status, 415);
      const wrongAccept = await post(endpoint(), ada, initialize(), { accept: 'application/json' });
      assert.equal(wrongAccept.status, 406);
    });

    test('after DELETE the session id is gone', async () => {
      const s = await rawSession();
      const deleted = await fetch(endpoint(), { method: 'DELETE', headers: { authorization: `Bearer ${ada}`, ...s.headers } });
      assert.equal(deleted.status, 200);
      const reply = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
      assert.equal(reply.status, 404);
    });

    for (const [what, token, connection, status, code] of [
      ['no token', null, 'tools', 401, 'auth_missing'],
      ['a made-up token', 'gth_notarealtoken', 'tools', 401, 'auth_invalid'],
      ['a connection that is not MCP', 'ADA', 'openai', 404, 'unknown_connection'],
      ['a connection that does not exist', 'ADA', 'nope', 404, 'unknown_connection'],
    ] as const) {
      test(`${what} is refused (${code})`, async () => {
        const reply = await post(endpoint(connection), token === 'ADA' ? ada : token, initialize());
        assert.equal(reply.status, status);
        assert.equal(gatehouseCode(reply), code);
      });
    }

    test('a token not issued for the connection is refused', async () => {
      const other = await f.t.token({ user: 'ada', groups: ['engineering'], connections: ['tools'] });
      const reply = await post(endpoint('hostile'), other, initialize());
      assert.equal(reply.status, 403);
      assert.equal(gatehouseCode(reply), 'forbidden_connection');
    });

    for (const path of ['/mcp/tools/extra', '/mcp/', '/mcp/%E0%A4%A', '/mcp/tools%2Fx']) {
      test(`the odd path ${path} is refused`, async () => {
        const reply = await post(`${f.t.url}${path}`, ada, initialize());
        assert.ok(reply.status === 400 || reply.status === 404, `${path}: ${reply.status}`);
        assert.ok(['bad_request', 'not_found', 'unknown_connection'].includes(gatehouseCode(reply)));
      });
    }
  });

  describe('from the tool server', () => {
    let client: Awaited<ReturnType<typeof connectClient>>;
    before(async () => {
      client = await connectClient(f.t.url, 'hostile', ada);
    });
    after(async () => {
      await disconnect(client);
    });

    const call = (name: string) => client.client.callTool({ name, arguments: {} });
    const refusedWith = (code: string) => (err: any) => {
      assert.equal(err.data?.gatehouse?.code, code, String(err));
      return true;
    };

    test('initialize drops capabilities the gateway cannot check (tasks)', async () => {
      assert.equal(client.client.getServerCapabilities()?.tasks, undefined);
      assert.ok(client.client.getServerCapabilities()?.tools);
    });

    test('tools without a string name are dropped from the list', async () => {
      const names = (await client.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.every((n) => typeof n === 'string'));
      assert.ok(names.includes('huge'));
    });

    test('an answer larger than mcp.maxMessageBytes is refused, and the session goes on', async () => {
      await assert.rejects(call('huge'), refusedWith('upstream_unreachable'));
      assert.equal(textOf(await call('ok')), 'fine');
    });

    test('one event larger than the limit in an event stream is refused', async () => {
      await assert.rejects(call('huge_event'), refusedWith('upstream_unreachable'));
      assert.equal(textOf(await call('ok')), 'fine');
    });

    test('truncated JSON, JSON that is not JSON-RPC and HTML are refused', async () => {
      for (const name of ['garbage', 'not_rpc', 'html']) await assert.rejects(call(name), refusedWith('upstream_unreachable'), name);
      assert.equal(textOf(await call('ok')), 'fine');
    });

    test('an answer to an id never asked is dropped; the call times out (upstream_timeout)', async () => {
      await assert.rejects(call('wrong_id'), refusedWith('upstream_timeout'));
    });

    test('a server that never answers is cut at mcp.callTimeout', async () => {
      await assert.rejects(call('never'), refusedWith('upstream_timeout'));
      const recorded = (await f.t.api('GET', '/sessions?connection=hostile&principal=ada')).json.sessions[0];
      const interactions = (await f.t.api('GET', `/sessions/${recorded.id}`)).json.interactions as any[];
      assert.equal(interactions.find((i) => i.target === 'never').errorCode, 'upstream_timeout');
    });

    test('an error page echoing the credential reaches nobody: only its status is told', async () => {
      const err = await call('status500').then(
        () => assert.fail('expected a refusal'),
        (e: any) => e,
      );
      assert.equal(err.data.gatehouse.code, 'upstream_unreachable');
      assert.ok(!JSON.stringify(err).includes(MCP_UPSTREAM_TOKEN));
      assert.match(err.message, /HTTP 500/);
    });

    test('a redirect to another origin is not followed', async () => {
      await assert.rejects(call('redirect'), refusedWith('upstream_unreachable'));
    });

    test('a stream that ends without the answer fails the call at once', async () => {
      await assert.rejects(call('sse_close'), refusedWith('upstream_unreachable'));
    });

    test('a result echoing the credential has it replaced', async () => {
      const text = textOf(await call('echo_credential'));
      assert.ok(!text.includes(MCP_UPSTREAM_TOKEN));
      assert.match(text, /\[UPSTREAM_CREDENTIAL\]/);
    });

    test('requests and notifications outside MCP from the server never reach the agent', async () => {
      const seen: string[] = [];
      client.client.fallbackNotificationHandler = async (n) => void seen.push(n.method);
      client.client.fallbackRequestHandler = async (r) => {
        seen.push(r.method);
        return {};
      };
      assert.equal(textOf(await call('bogus_request')), 'after the bogus request');
      assert.deepEqual(seen, []);
      const recorded = (await f.t.api('GET', '/sessions?connection=hostile&principal=ada')).json.sessions[0];
      const interactions = (await f.t.api('GET', `/sessions/${recorded.id}`)).json.interactions as any[];
      assert.ok(interactions.some((i) => i.method === 'tasks/get' && i.errorCode === 'bad_request'), 'the server\'s bogus request is refused on record');
    });

    test('the hostile server was called, and the credential it was sent is in no log line', async () => {
      assert.ok(hostile.calls.length > 5);
      assert.ok(!f.t.logs.join('').includes(MCP_UPSTREAM_TOKEN), 'the credential is in no log line');
    });
  });
});
