/**
 * The official @aws-sdk/client-bedrock-runtime through the gateway, against a loopback Bedrock
 * that verifies each request's Signature V4 with the gateway's AWS key and answers in Bedrock's
 * real wire format (JSON, and binary event streams encoded with @smithy/eventstream-codec).
 * The client holds only its Gatehouse token, sent as a Bedrock API key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ConverseStreamOutput,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { gate } from '../support/fake-upstream.ts';
import { anthropicStream, converseStream, event, exception } from './support/wire.ts';
import { bedrockError, jsonReply, startBedrockUpstream, STREAM_HEADERS, type BedrockUpstream } from './support/upstream.ts';

const KEY = { accessKeyId: 'AKIDGATEWAYEXAMPLE01', secretAccessKey: randomBytes(20).toString('base64'), region: 'us-east-1' };
const SECRET = 'AKIAQ7XZ4M2P9WLK3TRB';
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';

function converseReply(text: string, usage = { inputTokens: 12, outputTokens: 6, totalTokens: 18 }) {
  return { output: { message: { role: 'assistant', content: [{ text }] } }, stopReason: 'end_turn', usage, metrics: { latencyMs: 42 } };
}

describe('bedrock connections with the official AWS SDK', () => {
  let t: TestGateway;
  let up: BedrockUpstream;
  let token: string;
  const client = (connection = 'bedrock') =>
    new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: `${t.url}/proxy/${connection}`,
      token: { token },
      authSchemePreference: ['httpBearerAuth'],
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });

  before(async () => {
    up = await startBedrockUpstream(KEY);
    process.env.BEDROCK_TEST_KEY_ID = KEY.accessKeyId;
    process.env.BEDROCK_TEST_SECRET = KEY.secretAccessKey;
    process.env.BEDROCK_TEST_WRONG_SECRET = randomBytes(20).toString('base64');
    const conn = (name: string, secret = 'BEDROCK_TEST_SECRET') =>
      `  - name: ${name}\n    type: bedrock\n    upstream: ${up.url}\n    credential:\n      type: aws\n      accessKeyId: \${BEDROCK_TEST_KEY_ID}\n      secretAccessKey: \${${secret}}\n      region: us-east-1\n`;
    t = await startTestGateway({
      extraConnections: conn('bedrock') + conn('bedrock-masked') + conn('bedrock-limited') + conn('bedrock-wrong-key', 'BEDROCK_TEST_WRONG_SECRET'),
      policyYaml: `
policy:
  rules:
    - name: no-opus
      when: request.llm.model.startsWith("anthropic.claude-opus")
      action: deny
      reason: opus is not for agents
    - name: no-shell-tool
      when: '"run_shell" in request.llm.tool_names'
      action: deny
      reason: no shell tools
    - name: masked
      match: { connections: [bedrock-masked] }
      action: allow
      mask: secrets
    - name: limited
      match: { connections: [bedrock-limited] }
      action: allow
      limits: { llmTokensPerMinute: 1000 }
    - name: allow-all
      action: allow
`,
    });
    token = await t.token({ connections: ['bedrock', 'bedrock-masked', 'bedrock-limited', 'bedrock-wrong-key'] });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  const lastSeen = () => up.received.at(-1)!;
  const assertClean = () => {
    const seen = lastSeen();
    assert.ok(seen.signatureValid, 'the upstream verified the signature with the gateway key');
    assert.ok(!JSON.stringify(seen.headers).includes(token) && !seen.body.toString().includes(token), 'the agent token never reaches Bedrock');
  };

  it('Converse: answered, signed by the gateway over the body it sent, no agent token upstream', async () => {
    up.respond = () => jsonReply(converseReply('Hello from Bedrock'));
    const out = await client().send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }], inferenceConfig: { maxTokens: 64 } }));
    assert.equal(out.output?.message?.content?.[0]?.text, 'Hello from Bedrock');
    assert.equal(out.usage?.outputTokens, 6);
    assertClean();
    const seen = lastSeen();
    assert.equal(seen.url, `/model/${encodeURIComponent(MODEL)}/converse`);
    assert.equal(seen.headers['x-amz-content-sha256'], createHash('sha256').update(seen.body).digest('hex'));
    assert.match(String(seen.headers.authorization), new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/\\d{8}/us-east-1/bedrock/aws4_request`));
    assert.deepEqual(JSON.parse(seen.body.toString()).messages, [{ role: 'user', content: [{ text: 'Hi' }] }]);
  });

  it('a gateway key with the wrong secret is refused by the upstream (negative signature test)', async () => {
    const before = up.received.length;
    await assert.rejects(client('bedrock-wrong-key').send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })), (err: any) => {
      assert.equal(err.name, 'InvalidSignatureException');
      assert.equal(err.$metadata.httpStatusCode, 403);
      return true;
    });
    assert.equal(up.received.length, before + 1);
    assert.equal(lastSeen().signatureValid, false);
  });

  it('InvokeModel with an Anthropic body: the native body goes up signed, the answer comes back', async () => {
    up.respond = () =>
      jsonReply(
        { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'native hello' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 2 } },
        { 'x-amzn-bedrock-input-token-count': '5', 'x-amzn-bedrock-output-token-count': '2' },
      );
    const body = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: [{ type: 'text', text: 'native hi' }] }] };
    const out = await client().send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', accept: 'application/json', body: JSON.stringify(body) }));
    assert.equal(JSON.parse(Buffer.from(out.body).toString()).content[0].text, 'native hello');
    assertClean();
    assert.equal(lastSeen().url, `/model/${encodeURIComponent(MODEL)}/invoke`);
    assert.deepEqual(JSON.parse(lastSeen().body.toString()), body);
  });

  it('ConverseStream: the first event reaches the client before the upstream finishes', async () => {
    const release = gate();
    const frames = converseStream(['First', ' second']);
    // messageStart and the first delta, then the upstream waits until the client has seen that delta.
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [frames[0]!, frames[1]!, release.promise, ...frames.slice(2)] });
    const out = await client().send(new ConverseStreamCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    const texts: string[] = [];
    let usage: unknown = null;
    for await (const e of out.stream as AsyncIterable<ConverseStreamOutput>) {
      if (e.contentBlockDelta?.delta?.text !== undefined) {
        texts.push(e.contentBlockDelta.delta.text);
        release.open();
      }
      if (e.metadata) usage = e.metadata.usage;
    }
    assert.deepEqual(texts, ['First', ' second']);
    assert.deepEqual(usage, { inputTokens: 11, outputTokens: 7, totalTokens: 18 });
    assertClean();
  });

  it('ConverseStream with tool use: the tool input arrives whole', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: converseStream(['Let me check.'], { name: 'get_weather', input: ['{"city":', ' "Paris"}'] }) });
    const out = await client('bedrock-masked').send(
      new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'Weather in Paris?' }] }],
        toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] },
      }),
    );
    let input = '';
    let name = '';
    let stopReason = '';
    for await (const e of out.stream as AsyncIterable<ConverseStreamOutput>) {
      if (e.contentBlockStart?.start?.toolUse) name = e.contentBlockStart.start.toolUse.name ?? '';
      if (e.contentBlockDelta?.delta?.toolUse) input += e.contentBlockDelta.delta.toolUse.input ?? '';
      if (e.messageStop) stopReason = e.messageStop.stopReason ?? '';
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(input), { city: 'Paris' });
    assert.equal(stopReason, 'tool_use');
  });

  it('Converse with tool use, not streamed', async () => {
    up.respond = () =>
      jsonReply({
        output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'get_weather', input: { city: 'Paris' } } }] } },
        stopReason: 'tool_use',
        usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
        metrics: { latencyMs: 1 },
      });
    const out = await client().send(
      new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Weather?' }] }], toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] } }),
    );
    assert.equal(out.stopReason, 'tool_use');
    assert.deepEqual(out.output?.message?.content?.[0]?.toolUse?.input, { city: 'Paris' });
  });

  it('InvokeModelWithResponseStream: chunks arrive before the upstream finishes', async () => {
    const release = gate();
    const frames = anthropicStream(['streamed ', 'native']);
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [frames[0]!, frames[1]!, frames[2]!, release.promise, ...frames.slice(3)] });
    const out = await client().send(
      new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: 'Hi' }] }) }),
    );
    let text = '';
    for await (const e of out.body!) {
      const inner = JSON.parse(Buffer.from(e.chunk!.bytes!).toString());
      if (inner.type === 'content_block_delta') {
        text += inner.delta.text;
        release.open();
      }
    }
    assert.equal(text, 'streamed native');
    assertClean();
    assert.equal(lastSeen().url, `/model/${encodeURIComponent(MODEL)}/invoke-with-response-stream`);
  });

  it('a secret split across two ConverseStream events never reaches the client, nor the recording', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: converseStream([`key ${SECRET.slice(0, 9)}`, `${SECRET.slice(9)} end`]) });
    const out = await client('bedrock-masked').send(new ConverseStreamCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    let joined = '';
    for await (const e of out.stream as AsyncIterable<ConverseStreamOutput>) joined += e.contentBlockDelta?.delta?.text ?? '';
    assert.ok(!joined.includes(SECRET), joined);
    assert.match(joined, /^key .+ end$/);
    const sessions = (await t.api('GET', '/sessions?connection=bedrock-masked')).json.sessions as { id: string }[];
    const shown = await Promise.all(sessions.map(async (s) => (await t.api('GET', `/sessions/${s.id}`)).json));
    const row = shown.flatMap((s) => s.interactions).find((i: { responseBody?: string }) => i.responseBody?.startsWith('key '));
    assert.ok(row, 'the streamed answer is recorded as its text');
    assert.equal(row.kind, 'llm.chat');
    assert.equal(row.model, MODEL);
    assert.ok(!JSON.stringify(shown).includes(SECRET));
  });

  it('a secret split across two InvokeModelWithResponseStream chunks never reaches the client', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: anthropicStream([`key ${SECRET.slice(0, 9)}`, `${SECRET.slice(9)} end`]) });
    const out = await client('bedrock-masked').send(
      new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: 'Hi' }] }) }),
    );
    let text = '';
    for await (const e of out.body!) {
      const inner = JSON.parse(Buffer.from(e.chunk!.bytes!).toString());
      if (inner.type === 'content_block_delta') text += inner.delta.text;
    }
    assert.ok(!text.includes(SECRET), text);
    assert.match(text, /^key .+ end$/);
  });

  it('a secret in the prompt is masked before Bedrock sees it, and the signature covers the masked body', async () => {
    up.respond = () => jsonReply(converseReply('ok'));
    await client('bedrock-masked').send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: `my key is ${SECRET}` }] }] }));
    const seen = lastSeen();
    assert.ok(seen.signatureValid);
    assert.ok(!seen.body.toString().includes(SECRET));
    assert.match(JSON.parse(seen.body.toString()).messages[0].content[0].text, /^my key is \S+$/);
  });

  it("passes the upstream's errors through in Bedrock's shape", async () => {
    up.respond = () => bedrockError(429, 'ThrottlingException', 'Too many requests, please wait');
    await assert.rejects(client().send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })), (err: any) => {
      assert.equal(err.name, 'ThrottlingException');
      assert.match(err.message, /Too many requests/);
      return true;
    });
    up.respond = () => bedrockError(400, 'ValidationException', 'The provided model identifier is invalid.');
    await assert.rejects(client().send(new InvokeModelCommand({ modelId: MODEL, body: '{"anthropic_version":"bedrock-2023-05-31","messages":[]}', contentType: 'application/json' })), (err: any) => {
      assert.equal(err.name, 'ValidationException');
      return true;
    });
  });

  it('an exception event in the stream reaches the SDK as its exception', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [event('messageStart', { role: 'assistant' }), exception('modelStreamErrorException', 'model stream failed')] });
    await assert.rejects(
      (async () => {
        const out = await client('bedrock-masked').send(new ConverseStreamCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
        for await (const _ of out.stream as AsyncIterable<ConverseStreamOutput>);
      })(),
      (err: any) => {
        assert.equal(err.name, 'ModelStreamErrorException');
        assert.match(err.message, /model stream failed/);
        return true;
      },
    );
  });

  it('an unknown event under a masking profile ends the stream with an exception the SDK raises', async () => {
    up.respond = () => ({ headers: STREAM_HEADERS, steps: [event('messageStart', { role: 'assistant' }), event(`sideChannel${SECRET}`, { text: SECRET })] });
    // The SDK may meet the exception while it reads the first events (inside send) or while iterating.
    await assert.rejects(
      (async () => {
        const out = await client('bedrock-masked').send(new ConverseStreamCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
        for await (const _ of out.stream as AsyncIterable<ConverseStreamOutput>);
      })(),
      (err: any) => {
        assert.equal(err.name, 'InternalServerException');
        assert.match(err.message, /Gatehouse/);
        assert.ok(!err.message.includes(SECRET));
        return true;
      },
    );
  });

  it('a rule on request.llm.model denies, as AccessDeniedException, and nothing is forwarded', async () => {
    const before = up.received.length;
    await assert.rejects(client().send(new ConverseCommand({ modelId: 'anthropic.claude-opus-4-1-20250805-v1:0', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })), (err: any) => {
      assert.equal(err.name, 'AccessDeniedException');
      assert.equal(err.$metadata.httpStatusCode, 403);
      assert.match(err.message, /opus/);
      return true;
    });
    assert.equal(up.received.length, before);
  });

  it('a rule on request.llm.tool_names sees Converse tools', async () => {
    const before = up.received.length;
    await assert.rejects(
      client().send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'ls' }] }], toolConfig: { tools: [{ toolSpec: { name: 'run_shell', inputSchema: { json: {} } } }] } })),
      (err: any) => err.name === 'AccessDeniedException',
    );
    assert.equal(up.received.length, before);
  });

  it('reported usage counts against llmTokensPerMinute', async () => {
    up.respond = () => jsonReply(converseReply('big answer', { inputTokens: 10, outputTokens: 5000, totalTokens: 5010 }));
    await client('bedrock-limited').send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    // The charge is made after the answer; the next request meets it.
    const refused = async () => {
      try {
        await client('bedrock-limited').send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
        return null;
      } catch (err) {
        return err as any;
      }
    };
    let err = await refused();
    for (let i = 0; err === null && i < 20; i++) err = await refused();
    assert.ok(err, 'a request after the reported usage is refused');
    assert.equal(err.name, 'ThrottlingException');
    assert.equal(err.$metadata.httpStatusCode, 429);
  });

  it('a client that signs with SigV4 instead of a token is refused, and its signature never travels', async () => {
    const before = up.received.length;
    const signing = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: `${t.url}/proxy/bedrock`,
      credentials: { accessKeyId: 'AKIDAGENTOWNKEY00001', secretAccessKey: 'agent-secret' },
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    await assert.rejects(signing.send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })), (err: any) => {
      assert.equal(err.name, 'AccessDeniedException');
      assert.equal(err.$metadata.httpStatusCode, 401);
      return true;
    });
    assert.equal(up.received.length, before);
  });
});
