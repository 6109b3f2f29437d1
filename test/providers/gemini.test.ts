/**
 * @google/genai through the gateway, against a loopback upstream speaking the Gemini API's wire
 * format: generateContent, streamGenerateContent as `?alt=sse` (what the SDK asks for) and as the
 * default JSON array (read with fetch, as REST clients do).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, GoogleGenAI } from '@google/genai';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { gate, json, SECRET, startFakeUpstream, type FakeUpstream } from './support/fake-upstream.ts';

export function chunk(text: string, extra: Record<string, unknown> = {}, usage?: { promptTokenCount: number; candidatesTokenCount: number }) {
  return {
    candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...extra }],
    ...(usage ? { usageMetadata: { ...usage, totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount } } : {}),
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-1',
  };
}
export const sseData = (value: unknown) => `data: ${JSON.stringify(value)}\r\n\r\n`;
const SSE = { 'content-type': 'text/event-stream' };

describe('gemini connections with @google/genai', () => {
  let t: TestGateway;
  let up: FakeUpstream;
  let token: string;
  const ai = (connection = 'gemini') => new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: `${t.url}/proxy/${connection}` } });

  before(async () => {
    up = await startFakeUpstream();
    const conn = (name: string) => `  - name: ${name}\n    type: gemini\n    upstream: ${up.url}\n    credential: \${UPSTREAM_KEY}\n`;
    t = await startTestGateway({
      extraConnections: conn('gemini') + conn('gemini-masked') + conn('gemini-limited'),
      policyYaml: `
policy:
  rules:
    - name: no-pro
      when: request.llm.model == "gemini-2.5-pro"
      action: deny
      reason: pro is not for agents
    - name: masked
      match: { connections: [gemini-masked] }
      action: allow
      mask: secrets
    - name: limited
      match: { connections: [gemini-limited] }
      action: allow
      limits: { llmTokensPerMinute: 1000 }
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['gemini', 'gemini-masked', 'gemini-limited'] });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  it('answers generateContent; the upstream gets the gateway key as x-goog-api-key', async () => {
    up.respond = () => json(chunk('Hello from Gemini', { finishReason: 'STOP' }, { promptTokenCount: 3, candidatesTokenCount: 4 }));
    const reply = await ai().models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' });
    assert.equal(reply.text, 'Hello from Gemini');
    const seen = up.received.at(-1)!;
    assert.equal(seen.url, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(seen.headers['x-goog-api-key'], UPSTREAM_KEY);
    assert.ok(!JSON.stringify(seen.headers).includes(token));
  });

  it('streams (alt=sse): the first chunk reaches the client before the upstream finishes', async () => {
    const release = gate();
    up.respond = () => ({ headers: SSE, steps: [sseData(chunk('One')), release.promise, sseData(chunk(' two', { finishReason: 'STOP' }, { promptTokenCount: 2, candidatesTokenCount: 2 }))] });
    const texts: string[] = [];
    for await (const c of await ai().models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Count' })) {
      texts.push(c.text ?? '');
      release.open();
    }
    assert.deepEqual(texts, ['One', ' two']);
    assert.match(up.received.at(-1)!.url, /:streamGenerateContent\?alt=sse$/);
  });

  it('passes function calls through', async () => {
    up.respond = () => json({ candidates: [{ content: { parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }], role: 'model' }, finishReason: 'STOP', index: 0 }] });
    const reply = await ai('gemini-masked').models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Weather in Paris?',
      config: { tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'weather', parametersJsonSchema: { type: 'object' } }] }] },
    });
    assert.deepEqual(reply.functionCalls?.[0]?.args, { city: 'Paris' });
    assert.equal(reply.functionCalls?.[0]?.name, 'get_weather');
  });

  it("passes the upstream's error through in Google's shape", async () => {
    up.respond = () => ({ status: 400, headers: { 'content-type': 'application/json' }, steps: [JSON.stringify({ error: { code: 400, message: 'bad contents', status: 'INVALID_ARGUMENT' } })] });
    await assert.rejects(ai().models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      assert.match(err.message, /bad contents/);
      return true;
    });
  });

  it('a secret split across two SSE chunks never reaches the client', async () => {
    up.respond = () => ({ headers: SSE, steps: [sseData(chunk(`key ${SECRET.slice(0, 10)}`)), sseData(chunk(`${SECRET.slice(10)} end`, { finishReason: 'STOP' }))] });
    let joined = '';
    for await (const c of await ai('gemini-masked').models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hi' })) joined += c.text ?? '';
    assert.ok(!joined.includes(SECRET), joined);
    assert.match(joined, /^key .*end$/s);
  });

  it('streams the JSON array form masked element by element, the first before the upstream finishes', async () => {
    const release = gate();
    up.respond = () => ({
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      steps: ['[', JSON.stringify(chunk(`Hi ${SECRET.slice(0, 7)}`)), release.promise, '\n,\r\n', JSON.stringify(chunk(`${SECRET.slice(7)} bye`, { finishReason: 'STOP' })), '\n]'],
    });
    const response = await fetch(`${t.url}/proxy/gemini-masked/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': token, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] }),
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('Hi')) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the first element came before the upstream finished');
      text += decoder.decode(value, { stream: true });
    }
    release.open();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const elements = JSON.parse(text) as ReturnType<typeof chunk>[];
    const joined = elements.map((e) => e.candidates?.[0]?.content.parts.map((p) => p.text).join('') ?? '').join('');
    assert.ok(!joined.includes(SECRET), joined);
    assert.match(joined, /^Hi .*bye$/s);
  });

  it('accepts the Gatehouse token as ?key= and never forwards it', async () => {
    up.respond = () => json(chunk('ok'));
    const response = await fetch(`${t.url}/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'Hi' }] }] }),
    });
    assert.equal(response.status, 200);
    const seen = up.received.at(-1)!;
    assert.equal(seen.url, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(seen.headers['x-goog-api-key'], UPSTREAM_KEY);
  });

  it('a rule on request.llm.model denies the model the path names, in Google’s error shape', async () => {
    const before = up.received.length;
    await assert.rejects(ai().models.generateContent({ model: 'gemini-2.5-pro', contents: 'Hi' }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 403);
      assert.match(err.message, /PERMISSION_DENIED/);
      assert.match(err.message, /policy_denied/);
      return true;
    });
    assert.equal(up.received.length, before);
  });

  it('counts the tokens a response reports against llmTokensPerMinute', async () => {
    up.respond = () => json(chunk('long', { finishReason: 'STOP' }, { promptTokenCount: 10, candidatesTokenCount: 4000 }));
    await ai('gemini-limited').models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' });
    await assert.rejects(ai('gemini-limited').models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 429);
      return true;
    });
  });
});
