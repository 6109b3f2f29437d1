/**
 * Hostile requests to a bedrock connection, sent raw (node:http, so paths and headers go exactly
 * as written), and a hostile upstream: each is refused in Bedrock's error shape before anything
 * is forwarded, or forwarded only as the gateway itself signed it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { converseStream, event, frame, readEvents } from './support/wire.ts';
import { jsonReply, startBedrockUpstream, STREAM_HEADERS, type BedrockUpstream } from './support/upstream.ts';

const KEY = { accessKeyId: 'AKIDGATEWAYEXAMPLE02', secretAccessKey: randomBytes(20).toString('base64'), region: 'eu-west-1' };
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1%3A0';
const BODY = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hi' }] }] });

interface Raw {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

describe('bedrock: hostile requests and upstreams', () => {
  let t: TestGateway;
  let up: BedrockUpstream;
  let token: string;

  before(async () => {
    up = await startBedrockUpstream(KEY);
    process.env.BEDROCK_HOSTILE_KEY_ID = KEY.accessKeyId;
    process.env.BEDROCK_HOSTILE_SECRET = KEY.secretAccessKey;
    const conn = (name: string) =>
      `  - name: ${name}\n    type: bedrock\n    upstream: ${up.url}\n    credential:\n      type: aws\n      accessKeyId: \${BEDROCK_HOSTILE_KEY_ID}\n      secretAccessKey: \${BEDROCK_HOSTILE_SECRET}\n      region: eu-west-1\n`;
    t = await startTestGateway({
      extraConnections: conn('bedrock') + conn('bedrock-masked'),
      policyYaml: `
policy:
  rules:
    - name: masked
      match: { connections: [bedrock-masked] }
      action: allow
      mask: secrets
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['bedrock', 'bedrock-masked'] });
    up.respond = () => jsonReply({ output: { message: { role: 'assistant', content: [{ text: 'ok' }] } }, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  function send(path: string, options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {}): Promise<Raw> {
    const url = new URL(t.url);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: options.method ?? 'POST',
          path,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...options.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(options.body ?? (options.method === 'GET' ? undefined : BODY));
    });
  }

  /** Refused in Bedrock's shape (x-amzn-errortype, JSON message), and nothing reached the upstream. */
  async function refused(path: string, options: Parameters<typeof send>[1] = {}, type = 'ValidationException'): Promise<Raw> {
    const before = up.received.length;
    const reply = await send(path, options);
    assert.ok(reply.status >= 400, `${path}: status ${reply.status}`);
    assert.match(String(reply.headers['x-amzn-errortype']), new RegExp(`^${type}:`));
    assert.equal(typeof JSON.parse(reply.body.toString()).message, 'string');
    assert.equal(up.received.length, before, `${path}: nothing forwarded`);
    return reply;
  }

  const paths: [string, string][] = [
    ['an encoded slash in the model id (%2F)', `/proxy/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Afoundation-model%2Fx/converse`],
    ['a lower-case encoded slash (%2f)', '/proxy/bedrock/model/a%2fb/converse'],
    ['dot segments climbing out of the model', '/proxy/bedrock/model/x/../../../admin/converse'],
    ['dot segments that resolve to another operation path', '/proxy/bedrock/model/x/invoke/../converse/extra'],
    ['an encoded dot segment', '/proxy/bedrock/model/%2E%2E/converse'],
    ['an operation the gateway does not speak', `/proxy/bedrock/model/${MODEL}/count-tokens`],
    ['a path outside /model', '/proxy/bedrock/guardrail/g1/version/1/apply'],
    ['a query string', `/proxy/bedrock/model/${MODEL}/converse?trace=1`],
    ['a model id with an encoded space', '/proxy/bedrock/model/anthropic.claude%20v2/converse'],
    ['a model id with non-ASCII', '/proxy/bedrock/model/anthropic.cl%C3%A4ude/converse'],
    ['a backslash in the model id', '/proxy/bedrock/model/a%5Cb/converse'],
    ['a double-encoded slash', '/proxy/bedrock/model/a%252Fb/converse'],
    ['an empty model id', '/proxy/bedrock/model//converse'],
  ];
  for (const [name, path] of paths) {
    it(`hostile path: ${name}`, async () => {
      await refused(path);
    });
  }

  it('hostile: GET on an operation', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/converse`, { method: 'GET' });
  });

  it('hostile: a body that is not JSON', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/invoke`, { headers: { 'content-type': 'text/plain' }, body: 'Human: hi\n\nAssistant:' });
  });

  it('hostile: a JSON content type over a body that is not JSON', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/converse`, { body: '{"messages": [' });
  });

  it('hostile: a JSON body naming a key twice', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/converse`, { body: '{"messages":[{"role":"user","content":[{"text":"fine"}]}],"messages":[{"role":"user","content":[{"text":"other"}]}]}' });
  });

  it('hostile: a binary body', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/invoke`, { headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(64) });
  });

  it('hostile: no token is an AccessDeniedException', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/converse`, { headers: { authorization: '' } }, 'AccessDeniedException');
  });

  it("hostile: the agent's own SigV4 Authorization is refused and never forwarded", async () => {
    await refused(
      `/proxy/bedrock/model/${MODEL}/converse`,
      { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDAGENT/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00' } },
      'AccessDeniedException',
    );
  });

  it('hostile: Authorization given twice counts once (the first, as Node reads it): an unknown first token is refused whatever follows', async () => {
    await refused(`/proxy/bedrock/model/${MODEL}/converse`, { headers: { authorization: ['Bearer gth_not_a_real_token', `Bearer ${token}`] } }, 'AccessDeniedException');
  });

  it("hostile: the client's x-amz-* headers (payload hash, date, token) never reach Bedrock; the gateway's own signature does", async () => {
    const reply = await send(`/proxy/bedrock/model/${MODEL}/converse`, {
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': '20200101T000000Z', 'x-amz-security-token': 'agent-session-token', 'amz-sdk-request': 'attempt=1' },
    });
    assert.equal(reply.status, 200);
    const seen = up.received.at(-1)!;
    assert.ok(seen.signatureValid);
    assert.notEqual(seen.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    assert.notEqual(seen.headers['x-amz-date'], '20200101T000000Z');
    assert.equal(seen.headers['x-amz-security-token'], undefined);
    assert.ok(!JSON.stringify(seen.headers).includes(token));
  });

  it('hostile: a Bedrock option header given twice goes up as the one value that was signed', async () => {
    const reply = await send(`/proxy/bedrock/model/${MODEL}/converse`, { headers: { 'x-amzn-bedrock-trace': ['ENABLED', 'DISABLED'] } });
    assert.equal(reply.status, 200);
    assert.ok(up.received.at(-1)!.signatureValid);
  });

  it('hostile upstream, masked: a corrupt CRC mid-stream ends the stream with an exception, never the corrupt bytes', async () => {
    const frames = converseStream(['fine ', 'text']);
    const bad = Buffer.from(frames[2]!);
    bad[bad.length - 3]! ^= 0x40;
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [frames[0]!, frames[1]!, bad, ...frames.slice(3)] });
    const reply = await send(`/proxy/bedrock-masked/model/${MODEL}/converse-stream`);
    assert.equal(reply.status, 200);
    const events = readEvents(reply.body);
    const last = events.at(-1)!;
    assert.equal(last.headers[':message-type'], 'exception');
    assert.equal(last.headers[':exception-type'], 'internalServerException');
    assert.ok(!events.some((e) => e.json?.delta?.text === 'text'), 'nothing after the corrupt message');
  });

  it('hostile upstream, masked: an event whose payload is not JSON ends the stream', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [event('messageStart', { role: 'assistant' }), frame({ ':event-type': 'contentBlockDelta', ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from('text AKIAQ7XZ4M2P9WLK3TRB'))] });
    const reply = await send(`/proxy/bedrock-masked/model/${MODEL}/converse-stream`);
    const events = readEvents(reply.body);
    assert.equal(events.at(-1)!.headers[':message-type'], 'exception');
  });

  it('hostile upstream, masked: a stream declared as another content type is withheld', async () => {
    up.respond = () => ({ headers: { 'content-type': 'application/octet-stream' }, steps: converseStream(['x']) });
    const reply = await send(`/proxy/bedrock-masked/model/${MODEL}/converse-stream`);
    assert.equal(reply.status, 502);
    assert.match(String(reply.headers['x-amzn-errortype']), /^InternalServerException:/);
  });

  it('refusals carry the gateway code beside the message', async () => {
    const reply = await refused(`/proxy/bedrock/model/${MODEL}/converse?x=1`);
    assert.equal(JSON.parse(reply.body.toString()).gatehouse.code, 'bad_request');
    assert.equal(reply.headers['x-gatehouse-error'], 'bad_request');
  });
});
