import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyInput } from '../../../src/policy/types.ts';
import { compilePolicy } from '../../../src/policy/compile.ts';
import { llmInput, policyInput, sqlInput } from '../support/inputs.ts';

const engine = compilePolicy({ include: ['secrets-in-prompts'], rules: [{ name: 'allow-all', action: 'allow' }] });

const http = (entities: string[]) =>
  policyInput({ kind: 'http.request', summary: { http: { method: 'POST', path: '/hook', query: '', headers: {} }, entities } });
const mcp = (entities: string[]) =>
  policyInput({ kind: 'mcp.tool_call', summary: { mcp: { method: 'tools/call', tool: 'send', arguments: {} }, entities } });

describe('secrets-in-prompts pack', () => {
  const denied: Array<[string, PolicyInput]> = [
    ['an LLM prompt with the secret family tag', llmInput('key AKIA…', { summary: { entities: ['secret', 'aws_access_key'] } })],
    ['an LLM embeddings request', llmInput('x', { kind: 'llm.embeddings', summary: { entities: ['secret'] } })],
    ['an MCP tool call carrying a detector type without the family tag', mcp(['github_token'])],
    ['an HTTP request carrying a private key', http(['private_key'])],
    ['a Gatehouse token pasted into a prompt', llmInput('gth_…', { summary: { entities: ['gatehouse_token'] } })],
  ];
  for (const [name, input] of denied) {
    it(`denies ${name}`, () => {
      const decision = engine.decide(input);
      assert.equal(decision.action, 'deny');
      assert.equal(decision.rule, 'secrets-in-prompts/secret-in-request');
    });
  }

  const allowed: Array<[string, PolicyInput]> = [
    ['an LLM prompt with PII only', llmInput('mail me', { summary: { entities: ['email', 'pii'] } })],
    ['an LLM prompt with nothing detected', llmInput('hello')],
    ['an HTTP request with no entities', http([])],
    ['SQL, which the pack does not cover', sqlInput({}, { summary: { entities: ['secret'] } })],
  ];
  for (const [name, input] of allowed) {
    it(`leaves ${name} to later rules`, () => assert.equal(engine.decide(input).rule, 'allow-all'));
  }
});
