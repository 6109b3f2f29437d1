import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadRequest } from '../../../src/errors.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { classifyBedrockRequest } from '../../../src/providers/bedrock/classify.ts';
import { parseBedrockRoute } from '../../../src/providers/bedrock/route.ts';

const converse = parseBedrockRoute('POST', '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream');
const invoke = parseBedrockRoute('POST', '/model/Meta.Llama3-8B-Instruct-v1%3A0/invoke');

test('routes: the operation, the decoded model id, whether it streams', () => {
  assert.deepEqual(converse, { operation: 'converse-stream', modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0', stream: true, converse: true });
  assert.deepEqual(invoke, { operation: 'invoke', modelId: 'Meta.Llama3-8B-Instruct-v1:0', stream: false, converse: false });
  for (const [method, target] of [
    ['POST', '/model/x/converse?a=1'],
    ['POST', '/model/x/unknown'],
    ['POST', '/model/x/y/converse'],
    ['GET', '/model/x/converse'],
    ['POST', '/model/%ZZ/converse'],
    ['POST', '/model/a%20b/converse'],
    ['POST', '/model/-lead/converse'],
    ['POST', `/model/${'m'.repeat(201)}/converse`],
  ] as const) {
    assert.throws(() => parseBedrockRoute(method, target), (err: unknown) => err instanceof BadRequest, `${method} ${target}`);
  }
});

const cases: [string, ReturnType<typeof parseBedrockRoute>, unknown, { text: string; tools?: string[]; max?: number | null }][] = [
  [
    'Converse',
    converse,
    {
      system: [{ text: 'be brief' }],
      messages: [
        { role: 'user', content: [{ text: 'hi' }, { toolResult: { toolUseId: 't', content: [{ text: 'res' }, { json: { a: 1 } }] } }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 't', name: 'f', input: { q: 'x' } } }] },
      ],
      toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: {} } } }] },
      inferenceConfig: { maxTokens: 99 },
    },
    { text: 'be brief\nhi\nres\n{"a":1}\n{"q":"x"}', tools: ['f'], max: 99 },
  ],
  [
    'Anthropic',
    invoke,
    { anthropic_version: 'bedrock-2023-05-31', max_tokens: 7, system: 'sys', messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }], tools: [{ name: 'g' }] },
    { text: 'sys\nhello', tools: ['g'], max: 7 },
  ],
  ['Nova', invoke, { messages: [{ role: 'user', content: [{ text: 'nova text' }] }], inferenceConfig: { max_new_tokens: 5 } }, { text: 'nova text', max: 5 }],
  ['Titan', invoke, { inputText: 'titan text', textGenerationConfig: { maxTokenCount: 3 } }, { text: 'titan text', max: 3 }],
  ['Llama / Mistral', invoke, { prompt: '<s>[INST] hi [/INST]', max_gen_len: 4 }, { text: '<s>[INST] hi [/INST]', max: 4 }],
  ['Cohere', invoke, { preamble: 'pre', chat_history: [{ role: 'USER', message: 'old' }], message: 'new' }, { text: 'pre\nold\nnew' }],
  ['an unknown family: every string', invoke, { weird: { nested: ['a secret', 3] }, other: 'b' }, { text: 'a secret\nb', max: null }],
];
for (const [name, route, body, expected] of cases) {
  test(`classify: ${name}`, () => {
    const facts = classifyBedrockRequest(route, body);
    assert.equal(facts.messageText, expected.text);
    assert.deepEqual(facts.toolNames, expected.tools ?? []);
    if (expected.max !== undefined) assert.equal(facts.maxTokens, expected.max);
    assert.equal(facts.model, route.modelId.toLowerCase());
    assert.equal(facts.stream, route.stream);
    assert.equal(facts.estimatedInputTokens, Math.ceil(expected.text.length / 4));
  });
}

test('config: a bedrock connection with a credential that is not an AWS key is refused at load', () => {
  assert.throws(() => parseConfig('connections:\n  - name: b\n    type: bedrock\n    upstream: https://bedrock-runtime.us-east-1.amazonaws.com\n    credential: plain-bearer-key\n', 'x.yaml', {}), /AWS key/);
  const ok = parseConfig('connections:\n  - name: b\n    type: bedrock\n    upstream: https://bedrock-runtime.us-east-1.amazonaws.com\n    credential: { type: aws, accessKeyId: AKID, secretAccessKey: s3cr3t, region: eu-central-1 }\n', 'x.yaml', {});
  assert.equal(ok.connections[0]!.credential?.type, 'aws');
});
