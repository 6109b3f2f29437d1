/**
 * Anthropic's official SDK through the gateway, against a loopback upstream that speaks the
 * Messages API's wire format (events exactly as Anthropic sends them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { gate, json, SECRET, startFakeUpstream, type FakeUpstream } from './support/fake-upstream.ts';

const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

export const messageStart = (input = 25) =>
  sse('message_start', { message: { id: 'msg_01', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: input, output_tokens: 1 } } });
const textStart = (index: number) => sse('content_block_start', { index, content_block: { type: 'text', text: '' } });
const textDelta = (index: number, text: string) => sse('content_block_delta', { index, delta: { type: 'text_delta', text } });
const stop = (index: number) => sse('content_block_stop', { index });
const messageEnd = (output: number, reason = 'end_turn') => sse('message_delta', { delta: { stop_reason: reason, stop_sequence: null }, usage: { output_tokens: output } }) + sse('message_stop', {});
const STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

function message(text: string, usage = { input_tokens: 12, output_tokens: 6 }) {
  return { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage };
}

describe('anthropic connections with the official SDK', () => {
  let t: TestGateway;
  let up: FakeUpstream;
  let token: string;
  const client = (connection = 'anthropic') => new Anthropic({ baseURL: `${t.url}/proxy/${connection}`, apiKey: token, maxRetries: 0 });

  before(async () => {
    up = await startFakeUpstream();
    const conn = (name: string) => `  - name: ${name}\n    type: anthropic\n    upstream: ${up.url}\n    credential: \${UPSTREAM_KEY}\n`;
    t = await startTestGateway({
      extraConnections: conn('anthropic') + conn('anthropic-masked') + conn('anthropic-limited'),
      policyYaml: `
policy:
  rules:
    - name: no-opus
      when: request.llm.model == "claude-opus-4-1"
      action: deny
      reason: opus is not for agents
    - name: masked
      match: { connections: [anthropic-masked] }
      action: allow
      mask: secrets
    - name: limited
      match: { connections: [anthropic-limited] }
      action: allow
      limits: { llmTokensPerMinute: 1000 }
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['anthropic', 'anthropic-masked', 'anthropic-limited'] });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  it('answers a message; the upstream gets the gateway key, never the Gatehouse token', async () => {
    up.respond = () => json(message('Hello there'));
    const reply = await client().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(reply.content[0]?.type === 'text' && reply.content[0].text, 'Hello there');
    const seen = up.received.at(-1)!;
    assert.equal(seen.url, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], UPSTREAM_KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(seen.headers['anthropic-version'], 'anthropic-version passes through');
    assert.ok(!JSON.stringify(seen.headers).includes(token));
  });

  it('streams: the first event reaches the client before the upstream finishes', async () => {
    const release = gate();
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [messageStart(), textStart(0), textDelta(0, 'First'), release.promise, textDelta(0, ' second'), stop(0), messageEnd(3)] });
    const stream = client().messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    const texts: string[] = [];
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
        texts.push(event.delta.text);
        // Only now may the upstream go on: the first delta came through while it was still open.
        release.open();
      }
    }
    assert.deepEqual(texts, ['First', ' second']);
    const final = await stream.finalMessage();
    assert.equal(final.usage.output_tokens, 3);
  });

  it('streams tool use: input_json_delta pieces are reassembled by the SDK', async () => {
    up.respond = () => ({
      headers: STREAM_HEADERS,
      steps: [
        messageStart(),
        sse('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: {} } }),
        sse('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"city": "Par' } }),
        sse('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: 'is"}' } }),
        stop(0),
        messageEnd(9, 'tool_use'),
      ],
    });
    const final = await client('anthropic-masked')
      .messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, tools: [{ name: 'get_weather', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'Weather?' }] })
      .finalMessage();
    const block = final.content[0];
    assert.equal(block?.type, 'tool_use');
    assert.deepEqual(block?.type === 'tool_use' ? block.input : null, { city: 'Paris' });
  });

  it('streams thinking blocks with their signature', async () => {
    up.respond = () => ({
      headers: STREAM_HEADERS,
      steps: [
        messageStart(),
        sse('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
        sse('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think' } }),
        sse('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } }),
        stop(0),
        textStart(1),
        textDelta(1, 'Done.'),
        stop(1),
        messageEnd(5),
      ],
    });
    const final = await client('anthropic-masked').messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 2048, messages: [{ role: 'user', content: 'Think' }] }).finalMessage();
    assert.equal(final.content[0]?.type, 'thinking');
    assert.equal(final.content[0]?.type === 'thinking' && final.content[0].thinking, 'Let me think');
    assert.equal(final.content[0]?.type === 'thinking' && final.content[0].signature, 'EqQBCgIYAhIM');
    assert.equal(final.content[1]?.type === 'text' && final.content[1].text, 'Done.');
  });

  it("passes the upstream's error through in Anthropic's shape", async () => {
    up.respond = () => ({ status: 429, headers: { 'content-type': 'application/json' }, steps: [JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } })] });
    await assert.rejects(client().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError);
      assert.match(String((err as InstanceType<typeof Anthropic.RateLimitError>).message), /slow down/);
      return true;
    });
  });

  it('a secret split across two stream events never reaches the client, nor the recording', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [messageStart(), textStart(0), textDelta(0, `key ${SECRET.slice(0, 9)}`), textDelta(0, `${SECRET.slice(9)} end`), stop(0), messageEnd(4)] });
    const stream = client('anthropic-masked').messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    let joined = '';
    for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') joined += event.delta.text;
    assert.ok(!joined.includes(SECRET), joined);
    assert.match(joined, /^key .*end$/s);
    // Recorded and replayed like an OpenAI conversation: the prompt's messages and the reassembled (masked) answer.
    const sessions = (await t.api('GET', '/sessions?connection=anthropic-masked')).json.sessions as { id: string }[];
    const shown = await Promise.all(sessions.map(async (s) => (await t.api('GET', `/sessions/${s.id}`)).json));
    const row = shown.flatMap((s) => s.interactions).find((i: { responseBody?: string }) => i.responseBody?.startsWith('key '));
    assert.ok(row, 'the streamed answer is recorded as its text');
    assert.equal(row.kind, 'llm.chat');
    assert.equal(row.model, 'claude-sonnet-4-5');
    assert.match(row.responseBody, /^key .*end$/s);
    const replay = (await t.api('GET', `/sessions/${row.sessionId}/replay`)).json;
    const text = JSON.stringify(replay);
    assert.match(text, /"type":"llm"/);
    assert.match(text, /"role":"user","text":"Hi"/);
    for (const view of [shown, replay]) assert.ok(!JSON.stringify(view).includes(SECRET));
  });

  it('a rule on request.llm.model denies, in Anthropic’s error shape', async () => {
    const before = up.received.length;
    await assert.rejects(client().messages.create({ model: 'Claude-Opus-4-1', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.PermissionDeniedError);
      const body = (err as InstanceType<typeof Anthropic.PermissionDeniedError>).error as { type: string; error: { type: string }; gatehouse: { code: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'permission_error');
      assert.equal(body.gatehouse.code, 'policy_denied');
      return true;
    });
    assert.equal(up.received.length, before, 'nothing was forwarded');
  });

  it('counts the tokens a response reports against llmTokensPerMinute', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [messageStart(40), textStart(0), textDelta(0, 'long answer'), stop(0), messageEnd(5000)] });
    await client('anthropic-limited').messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    up.respond = () => json(message('again'));
    await assert.rejects(client('anthropic-limited').messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError);
      return true;
    });
  });
});
