import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy } from '../../src/policy/compile.ts';
import { buildTestInput } from '../../src/policy/test-input.ts';
import { sqlFacts } from './support/inputs.ts';

const engine = compilePolicy({
  include: ['sql-destructive', 'secrets-in-prompts'],
  rules: [
    { name: 'contractor-sql', match: { groups: ['contractors'], connectionTags: ['prod'] }, action: 'deny' },
    { name: 'http-gets', match: { interactions: ['http.request'] }, when: "request.http.method == 'GET' && request.http.query == 'page=2'", action: 'allow' },
    { name: 'gpt', match: { interactions: ['llm.*'] }, when: "request.llm.model == 'gpt-4o'", action: 'allow' },
    { name: 'ci-sql', match: { serviceAccounts: ['ci'], connections: ['prod-db'] }, action: 'allow' },
    { name: 'mcp-read', match: { interactions: ['mcp.tool_call'] }, when: "request.mcp.tool == 'read'", action: 'allow' },
  ],
});

const classifySql = (text: string) => sqlFacts({ text, kinds: text.toLowerCase().startsWith('drop') ? ['drop'] : ['select'] });
const detectEntities = (text: string) => (text.includes('AKIA') ? ['secret', 'aws_access_key'] : []);

describe('buildTestInput', () => {
  const cases: Array<[string, Parameters<typeof buildTestInput>[0], string]> = [
    ['SQL through the classifier', { identity: 'ci', kind: 'service_account', connection: 'prod-db', sql: 'select 1' }, 'ci-sql'],
    ['SQL the guardrail refuses', { identity: 'ci', kind: 'service_account', connection: 'prod-db', sql: 'drop table x' }, 'sql-destructive/drop'],
    ['groups and tags', { identity: 'eve', groups: ['contractors'], connection: 'prod-db', connectionTags: ['prod'], sql: 'select 1' }, 'contractor-sql'],
    ['an HTTP request line with a query', { identity: 'bob', connection: 'api', http: 'get /v1/items?page=2' }, 'http-gets'],
    ['an LLM prompt and model', { identity: 'bob', connection: 'openai', llmPrompt: 'hello', model: 'gpt-4o' }, 'gpt'],
    ['a model alone', { identity: 'bob', connection: 'openai', model: 'gpt-4o' }, 'gpt'],
    ['a prompt carrying a secret', { identity: 'bob', connection: 'openai', llmPrompt: 'key AKIAIOSFODNN7EXAMPLE', model: 'gpt-4o' }, 'secrets-in-prompts/secret-in-request'],
    ['an MCP tool call', { identity: 'bob', connection: 'files', mcpTool: 'read', mcpArguments: { path: '/x' } }, 'mcp-read'],
  ];
  for (const [name, flags, rule] of cases) {
    it(name, () => assert.equal(engine.decide(buildTestInput(flags, { classifySql, detectEntities })).rule, rule));
  }

  it('fills in connection type, principal and time', () => {
    const input = buildTestInput({ identity: 'bob', connection: 'openai', llmPrompt: 'hi there' });
    assert.equal(input.kind, 'llm.chat');
    assert.equal(input.connection.type, 'openai');
    assert.deepEqual(input.identity, { id: 'bob', name: 'bob', kind: 'user', groups: [] });
    assert.equal(input.summary.llm?.estimatedInputTokens, 2);
    assert.ok(input.time instanceof Date);
  });

  const invalid: Array<[string, Parameters<typeof buildTestInput>[0]]> = [
    ['nothing to test', { identity: 'bob', connection: 'x' }],
    ['two requests at once', { identity: 'bob', connection: 'x', sql: 'select 1', http: 'GET /' }],
    ['a malformed HTTP line', { identity: 'bob', connection: 'x', http: '/v1/items' }],
    ['SQL without a classifier', { identity: 'bob', connection: 'x', sql: 'select 1' }],
  ];
  for (const [name, flags] of invalid) {
    it(`refuses ${name}`, () => {
      assert.throws(() => buildTestInput(flags), (err: { code: string }) => err.code === 'invalid_argument');
    });
  }
});
