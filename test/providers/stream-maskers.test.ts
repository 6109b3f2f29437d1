/**
 * The provider stream maskers fed the same stream cut at every byte: whatever the cut, the
 * secret never comes out, the text around it does, and the output is still the provider's format.
 * And the Entra ID token cache under a clock the test moves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileMaskingProfiles, DEFAULT_PROFILES } from '../../src/masking/index.ts';
import { AnthropicSseMasker } from '../../src/masking/providers/anthropic-sse.ts';
import { GeminiArrayMasker, GeminiSseMasker } from '../../src/masking/providers/gemini-stream.ts';
import { JsonArraySplitter } from '../../src/masking/providers/json-array.ts';
import type { StreamResponseMasker } from '../../src/masking/index.ts';
import { EntraTokens } from '../../src/providers/entra-token.ts';
import { SECRET } from './support/fake-upstream.ts';

const profile = compileMaskingProfiles(DEFAULT_PROFILES, Buffer.alloc(32, 7)).get('secrets')!;

function run(make: () => StreamResponseMasker, input: string, cut: number): string {
  const masker = make();
  const bytes = Buffer.from(input);
  return String(masker.push(bytes.subarray(0, cut))) + String(masker.push(bytes.subarray(cut))) + String(masker.end());
}

const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\r\ndata: ${JSON.stringify({ type, ...data })}\r\n\r\n`;

describe('provider stream maskers at every split', () => {
  it('Anthropic: a secret spread over two deltas of a block, the block closed, then another block', () => {
    const input =
      sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
      sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: `a ${SECRET.slice(0, 6)}` } }) +
      sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: `${SECRET.slice(6)} b` } }) +
      sse('content_block_stop', { index: 0 }) +
      sse('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 't1', name: 'f', input: {} } }) +
      sse('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: `{"k":"${SECRET.slice(0, 12)}` } }) +
      sse('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: `${SECRET.slice(12)}"}` } }) +
      sse('content_block_stop', { index: 1 }) +
      sse('message_stop', {});
    for (let cut = 0; cut <= Buffer.byteLength(input); cut++) {
      const out = run(() => new AnthropicSseMasker(profile, 1 << 20, 1 << 16), input, cut);
      assert.ok(!out.includes(SECRET), `cut at ${cut}`);
      const events = out.split('\r\n\r\n').filter((e) => e.startsWith('event: ')).map((e) => JSON.parse(e.split('\r\ndata: ')[1]!));
      const text = events.filter((e) => e.delta?.type === 'text_delta').map((e) => e.delta.text).join('');
      assert.match(text, /^a .+ b$/, `cut at ${cut}`);
      // Held text goes out before its block's stop, never after.
      const stop0 = events.findIndex((e) => e.type === 'content_block_stop' && e.index === 0);
      assert.ok(events.slice(stop0).every((e) => e.index !== 0 || e.type !== 'content_block_delta'), `cut at ${cut}`);
      const json = events.filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json).join('');
      assert.equal(typeof JSON.parse(json).k, 'string', `cut at ${cut}`);
      assert.equal(events.at(-1).type, 'message_stop');
    }
  });

  it('Gemini event stream: a secret over two chunks', () => {
    const chunk = (text: string) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0 }], modelVersion: 'm' })}\n\n`;
    const input = chunk(`x ${SECRET.slice(0, 4)}`) + chunk(`${SECRET.slice(4)} y`);
    for (let cut = 0; cut <= input.length; cut++) {
      const out = run(() => new GeminiSseMasker(profile, 1 << 20, 1 << 16), input, cut);
      assert.ok(!out.includes(SECRET), `cut at ${cut}`);
      const text = out.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)).candidates[0].content.parts[0].text).join('');
      assert.match(text, /^x .+ y$/, `cut at ${cut}`);
    }
  });

  it('Gemini JSON array: a secret over two elements; the output is one JSON array', () => {
    const element = (text: string) => JSON.stringify({ candidates: [{ content: { parts: [{ text: 'tick' }, { text, thought: false }], role: 'model' }, index: 0 }] }, null, 1);
    const input = `[${element(`x ${SECRET.slice(0, 15)}`)}\n,\r\n${element(`${SECRET.slice(15)} y`)}\n]`;
    for (let cut = 0; cut <= input.length; cut++) {
      const out = run(() => new GeminiArrayMasker(profile, 1 << 20, 1 << 16), input, cut);
      assert.ok(!out.includes(SECRET), `cut at ${cut}`);
      const elements = JSON.parse(out) as { candidates: { content: { parts: { text: string }[] } }[] }[];
      const text = elements.map((e) => e.candidates[0]!.content.parts.map((p) => p.text).join('')).join('').replaceAll('tick', '');
      assert.match(text, /^x .+ y$/, `cut at ${cut}`);
    }
  });

  it('the JSON array splitter keeps strings with brackets, braces and escaped quotes whole', () => {
    const elements = ['{"a":"[{]}\\"}"}', '{"b":[1,{"c":"}"}]}'];
    const input = ` [ ${elements[0]} ,\n ${elements[1]} ] `;
    for (let cut = 0; cut <= input.length; cut++) {
      const splitter = new JsonArraySplitter(1000);
      const out = [...splitter.push(input.slice(0, cut)), ...splitter.push(input.slice(cut))];
      splitter.end();
      assert.deepEqual(out, ['[', ...elements], `cut at ${cut}`);
    }
  });

  it('the JSON array splitter refuses an element over its bound', () => {
    const splitter = new JsonArraySplitter(10);
    assert.throws(() => splitter.push(`[{"a":"${'x'.repeat(50)}`), { code: 'masking_failed' });
  });
});

describe('Entra ID tokens', () => {
  const credential = { tenant: 't', clientId: 'c', clientSecret: 's3cret-value', scope: 'https://cognitiveservices.azure.com/.default', tokenUrl: 'http://127.0.0.1:1/token' };

  function endpoint(answers: (() => Response)[]) {
    const calls: string[] = [];
    const fetchFn = (async (_url: string | URL | Request, init?: RequestInit) => {
      calls.push(String(init?.body));
      const next = answers.shift();
      if (!next) throw new Error('no answer scripted');
      return next();
    }) as typeof fetch;
    return { calls, fetchFn };
  }
  const ok = (token: string, seconds = 3600) => () => new Response(JSON.stringify({ token_type: 'Bearer', expires_in: seconds, access_token: token }), { status: 200 });

  it('reuses a token until two thirds of its lifetime or five minutes before expiry, whichever comes first', async () => {
    let now = 1_000_000;
    const { calls, fetchFn } = endpoint([ok('one'), ok('two', 600), ok('three', 600)]);
    const tokens = new EntraTokens({ now: () => now, fetch: fetchFn, refreshBeforeMs: 300_000 });
    assert.equal(await tokens.token(credential), 'one');
    now += 2400_000 - 1;
    assert.equal(await tokens.token(credential), 'one');
    now += 1;
    assert.equal(await tokens.token(credential), 'two');
    // Ten minutes: five before expiry comes first.
    now += 300_000 - 1;
    assert.equal(await tokens.token(credential), 'two');
    now += 1;
    assert.equal(await tokens.token(credential), 'three');
    assert.equal(calls.length, 3);
    assert.match(calls[0]!, /grant_type=client_credentials/);
    assert.match(calls[0]!, /scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default/);
  });

  it('shares one fetch among concurrent requests', async () => {
    const { calls, fetchFn } = endpoint([ok('one')]);
    const tokens = new EntraTokens({ now: () => 0, fetch: fetchFn });
    const got = await Promise.all([tokens.token(credential), tokens.token(credential), tokens.token(credential)]);
    assert.deepEqual(got, ['one', 'one', 'one']);
    assert.equal(calls.length, 1);
  });

  it('keeps a still-valid token when a refresh fails, and fails once it has expired', async () => {
    let now = 0;
    const refused = () => new Response(JSON.stringify({ error: 'invalid_client', error_description: 'AADSTS secret s3cret-value' }), { status: 401 });
    const { fetchFn } = endpoint([ok('one', 600), refused, refused]);
    const tokens = new EntraTokens({ now: () => now, fetch: fetchFn, refreshBeforeMs: 300_000 });
    assert.equal(await tokens.token(credential), 'one');
    now = 400_000;
    assert.equal(await tokens.token(credential), 'one');
    now = 700_000;
    await assert.rejects(tokens.token(credential), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'upstream_credential');
      assert.ok(!err.message.includes('s3cret-value') && !err.message.includes('AADSTS'));
      return true;
    });
  });

  it('refuses a token that is not a bearer token', async () => {
    const { fetchFn } = endpoint([() => new Response(JSON.stringify({ token_type: 'pop', expires_in: 3600, access_token: 'x' }), { status: 200 })]);
    await assert.rejects(new EntraTokens({ fetch: fetchFn }).token(credential), { code: 'upstream_credential' });
  });
});
