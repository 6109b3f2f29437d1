/**
 * openai's AzureOpenAI client through the gateway, against a loopback upstream speaking Azure
 * OpenAI's wire format, with the resource key held by the gateway or an Entra ID token the
 * gateway obtains from a loopback token endpoint speaking OAuth 2.0's client-credentials grant.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AzureOpenAI, PermissionDeniedError, RateLimitError } from 'openai';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { gate, json, SECRET, startFakeUpstream, type FakeUpstream } from './support/fake-upstream.ts';

const API_VERSION = '2024-10-21';
const ENTRA_SECRET = 'entra-client-secret-0123456789';

function completion(text: string, usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-2024-08-06',
    choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: text, refusal: null }, content_filter_results: {} }],
    prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
    usage,
  };
}
const chunk = (delta: Record<string, unknown>, finish: string | null = null, usage: unknown = undefined) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null, content_filter_results: {} }], ...(usage ? { usage } : {}) })}\n\n`;
const FILTER = `data: ${JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] })}\n\n`;
const SSE = { 'content-type': 'text/event-stream; charset=utf-8' };

/** A token endpoint as Entra ID answers the client-credentials grant. */
async function startTokenEndpoint(): Promise<{ url: string; grants: URLSearchParams[]; close(): Promise<void> }> {
  const grants: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      grants.push(form);
      const ok = req.headers['content-type'] === 'application/x-www-form-urlencoded' && form.get('grant_type') === 'client_credentials' && form.get('client_id') === 'app-123' && form.get('client_secret') === ENTRA_SECRET;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(ok ? { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: `eyJ0eXAi.entra-${grants.length}` } : { error: 'invalid_client', error_description: `AADSTS7000215: Invalid client secret provided.` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    grants,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('azure-openai connections with AzureOpenAI', () => {
  let t: TestGateway;
  let up: FakeUpstream;
  let entra: Awaited<ReturnType<typeof startTokenEndpoint>>;
  let token: string;
  const client = (connection = 'azure', deployment = 'gpt-4o-prod') => new AzureOpenAI({ endpoint: `${t.url}/proxy/${connection}`, apiKey: token, apiVersion: API_VERSION, deployment, maxRetries: 0 });

  before(async () => {
    up = await startFakeUpstream();
    entra = await startTokenEndpoint();
    const conn = (name: string) => `  - name: ${name}\n    type: azure-openai\n    upstream: ${up.url}\n    credential: \${UPSTREAM_KEY}\n`;
    t = await startTestGateway({
      extraConnections:
        conn('azure') +
        conn('azure-masked') +
        conn('azure-limited') +
        `  - name: azure-entra\n    type: azure-openai\n    upstream: ${up.url}\n    credential:\n      type: entra\n      tenant: contoso.onmicrosoft.com\n      clientId: app-123\n      clientSecret: ${ENTRA_SECRET}\n      tokenUrl: ${entra.url}/contoso/oauth2/v2.0/token\n` +
        `  - name: azure-entra-bad\n    type: azure-openai\n    upstream: ${up.url}\n    credential:\n      type: entra\n      tenant: contoso.onmicrosoft.com\n      clientId: app-123\n      clientSecret: wrong-secret-value\n      tokenUrl: ${entra.url}/contoso/oauth2/v2.0/token\n`,
      policyYaml: `
policy:
  rules:
    - name: no-gpt-5
      when: request.llm.model == "gpt-5-prod"
      action: deny
    - name: masked
      match: { connections: [azure-masked] }
      action: allow
      mask: secrets
    - name: limited
      match: { connections: [azure-limited] }
      action: allow
      limits: { llmTokensPerMinute: 1000 }
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['azure', 'azure-masked', 'azure-limited', 'azure-entra', 'azure-entra-bad'] });
  });
  after(async () => {
    await t.close();
    await up.close();
    await entra.close();
  });

  it('answers a chat completion on the deployment path; the upstream gets the gateway key as api-key', async () => {
    up.respond = () => json(completion('Hello from Azure'));
    const reply = await client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(reply.choices[0]?.message.content, 'Hello from Azure');
    const seen = up.received.at(-1)!;
    assert.equal(seen.url, `/openai/deployments/gpt-4o-prod/chat/completions?api-version=${API_VERSION}`);
    assert.equal(seen.headers['api-key'], UPSTREAM_KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen.headers).includes(token));
  });

  it('streams: the first chunk reaches the client before the upstream finishes', async () => {
    const release = gate();
    up.respond = () => ({ headers: SSE, steps: [FILTER, chunk({ role: 'assistant', content: 'One' }), release.promise, chunk({ content: ' two' }, 'stop'), 'data: [DONE]\n\n'] });
    const texts: string[] = [];
    for await (const c of await client().chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Count' }] })) {
      const text = c.choices[0]?.delta?.content;
      if (text) {
        texts.push(text);
        release.open();
      }
    }
    assert.deepEqual(texts, ['One', ' two']);
  });

  it('streams tool calls with their arguments split across chunks', async () => {
    up.respond = () => ({
      headers: SSE,
      steps: [
        FILTER,
        chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
        chunk({}, 'tool_calls'),
        'data: [DONE]\n\n',
      ],
    });
    const stream = client('azure-masked').chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type === 'function' && call.function.arguments, '{"city":"Paris"}');
  });

  it("passes the upstream's error through in OpenAI's shape", async () => {
    up.respond = () => ({ status: 429, headers: { 'content-type': 'application/json' }, steps: [JSON.stringify({ error: { code: '429', message: 'Requests to the ChatCompletions_Create Operation have exceeded the call rate limit.' } })] });
    await assert.rejects(client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof RateLimitError);
      assert.match(err.message, /call rate limit/);
      return true;
    });
  });

  it('a secret split across two stream chunks never reaches the client', async () => {
    up.respond = () => ({ headers: SSE, steps: [FILTER, chunk({ role: 'assistant', content: `key ${SECRET.slice(0, 8)}` }), chunk({ content: `${SECRET.slice(8)} end` }, 'stop'), 'data: [DONE]\n\n'] });
    let joined = '';
    for await (const c of await client('azure-masked').chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Hi' }] })) joined += c.choices[0]?.delta?.content ?? '';
    assert.ok(!joined.includes(SECRET), joined);
    assert.match(joined, /^key .*end$/s);
  });

  it('a rule on request.llm.model denies the deployment, whatever model the body names', async () => {
    const before = up.received.length;
    await assert.rejects(client('azure', 'gpt-5-prod').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof PermissionDeniedError);
      assert.equal((err.error as { code?: string }).code, 'policy_denied');
      return true;
    });
    assert.equal(up.received.length, before);
  });

  it('counts the tokens a streamed response reports against llmTokensPerMinute', async () => {
    up.respond = () => ({ headers: SSE, steps: [chunk({ content: 'long' }, 'stop'), chunk({}, null, { prompt_tokens: 5, completion_tokens: 4000, total_tokens: 4005 }), 'data: [DONE]\n\n'] });
    for await (const _ of await client('azure-limited').chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] })) void _;
    up.respond = () => json(completion('again'));
    await assert.rejects(client('azure-limited').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => err instanceof RateLimitError);
  });

  it('obtains an Entra ID token with the client-credentials grant, sends it as a bearer token, and reuses it', async () => {
    up.respond = () => json(completion('via Entra'));
    const grantsBefore = entra.grants.length;
    for (let i = 0; i < 2; i++) {
      const reply = await client('azure-entra').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(reply.choices[0]?.message.content, 'via Entra');
      const seen = up.received.at(-1)!;
      assert.equal(seen.headers.authorization, `Bearer eyJ0eXAi.entra-${grantsBefore + 1}`);
      assert.equal(seen.headers['api-key'], undefined, 'the client api-key (its Gatehouse token) is not forwarded');
    }
    assert.equal(entra.grants.length, grantsBefore + 1, 'one grant for both requests');
    const grant = entra.grants.at(-1)!;
    assert.equal(grant.get('scope'), 'https://cognitiveservices.azure.com/.default');
  });

  it('a refused grant is upstream_credential, without the secret or the endpoint’s description', async () => {
    const before = up.received.length;
    await assert.rejects(client('azure-entra-bad').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      const body = JSON.stringify((err as { error?: unknown }).error);
      assert.match(body, /upstream_credential/);
      assert.match(body, /invalid_client/);
      assert.ok(!body.includes('wrong-secret-value'));
      assert.ok(!body.includes('AADSTS'));
      return true;
    });
    assert.equal(up.received.length, before);
  });
});
