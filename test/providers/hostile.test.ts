/**
 * Hostile requests and hostile upstreams on provider connections: bodies that cannot be read
 * one way, keys where they must not go, model names that try to slip past a rule, and streams
 * the maskers cannot place (which must end with the provider's own error, never pass).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { json, SECRET, startFakeUpstream, type FakeUpstream } from './support/fake-upstream.ts';

const sse = (type: string, data: Record<string, unknown>, eol = '\n') => `event: ${type}${eol}data: ${JSON.stringify({ type, ...data })}${eol}${eol}`;
const START = sse('message_start', { message: { id: 'msg_01', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, usage: { input_tokens: 1, output_tokens: 1 } } });
const TEXT_START = sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
const delta = (text: string) => sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
const END = sse('content_block_stop', { index: 0 }) + sse('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }) + sse('message_stop', {});
const SSE = { 'content-type': 'text/event-stream' };
const MESSAGE = { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } };
const BODY = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
const geminiChunk = (text: string) => ({ candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0 }] });

describe('provider connections under attack', () => {
  let t: TestGateway;
  let up: FakeUpstream;
  let token: string;

  before(async () => {
    up = await startFakeUpstream();
    const conn = (name: string, type: string) => `  - name: ${name}\n    type: ${type}\n    upstream: ${up.url}\n    credential: \${UPSTREAM_KEY}\n`;
    t = await startTestGateway({
      bodyLimit: '64kb',
      extraConnections: conn('claude', 'anthropic') + conn('claude-masked', 'anthropic') + conn('gem', 'gemini') + conn('gem-masked', 'gemini') + conn('az', 'azure-openai'),
      policyYaml: `
policy:
  rules:
    - name: denied-models
      when: request.llm.model in ["claude-opus-4-1", "gemini-2.5-pro", "gpt-5-prod"]
      action: deny
    - name: masked
      match: { connections: [claude-masked, gem-masked] }
      action: allow
      mask: secrets
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['claude', 'claude-masked', 'gem', 'gem-masked', 'az'] });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  const claude = (connection: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/proxy/${connection}/v1/messages`, { method: 'POST', headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers }, body });
  const gemini = (connection: string, path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': token }) =>
    fetch(`${t.url}/proxy/${connection}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  /** Sends a request the gateway must refuse before the upstream sees anything; returns the parsed error body. */
  async function refused(send: () => Promise<Response>, status: number): Promise<any> {
    const before = up.received.length;
    const response = await send();
    const text = await response.text();
    assert.equal(response.status, status, text);
    assert.equal(up.received.length, before, 'nothing was forwarded');
    return JSON.parse(text);
  }

  /** Streams a scripted upstream answer through a masked connection and returns what the client got. */
  async function streamed(steps: string[], send: () => Promise<Response>): Promise<string> {
    up.respond = () => ({ headers: SSE, steps });
    const response = await send();
    assert.equal(response.status, 200);
    return response.text();
  }

  const anthropicStream = (steps: string[]) => streamed(steps, () => claude('claude-masked', JSON.stringify({ ...JSON.parse(BODY), stream: true })));

  it('1 refuses a body that is not JSON, in Anthropic’s error shape', async () => {
    const body = await refused(() => claude('claude', '{"model": "claude-sonnet-4-5", '), 400);
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it('2 refuses a body over the limit as request_too_large', async () => {
    const huge = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const body = await refused(() => claude('claude', huge), 413);
    assert.equal(body.error.type, 'request_too_large');
  });

  it('3 refuses "model" given twice', async () => {
    await refused(() => claude('claude', '{"model":"claude-sonnet-4-5","model":"claude-opus-4-1","max_tokens":8,"messages":[]}'), 400);
  });

  it('4 refuses a key named twice deeper in the prompt', async () => {
    await refused(() => claude('claude', '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi","content":"other"}]}'), 400);
  });

  it('5 refuses a model that is not a string', async () => {
    await refused(() => claude('claude', '{"model":["claude-opus-4-1"],"max_tokens":8,"messages":[]}'), 400);
  });

  it('6 denies a model spelled with other case and spaces', async () => {
    const body = await refused(() => claude('claude', JSON.stringify({ model: ' Claude-OPUS-4-1 ', max_tokens: 8, messages: [] })), 403);
    assert.equal(body.gatehouse.code, 'policy_denied');
  });

  it('7 refuses a method-override field in the body', async () => {
    await refused(() => claude('claude', JSON.stringify({ ...JSON.parse(BODY), _method: 'DELETE' })), 400);
  });

  it('8 refuses two different keys (the client’s own Anthropic key beside its token) and forwards neither', async () => {
    await refused(() => claude('claude', BODY, { authorization: `Bearer ${token}`, 'x-api-key': 'sk-ant-api03-the-clients-own-key' }), 400);
  });

  it('9 never forwards another provider’s key header', async () => {
    up.respond = () => json(MESSAGE);
    const response = await claude('claude', BODY, { 'x-goog-api-key': 'AIzaSy-not-for-anthropic' });
    assert.equal(response.status, 200);
    const seen = up.received.at(-1)!;
    assert.equal(seen.headers['x-goog-api-key'], undefined);
    assert.equal(seen.headers['x-api-key'], UPSTREAM_KEY);
  });

  it('10 an unknown event type under a profile ends the stream with an Anthropic error event', async () => {
    const text = await anthropicStream([START, TEXT_START, sse('content_block_leak', { index: 0, secret: SECRET }), delta('never'), END]);
    assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
    assert.ok(!text.includes(SECRET) && !text.includes('never') && !text.includes('content_block_leak'));
  });

  it('11 an unknown delta type under a profile ends the stream', async () => {
    const text = await anthropicStream([START, TEXT_START, sse('content_block_delta', { index: 0, delta: { type: 'mystery_delta', mystery: 'x' } }), END]);
    assert.match(text, /event: error/);
    assert.ok(!text.includes('mystery'));
  });

  it('12 data that is not JSON under a profile ends the stream', async () => {
    const text = await anthropicStream([START, TEXT_START, `event: content_block_delta\ndata: ${SECRET} not json\n\n`, END]);
    assert.match(text, /event: error/);
    assert.ok(!text.includes(SECRET));
  });

  it('13 an event named one thing whose data says another ends the stream', async () => {
    const text = await anthropicStream([START, `event: ping\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x' } })}\n\n`, END]);
    assert.match(text, /event: error/);
  });

  it('14 an event with no data is dropped, and the stream goes on', async () => {
    const text = await anthropicStream([START, TEXT_START, 'event: content_block_delta\n\n', delta('after'), END]);
    assert.ok(!text.includes('event: error'));
    assert.match(text, /"text":"after"/);
  });

  it('15 CRLF line ends split between writes, with a secret split across them, are masked', async () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    const first = crlf(delta(`key ${SECRET.slice(0, 5)}`));
    const second = crlf(delta(`${SECRET.slice(5)} end`));
    // Each event is cut inside its CRLF pairs: a CR ends one write, its LF starts the next.
    const text = await anthropicStream([crlf(START), crlf(TEXT_START), first.slice(0, -1), first.slice(-1), second.slice(0, -3), second.slice(-3), crlf(END)]);
    assert.ok(!text.includes(SECRET), text);
    assert.ok(!text.includes('event: error'), text);
    const joined = [...text.matchAll(/"text":"([^"]*)"/g)].map((m) => m[1]).join('');
    assert.match(joined, /^key .*end$/);
  });

  it('16 an upstream echoing the gateway key gets it replaced', async () => {
    up.respond = () => json({ ...MESSAGE, content: [{ type: 'text', text: `your key is ${UPSTREAM_KEY}` }] });
    const response = await claude('claude', BODY);
    const text = await response.text();
    assert.ok(!text.includes(UPSTREAM_KEY));
  });

  it('17 refuses an encoded ":" that would hide the model from the rule', async () => {
    await refused(() => gemini('gem', '/v1beta/models/gemini-2.5-pro%3AgenerateContent', { contents: [] }), 400);
  });

  it('18 refuses a body that names another model than the path', async () => {
    await refused(() => gemini('gem', '/v1beta/models/gemini-2.5-flash:generateContent', { model: 'models/gemini-2.5-pro', contents: [] }), 400);
  });

  it('19 denies the path model in other case', async () => {
    const body = await refused(() => gemini('gem', '/v1beta/models/GEMINI-2.5-PRO:generateContent', { contents: [] }), 403);
    assert.equal(body.error.status, 'PERMISSION_DENIED');
  });

  it('20 strips every spelling of the key query parameter', async () => {
    up.respond = () => json(geminiChunk('ok'));
    const response = await gemini('gem', `/v1beta/models/gemini-2.5-flash:generateContent?%6Bey=${token}&alt=json&KEY=${token}`, { contents: [] }, {});
    assert.equal(response.status, 200, await response.text());
    const seen = up.received.at(-1)!;
    assert.equal(seen.url, '/v1beta/models/gemini-2.5-flash:generateContent?alt=json');
    assert.ok(!seen.url.includes(token));
  });

  it('21 refuses a key in the query that differs from the header', async () => {
    await refused(() => gemini('gem', '/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSy-the-clients-own', { contents: [] }), 400);
  });

  it('22 refuses alt given twice', async () => {
    await refused(() => gemini('gem', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&alt=json', { contents: [] }), 400);
  });

  it('23 a JSON-array element that is not an object ends the array with an error element', async () => {
    up.respond = () => ({ headers: { 'content-type': 'application/json' }, steps: ['[', JSON.stringify(geminiChunk('fine')), ',', `"${SECRET}"`, ']'] });
    const response = await gemini('gem-masked', '/v1beta/models/gemini-2.5-flash:streamGenerateContent', { contents: [] });
    const text = await response.text();
    assert.ok(!text.includes(SECRET));
    const elements = JSON.parse(text);
    assert.equal(elements.at(-1).error.status, 'UNAVAILABLE');
  });

  it('24 a JSON array cut short ends with an error element, still valid JSON', async () => {
    up.respond = () => ({ headers: { 'content-type': 'application/json' }, steps: ['[', JSON.stringify(geminiChunk('fine')), ',{"candidates":[{"content":{"parts":[{"text":"cut'] });
    const response = await gemini('gem-masked', '/v1beta/models/gemini-2.5-flash:streamGenerateContent', { contents: [] });
    const elements = JSON.parse(await response.text());
    assert.equal(elements.length, 2);
    assert.match(elements[1].error.message, /ended before it was closed/);
  });

  it('25 a named event in a Gemini event stream under a profile ends it with an error chunk', async () => {
    const text = await streamed([`data: ${JSON.stringify(geminiChunk('a'))}\n\n`, `event: surprise\ndata: ${JSON.stringify(geminiChunk(SECRET))}\n\n`], () =>
      gemini('gem-masked', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [] }),
    );
    assert.ok(!text.includes(SECRET));
    assert.match(text, /data: \{"error":\{"code":502/);
  });

  it('26 refuses an encoded "/" in an Azure deployment', async () => {
    await refused(
      () => fetch(`${t.url}/proxy/az/openai/deployments/gpt-5-prod%2F..%2Fx/chat/completions?api-version=2024-10-21`, { method: 'POST', headers: { 'api-key': token, 'content-type': 'application/json' }, body: '{"messages":[]}' }),
      400,
    );
  });

  it('27 refuses an Azure api-key that differs from the bearer token', async () => {
    await refused(
      () =>
        fetch(`${t.url}/proxy/az/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`, {
          method: 'POST',
          headers: { 'api-key': 'the-clients-own-azure-key', authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{"messages":[]}',
        }),
      400,
    );
  });

  it('28 refuses a request without any token, in the provider’s shape', async () => {
    const body = await refused(() => fetch(`${t.url}/proxy/claude/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY }), 401);
    assert.equal(body.error.type, 'authentication_error');
  });
});
