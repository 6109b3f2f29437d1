import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionTool } from 'openai/resources/chat/completions';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { LONG_PIECES } from '../../src/demo/echo-text.ts';

const API_KEY = 'sk-demo-test-key';
const WEATHER_TOOL: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
};
const TIME_TOOL: ChatCompletionTool = { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } };

function client(model: DemoModel, apiKey = API_KEY): OpenAI {
  return new OpenAI({ baseURL: `${model.url}/v1`, apiKey, maxRetries: 0 });
}

async function streamedText(stream: AsyncIterable<ChatCompletionChunk>): Promise<{ text: string; deltas: number }> {
  let text = '';
  let deltas = 0;
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta.content;
    if (content) {
      text += content;
      deltas++;
    }
  }
  return { text, deltas };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 3000) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('demo model', () => {
  let model: DemoModel;
  let openai: OpenAI;

  before(async () => {
    model = await startDemoModel({ apiKey: API_KEY, slowMs: 300 });
    openai = client(model);
  });
  after(() => model.close());

  describe('chat completions', () => {
    it('echoes the last user message and records what arrived', async () => {
      model.requests.length = 0;
      const completion = await openai.chat.completions.create({
        model: 'demo',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: [{ type: 'text', text: 'my card is 4111 1111 1111 1111' }] },
        ],
      });
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-/);
      assert.equal(completion.choices[0]?.message.content, 'Echo: my card is 4111 1111 1111 1111');
      assert.equal(completion.choices[0]?.finish_reason, 'stop');
      const usage = completion.usage;
      assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, 'usage counts both sides');
      assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);

      const [recorded] = model.requests;
      assert.equal(recorded?.method, 'POST');
      assert.equal(recorded?.path, '/v1/chat/completions');
      assert.equal(recorded?.headers.authorization, `Bearer ${API_KEY}`);
      assert.equal((recorded?.bodyJson as { messages: unknown[] }).messages.length, 4);
    });

    it('streams the same text in several small chunks, split inside words and emoji-safe', async () => {
      const messages = [{ role: 'user' as const, content: 'secret sk-ABCDEFGHIJKLMNOP and 🎉 done' }];
      const whole = await openai.chat.completions.create({ model: 'demo', messages });
      const stream = await openai.chat.completions.create({ model: 'demo', messages, stream: true });
      const { text, deltas } = await streamedText(stream);
      assert.equal(text, whole.choices[0]?.message.content);
      assert.ok(deltas >= 5, `expected several deltas, got ${deltas}`);
    });

    it('starts with the assistant role and ends with a usage chunk when asked, then [DONE]', async () => {
      const response = await openai.chat.completions
        .create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
        .asResponse();
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
      const frames = (await response.text()).split('\n\n').filter(Boolean);
      assert.equal(frames.at(-1), 'data: [DONE]');
      const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice('data: '.length)) as ChatCompletionChunk);
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'), 'every frame is a chunk');
      assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
      assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
      const last = chunks.at(-1);
      assert.deepEqual(last?.choices, []);
      assert.ok((last?.usage?.total_tokens ?? 0) > 0, 'the last chunk carries usage');
    });

    it('calls the first tool when asked about the weather, with JSON arguments', async () => {
      const completion = await openai.chat.completions.create({
        model: 'demo',
        messages: [{ role: 'user', content: 'What is the weather in New York?' }],
        tools: [WEATHER_TOOL, TIME_TOOL],
      });
      const choice = completion.choices[0];
      assert.equal(choice?.finish_reason, 'tool_calls');
      assert.equal(choice?.message.content, null);
      const call = choice?.message.tool_calls?.[0];
      assert.ok(call?.type === 'function', 'a function call');
      assert.match(call.id, /^call_/);
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { location: 'New York' });
    });

    it('calls the function tool_choice forces, and none when there is no reason to', async () => {
      const forced = await openai.chat.completions.create({
        model: 'demo',
        messages: [{ role: 'user', content: 'hello' }],
        tools: [WEATHER_TOOL, TIME_TOOL],
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      });
      assert.equal(forced.choices[0]?.message.tool_calls?.[0]?.type === 'function' && forced.choices[0].message.tool_calls[0].function.name, 'get_time');

      const plain = await openai.chat.completions.create({
        model: 'demo',
        messages: [{ role: 'user', content: 'hello' }],
        tools: [WEATHER_TOOL],
      });
      assert.equal(plain.choices[0]?.message.tool_calls, undefined);
      assert.equal(plain.choices[0]?.message.content, 'Echo: hello');

      const weatherWithoutTools = await openai.chat.completions.create({
        model: 'demo',
        messages: [{ role: 'user', content: 'weather please' }],
      });
      assert.equal(weatherWithoutTools.choices[0]?.finish_reason, 'stop');
    });

    it('streams a tool call in argument fragments the SDK helper reassembles', async () => {
      const stream = openai.chat.completions.stream({
        model: 'demo',
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [WEATHER_TOOL],
      });
      let fragments = 0;
      stream.on('tool_calls.function.arguments.delta', () => fragments++);
      const final = await stream.finalChatCompletion();
      const call = final.choices[0]?.message.tool_calls?.[0];
      assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
      assert.ok(call?.type === 'function', 'a function call');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
      assert.ok(fragments > 1, `expected the arguments in several fragments, got ${fragments}`);
    });

    it('answers a tool result by echoing it', async () => {
      const completion = await openai.chat.completions.create({
        model: 'demo',
        tools: [WEATHER_TOOL],
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18°C and sunny' },
        ],
      });
      assert.equal(completion.choices[0]?.message.content, 'Echo: 18°C and sunny');
    });
  });

  describe('other endpoints', () => {
    it('legacy completions, whole and streamed', async () => {
      const whole = await openai.completions.create({ model: 'demo', prompt: 'say this' });
      assert.equal(whole.object, 'text_completion');
      assert.equal(whole.choices[0]?.text, 'Echo: say this');
      let text = '';
      for await (const chunk of await openai.completions.create({ model: 'demo', prompt: 'say this', stream: true })) {
        text += chunk.choices[0]?.text ?? '';
      }
      assert.equal(text, 'Echo: say this');
    });

    it('embeddings: deterministic, one per input, the same in base64 and float', async () => {
      const decoded = await openai.embeddings.create({ model: 'demo-embedding', input: ['alpha', 'beta'] });
      const floats = await openai.embeddings.create({ model: 'demo-embedding', input: ['alpha', 'beta'], encoding_format: 'float' });
      assert.equal(decoded.data.length, 2);
      assert.equal(decoded.data[0]?.embedding.length, 8);
      assert.deepEqual(Array.from(decoded.data[0]?.embedding ?? []), floats.data[0]?.embedding);
      assert.notDeepEqual(floats.data[0]?.embedding, floats.data[1]?.embedding);
      const norm = Math.hypot(...(floats.data[0]?.embedding ?? []));
      assert.ok(Math.abs(norm - 1) < 1e-6, `expected a unit vector, norm ${norm}`);
      const again = await openai.embeddings.create({ model: 'demo-embedding', input: 'alpha', encoding_format: 'float' });
      assert.deepEqual(again.data[0]?.embedding, floats.data[0]?.embedding);
      const wide = await openai.embeddings.create({ model: 'demo-embedding', input: 'alpha', dimensions: 20, encoding_format: 'float' });
      assert.equal(wide.data[0]?.embedding.length, 20);
    });

    it('responses: output_text whole, and the full event sequence when streamed', async () => {
      const whole = await openai.responses.create({ model: 'demo', input: 'tell me', instructions: 'be kind' });
      assert.equal(whole.object, 'response');
      assert.equal(whole.status, 'completed');
      assert.equal(whole.output_text, 'Echo: tell me');

      const types: string[] = [];
      const sequence: number[] = [];
      const stream = openai.responses.stream({
        model: 'demo',
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'a longer streamed answer' }] }],
      });
      for await (const event of stream) {
        types.push(event.type);
        sequence.push(event.sequence_number);
      }
      const final = await stream.finalResponse();
      assert.equal(final.output_text, 'Echo: a longer streamed answer');
      const deltas = types.filter((t) => t === 'response.output_text.delta').length;
      assert.ok(deltas > 2, `expected several text deltas, got ${deltas}`);
      assert.deepEqual(
        types.filter((t) => t !== 'response.output_text.delta'),
        [
          'response.created',
          'response.in_progress',
          'response.output_item.added',
          'response.content_part.added',
          'response.output_text.done',
          'response.content_part.done',
          'response.output_item.done',
          'response.completed',
        ],
      );
      assert.deepEqual(sequence, types.map((_, i) => i));
    });

    it('lists and retrieves models', async () => {
      const ids: string[] = [];
      for await (const m of openai.models.list()) ids.push(m.id);
      assert.ok(ids.includes('demo') && ids.includes('demo-hold'), `listed ${ids.join(', ')}`);
      assert.equal((await openai.models.retrieve('demo')).id, 'demo');
      await assert.rejects(openai.models.retrieve('gpt-nonexistent'), (e) => {
        assert.ok(e instanceof OpenAI.NotFoundError, String(e));
        assert.equal(e.code, 'model_not_found');
        return true;
      });
    });
  });

  describe('errors', () => {
    const cases: { name: string; call: (c: OpenAI) => Promise<unknown>; type: new (...a: never[]) => Error; status: number; code: string | null; param?: string }[] = [
      {
        name: 'demo-error-429 is a rate limit',
        call: (c) => c.chat.completions.create({ model: 'demo-error-429', messages: [{ role: 'user', content: 'x' }] }),
        type: OpenAI.RateLimitError,
        status: 429,
        code: 'rate_limit_exceeded',
      },
      {
        name: 'demo-error-500 is a server error',
        call: (c) => c.responses.create({ model: 'demo-error-500', input: 'x' }),
        type: OpenAI.InternalServerError,
        status: 500,
        code: null,
      },
      {
        name: 'missing messages',
        call: (c) => c.post('/chat/completions', { body: { model: 'demo' } }),
        type: OpenAI.BadRequestError,
        status: 400,
        code: 'missing_required_parameter',
        param: 'messages',
      },
      {
        name: 'missing model',
        call: (c) => c.post('/embeddings', { body: { input: 'x' } }),
        type: OpenAI.BadRequestError,
        status: 400,
        code: 'missing_required_parameter',
        param: 'model',
      },
      {
        name: 'unknown encoding_format',
        call: (c) => c.post('/embeddings', { body: { model: 'demo', input: 'x', encoding_format: 'hex' } }),
        type: OpenAI.BadRequestError,
        status: 400,
        code: 'invalid_value',
        param: 'encoding_format',
      },
      {
        name: 'unknown route',
        call: (c) => c.get('/no/such/route'),
        type: OpenAI.NotFoundError,
        status: 404,
        code: null,
      },
      {
        name: 'wrong key',
        call: (c) => client(model, 'sk-wrong-key-0000').chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }] }),
        type: OpenAI.AuthenticationError,
        status: 401,
        code: 'invalid_api_key',
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        await assert.rejects(c.call(openai), (e) => {
          assert.ok(e instanceof c.type, `expected ${c.type.name}, got ${String(e)}`);
          assert.ok(e instanceof OpenAI.APIError, String(e));
          assert.equal(e.status, c.status);
          assert.equal(e.code, c.code);
          if (c.param) assert.equal(e.param, c.param);
          return true;
        });
      });
    }

    it('a rate limit says when to retry', async () => {
      const res = await fetch(`${model.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-error-429', messages: [{ role: 'user', content: 'x' }] }),
      });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '1');
    });

    it('rejects malformed JSON and a missing key before doing any work', async () => {
      const bad = await fetch(`${model.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: '{"model": "demo",',
      });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { type: string } }).error.type, 'invalid_request_error');

      const anonymous = await fetch(`${model.url}/v1/models`);
      assert.equal(anonymous.status, 401);
      const body = (await anonymous.json()) as { error: { type: string; message: string } };
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, /didn't provide an API key/);
    });

    it('does not echo a wrong key back whole', async () => {
      const wrong = 'sk-this-key-must-not-come-back-9876';
      await assert.rejects(client(model, wrong).models.list(), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        assert.ok(!e.message.includes(wrong), 'the whole key came back');
        return true;
      });
    });
  });

  describe('test controls', () => {
    it('demo-slow answers after its pause, and not before a prompt reply sent after it', async () => {
      // A model whose pause outlasts the test: the prompt request sent later must come back first.
      const slow = await startDemoModel({ slowMs: 600_000 });
      try {
        const controller = new AbortController();
        let answered = false;
        const pending = client(slow, 'any')
          .chat.completions.create({ model: 'demo-slow', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal })
          .then(() => (answered = true), () => undefined);
        await until(() => slow.requests.length === 1, 'the slow request to arrive');
        await client(slow, 'any').chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'y' }] });
        assert.equal(answered, false, 'demo-slow answered before a later prompt request');
        controller.abort();
        await pending;
        await until(() => slow.aborted === 1, 'the abort to reach the model');
      } finally {
        await slow.close();
      }
      // And it does answer once the pause is over (300 ms for this suite's model).
      const completion = await openai.chat.completions.create({ model: 'demo-slow', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(completion.choices[0]?.message.content, 'Echo: x');
    });

    it('demo-long streams many chunks', async () => {
      const stream = await openai.chat.completions.create({ model: 'demo-long', messages: [{ role: 'user', content: 'go' }], stream: true });
      const { deltas } = await streamedText(stream);
      assert.equal(deltas, LONG_PIECES);
    });

    it('demo-hold delivers the first chunk, then the rest only after releaseHeld()', async () => {
      const stream = await openai.chat.completions.create({ model: 'demo-hold', messages: [{ role: 'user', content: 'held reply' }], stream: true });
      const chunks = stream[Symbol.asyncIterator]();
      assert.equal((await chunks.next()).value?.choices[0]?.delta.role, 'assistant');
      assert.equal((await chunks.next()).value?.choices[0]?.delta.content, 'Echo');

      let delivered = false;
      const pending = chunks.next().then((chunk) => ((delivered = true), chunk));
      // A prompt request sent later comes back while the held one still waits.
      await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'meanwhile' }] });
      assert.equal(delivered, false, 'the held chunk came without releaseHeld()');

      model.releaseHeld();
      let text = 'Echo' + ((await pending).value?.choices[0]?.delta.content ?? '');
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) text += next.value.choices[0]?.delta.content ?? '';
      assert.equal(text, 'Echo: held reply');
    });
  });
});

describe('demo model aborts and options', () => {
  it('counts a client that aborts a held stream, and not one that finishes', async () => {
    const model = await startDemoModel();
    try {
      const openai = client(model, 'any');
      await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }], stream: true }).then(streamedText);
      assert.equal(model.aborted, 0);

      const stream = await openai.chat.completions.create({ model: 'demo-hold', messages: [{ role: 'user', content: 'x' }], stream: true });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) break; // breaking out aborts the request
      }
      await until(() => model.aborted === 1, 'the abort to reach the server');
    } finally {
      await model.close();
    }
  });

  it('counts a request abandoned while demo-slow waits', async () => {
    const model = await startDemoModel({ slowMs: 5000 });
    try {
      const openai = client(model, 'any');
      await assert.rejects(
        openai.chat.completions.create({ model: 'demo-slow', messages: [{ role: 'user', content: 'x' }] }, { signal: AbortSignal.timeout(100) }),
        OpenAI.APIUserAbortError,
      );
      await until(() => model.aborted === 1, 'the abort to reach the server');
    } finally {
      await model.close();
    }
  });

  it('pauses chunkDelayMs between chunks, accepts any key without apiKey, and can skip recording', async () => {
    // A pause longer than the test: after the first chunk, the next must not come before a prompt
    // reply sent later; then the stream is abandoned.
    const paused = await startDemoModel({ chunkDelayMs: 600_000, recordRequests: false });
    try {
      const controller = new AbortController();
      const stream = await client(paused, 'whatever').chat.completions.create(
        { model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true },
        { signal: controller.signal },
      );
      const chunks = stream[Symbol.asyncIterator]();
      assert.equal((await chunks.next()).value?.choices[0]?.delta.role, 'assistant');
      let second = false;
      const next = chunks.next().then(() => (second = true), () => undefined);
      const quick = await startDemoModel();
      try {
        await client(quick, 'any').chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'y' }] });
      } finally {
        await quick.close();
      }
      assert.equal(second, false, 'the second chunk came without the pause');
      controller.abort();
      await next;
      assert.equal(paused.requests.length, 0, 'recordRequests: false keeps nothing');
    } finally {
      await paused.close();
    }
    const small = await startDemoModel({ chunkDelayMs: 5 });
    try {
      const stream = await client(small, 'whatever').chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], stream: true });
      assert.equal((await streamedText(stream)).text, 'Echo: hi');
    } finally {
      await small.close();
    }
  });

  it('keeps only the most recent recordLimit requests', async () => {
    const model = await startDemoModel({ recordLimit: 3 });
    try {
      for (let n = 1; n <= 5; n++) await (await fetch(`${model.url}/v1/models?n=${n}`)).arrayBuffer();
      assert.deepEqual(
        model.requests.map((r) => r.path),
        ['/v1/models?n=3', '/v1/models?n=4', '/v1/models?n=5'],
      );
    } finally {
      await model.close();
    }
  });

  it('close() ends a stream that is still held', async () => {
    const model = await startDemoModel();
    const stream = await client(model, 'x').chat.completions.create({ model: 'demo-hold', messages: [{ role: 'user', content: 'x' }], stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await model.close();
    await assert.rejects(async () => {
      while (!(await iterator.next()).done);
    });
  });
});
