import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const STREAMED_SECRET = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';

/** An OpenAI-shaped upstream whose answers carry secrets, streamed a few characters per event. */
async function startLeakyModel(): Promise<{ server: Server; url: string; released: () => void }> {
  let release: () => void = () => undefined;
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    const answer = `Sure. The deploy token is ${STREAMED_SECRET} and the owner is ${EMAIL}. Done.`;
    if (req.url?.includes('json')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ owner: EMAIL, note: `card ${CARD}`, id: 'chatcmpl-1' }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'leaky', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }));
    for (let i = 0; i < answer.length; i += 3) {
      res.write(chunk({ content: answer.slice(i, i + 3) }));
      if (i === 3) await new Promise<void>((resolve) => (release = resolve));
    }
    res.write(chunk({}, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, released: () => release() };
}

describe('masking in the data path', () => {
  let t: TestGateway;
  let leaky: Awaited<ReturnType<typeof startLeakyModel>>;
  let token: string;

  before(async () => {
    leaky = await startLeakyModel();
    t = await startTestGateway({
      extraConnections: `
  - name: leaky
    type: openai
    upstream: ${leaky.url}
  - name: leaky-http
    type: http
    upstream: ${leaky.url}
`,
      policyYaml: `
policy:
  include: [secrets-in-prompts]
  rules:
    - name: llm-masked
      match: { connections: [openai, leaky, leaky-http] }
      action: allow
      mask: pii
`,
    });
    token = await t.token({ connections: ['openai', 'leaky', 'leaky-http'] });
  });
  after(async () => {
    await t.close();
    await new Promise((resolve) => leaky.server.close(resolve));
  });

  test('PII in a prompt is masked before it reaches the model, and in the answer and the recording', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
    const before = t.demo.requests.length;
    const completion = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: `Refund ${EMAIL} on card ${CARD} please` }],
    });
    const upstreamSaw = t.demo.requests.slice(before).map((r) => r.body).join('\n');
    assert.ok(upstreamSaw.includes('Refund'), 'the request reached the model');
    assert.ok(!upstreamSaw.includes(EMAIL) && !upstreamSaw.includes(CARD), 'raw PII never reached the upstream');
    assert.match(upstreamSaw, /\[EMAIL\]/);
    const answer = completion.choices[0]!.message.content ?? '';
    assert.ok(!answer.includes(EMAIL) && !answer.includes(CARD));
    assert.match(answer, /1111/, 'the card is partially masked: last four digits kept');
  });

  test('a prompt carrying a secret is denied by the secrets-in-prompts pack and never sent', async () => {
    const before = t.demo.requests.length;
    const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: `use key ${AWS_KEY}` }] }),
    });
    assert.equal(response.status, 403);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, 'policy_denied');
    assert.match(body.error.gatehouse.rule, /secrets-in-prompts/);
    assert.equal(t.demo.requests.length, before);
    assert.ok(!JSON.stringify(body).includes(AWS_KEY), 'the error does not echo the secret');
  });

  test('a secret split across many SSE events is masked while the stream keeps flowing', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/proxy/leaky/v1`, apiKey: token, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'leaky', stream: true, messages: [{ role: 'user', content: 'tell me' }] });
    const iterator = stream[Symbol.asyncIterator]();
    let text = '';
    // The upstream holds after its second piece: whatever arrives now arrived before it finished.
    const first = await Promise.race([iterator.next(), sleep(3000).then(() => null)]);
    assert.ok(first && !first.done, 'the first event arrived before the upstream finished');
    leaky.released();
    text += first.value.choices[0]?.delta.content ?? '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += next.value.choices[0]?.delta.content ?? '';
    assert.match(text, /^Sure\. The deploy token is /);
    assert.ok(!text.includes(STREAMED_SECRET.slice(0, 12)), `secret leaked: ${text}`);
    assert.ok(!text.includes(EMAIL), `email leaked: ${text}`);
    assert.match(text, /Done\.$/);
  });

  test('JSON responses from HTTP connections are masked field by field', async () => {
    const response = await fetch(`${t.url}/proxy/leaky-http/json`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as any;
    assert.equal(body.id, 'chatcmpl-1');
    assert.notEqual(body.owner, EMAIL);
    assert.ok(!JSON.stringify(body).includes(CARD));
  });

  test('no recording and no log line holds the raw values', async () => {
    const sessions = (await t.api('GET', '/sessions?limit=100')).json.sessions;
    const dump = JSON.stringify(await Promise.all(sessions.map(async (s: any) => (await t.api('GET', `/sessions/${s.id}`)).json)));
    assert.ok(dump.includes('deploy token'), 'the streamed answer was recorded');
    for (const raw of [EMAIL, CARD, AWS_KEY, STREAMED_SECRET]) {
      assert.ok(!dump.includes(raw), `recording holds ${raw.slice(0, 6)}…`);
      assert.ok(!t.logs.join('').includes(raw), `logs hold ${raw.slice(0, 6)}…`);
    }
  });

  test('gatehouse mask test shows what a profile masks and which detector found it', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--json', 'mask', 'test', '--profile', 'pii', `mail ${EMAIL} key ${AWS_KEY}`], {
      encoding: 'utf8',
      cwd: process.cwd(),
    });
    assert.equal(result.status, 0, result.stderr);
    const explained = JSON.parse(result.stdout);
    assert.ok(!explained.text.includes(EMAIL));
    assert.deepEqual(explained.findings.map((f: any) => f.type).sort(), ['aws_access_key', 'email']);
  });
});
