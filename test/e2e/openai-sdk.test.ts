import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';

describe('the official openai SDK through the gateway', () => {
  let t: TestGateway;
  let client: OpenAI;
  let token: string;

  before(async () => {
    t = await startTestGateway();
    token = await t.token();
    client = new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
  });
  after(() => t.close());

  test('non-streaming chat completion reaches the model with the gateway-held key, not the agent token', async () => {
    const before = t.demo.requests.length;
    const completion = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'ping through the gateway' }] });
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.choices[0]!.message.content ?? '', /ping through the gateway/);
    const seen = t.demo.requests.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.ok(!JSON.stringify(seen[0]).includes(token), 'the agent token must not reach the upstream');
  });

  test('streaming: events arrive before the upstream finishes', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-hold',
      stream: true,
      messages: [{ role: 'user', content: 'stream me slowly' }],
    });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.done, false);
    assert.equal(first.value.object, 'chat.completion.chunk');
    // Only now may the upstream finish: the first event got through while it was still held.
    t.demo.releaseHeld();
    let text = first.value.choices[0]?.delta.content ?? '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += next.value.choices[0]?.delta.content ?? '';
    assert.match(text, /stream me slowly/);
  });

  test('streamed text equals the non-streamed text', async () => {
    const messages = [{ role: 'user' as const, content: 'same answer either way' }];
    const whole = await client.chat.completions.create({ model: 'demo', messages });
    const stream = await client.chat.completions.create({ model: 'demo', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, whole.choices[0]!.message.content);
  });

  test('tool calls, streaming and not', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
      },
    ];
    const messages = [{ role: 'user' as const, content: 'what is the weather in Paris?' }];
    const whole = await client.chat.completions.create({ model: 'demo', messages, tools });
    const call = whole.choices[0]!.message.tool_calls![0]!;
    assert.equal(whole.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(call.type === 'function' && call.function.name, 'get_weather');

    const runner = client.chat.completions.stream({ model: 'demo', messages, tools });
    const final = await runner.finalChatCompletion();
    const streamed = final.choices[0]!.message.tool_calls![0]!;
    assert.ok(streamed.type === 'function');
    assert.deepEqual(JSON.parse(streamed.function.arguments), JSON.parse(call.type === 'function' ? call.function.arguments : ''));
  });

  test('embeddings, completions and responses pass through', async () => {
    const embedding = await client.embeddings.create({ model: 'demo', input: 'vectorise me' });
    assert.ok(embedding.data[0]!.embedding.length > 0);
    const completion = await client.completions.create({ model: 'demo', prompt: 'complete me' });
    assert.match(completion.choices[0]!.text, /complete me/);
    const response = await client.responses.create({ model: 'demo', input: 'respond to me' });
    assert.match(response.output_text, /respond to me/);
    let streamed = '';
    for await (const event of await client.responses.create({ model: 'demo', input: 'stream a response', stream: true })) {
      if (event.type === 'response.output_text.delta') streamed += event.delta;
    }
    assert.match(streamed, /stream a response/);
  });

  test('upstream errors pass through with their status and Retry-After', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'demo-error-429', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && err.status === 429 && err.headers?.get('retry-after') !== null,
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'demo-error-500', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.InternalServerError,
    );
  });

  test('gateway refusals surface as the SDK error classes', async () => {
    const anonymous = new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: 'not-a-gatehouse-token', maxRetries: 0 });
    await assert.rejects(anonymous.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError && (err.error as any)?.code === 'auth_invalid');
    const scoped = new OpenAI({ baseURL: `${t.url}/proxy/other/v1`, apiKey: token, maxRetries: 0 });
    await assert.rejects(
      scoped.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.PermissionDeniedError && (err.error as any)?.code === 'forbidden_connection',
    );
  });

  test('every call is recorded with identity, model, bodies and the reassembled stream text', async () => {
    const sessions = await t.api('GET', '/sessions?connection=openai');
    const session = sessions.json.sessions.find((s: any) => s.principalName === 'admin' && s.protocol === 'http');
    assert.ok(session, 'the token run has a session');
    const shown = await t.api('GET', `/sessions/${session.id}`);
    const interactions: any[] = shown.json.interactions;
    const streamed = interactions.find((i) => i.model === 'demo-hold');
    assert.equal(streamed.kind, 'llm.chat');
    assert.equal(streamed.status, 'complete');
    assert.equal(streamed.responseStatus, 200);
    assert.match(streamed.requestBody, /stream me slowly/);
    assert.match(streamed.responseBody, /stream me slowly/, 'the recording holds the reassembled text, not raw events');
    assert.doesNotMatch(streamed.responseBody, /data:/);
    assert.ok(streamed.bytesOut > 0 && streamed.latencyMs >= 0);
    const limited = interactions.find((i) => i.model === 'demo-error-429');
    assert.equal(limited.responseStatus, 429);
    assert.equal(shown.json.chain.ok, true);
  });
});
