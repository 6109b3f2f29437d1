import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequest } from '../../src/errors.ts';
import { classifyLlmRequest, foldModel, llmKind, requestedModel, topLevelKeyCount } from '../../src/classify/llm.ts';
import type { InteractionKind } from '../../src/interaction.ts';

const kinds: readonly (readonly [method: string, path: string, kind: InteractionKind])[] = [
  ['POST', '/v1/chat/completions', 'llm.chat'],
  ['POST', '/v1/completions', 'llm.completion'],
  ['POST', '/v1/responses', 'llm.responses'],
  ['POST', '/v1/embeddings', 'llm.embeddings'],
  ['POST', '/openai/deployments/gpt4/chat/completions', 'llm.chat'],
  // case and trailing slashes do not change the endpoint
  ['POST', '/V1/Chat/Completions', 'llm.chat'],
  ['POST', '/v1/CHAT/COMPLETIONS/', 'llm.chat'],
  ['POST', '/v1/chat/completions//', 'llm.chat'],
  ['POST', '/v1/Responses/', 'llm.responses'],
  ['POST', '/v1/EMBEDDINGS', 'llm.embeddings'],
  ['post', '/v1/chat/completions', 'llm.chat'],
  // other endpoints and methods
  ['GET', '/v1/chat/completions', 'llm.other'],
  ['GET', '/v1/models', 'llm.other'],
  ['POST', '/v1/files', 'llm.other'],
  ['POST', '/v1/chat/completions/abc', 'llm.other'],
  ['POST', '/v1/chat/completions%3Bx', 'llm.other'],
];

describe('llmKind', () => {
  for (const [method, path, kind] of kinds) {
    it(`${method} ${path} → ${kind}`, () => assert.equal(llmKind(method, path), kind));
  }
});

describe('model names', () => {
  it('policy reads the model folded', () => {
    assert.equal(foldModel('GPT-4o'), 'gpt-4o');
    assert.equal(foldModel(' gpt-4o\n'), 'gpt-4o');
    assert.equal(foldModel('ＧＰＴ-4o'), 'gpt-4o');
    assert.equal(classifyLlmRequest({ model: 'GPT-4O-Mini', messages: [] }).model, 'gpt-4o-mini');
  });

  it('the model as sent is what requestedModel returns', () => {
    assert.equal(requestedModel({ model: 'Meta-Llama/Llama-3-8B' }), 'Meta-Llama/Llama-3-8B');
    assert.equal(requestedModel({ messages: [] }), null);
    assert.equal(requestedModel([{ model: 'x' }]), null);
    assert.equal(classifyLlmRequest({ messages: [] }).model, null);
  });

  const refused: readonly (readonly [string, string])[] = [
    ['an array', '{"model":["gpt-4o-mini","gpt-4o"],"messages":[]}'],
    ['a number', '{"model":4,"messages":[]}'],
    ['an object', '{"model":{"name":"gpt-4o"},"messages":[]}'],
    ['null', '{"model":null,"messages":[]}'],
    ['a boolean', '{"model":true}'],
    ['twice', '{"model":"gpt-4o-mini","messages":[],"model":"gpt-4o"}'],
    ['twice, the same value', '{"model":"gpt-4o","model":"gpt-4o"}'],
    ['twice, one spelled with an escape', '{"model":"gpt-4o-mini","mod\\u0065l":"gpt-4o"}'],
    ['twice, with whitespace before the colon', '{"model" :"a",\n"model"\t: "b"}'],
    ['twice, once after nested objects', '{"messages":[{"role":"user","content":"{\\"model\\":1}"}],"model":"a","tools":[{"model":"x"}],"model":"b"}'],
  ];
  for (const [name, text] of refused) {
    it(`a model given as ${name} is refused with bad_request`, () => {
      assert.throws(
        () => classifyLlmRequest(JSON.parse(text), text),
        (err: unknown) => err instanceof BadRequest && err.code === 'bad_request',
      );
    });
  }

  it('"model" as a nested key or inside a string is not a duplicate', () => {
    const text = '{"model":"a","metadata":{"model":"b"},"messages":[{"role":"user","content":"\\"model\\": \\"c\\""}],"tools":[{"model":"d"}]}';
    assert.equal(topLevelKeyCount(text, 'model'), 1);
    assert.equal(classifyLlmRequest(JSON.parse(text), text).model, 'a');
  });

  it('counts top-level keys decoded, and only keys', () => {
    assert.equal(topLevelKeyCount('{"a":"model","model":1,"\\u006d\\u006f\\u0064\\u0065\\u006c":2}', 'model'), 2);
    assert.equal(topLevelKeyCount('["model","model"]', 'model'), 0);
    assert.equal(topLevelKeyCount('{"x\\"model":1}', 'model'), 0);
  });
});
