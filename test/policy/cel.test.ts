import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConditionBindings } from '../../src/policy/bindings.ts';
import { compileCondition } from '../../src/policy/cel.ts';
import type { PolicyInput } from '../../src/policy/types.ts';
import { llmInput, policyInput, sqlInput } from './support/inputs.ts';

function run(source: string, input: PolicyInput): boolean | 'error' {
  const compiled = compileCondition(source);
  assert.equal(compiled.errors, undefined, `${source}: ${compiled.errors?.join('; ')}`);
  const result = compiled.condition!.run(new ConditionBindings(input));
  return typeof result === 'boolean' ? result : 'error';
}

const sql = sqlInput({ kinds: ['select'], tables: ['public.Users'], flags: { select_star: true }, parseError: null });
const llm = llmInput('hello', { maxTokens: 512 });
const mcp = policyInput({ kind: 'mcp.tool_call', summary: { mcp: { method: 'tools/call', tool: 'read', arguments: { path: '/srv', depth: 2 } } } });
const headers = Object.assign(Object.create(null) as Record<string, string>, { 'x-team': 'data' });
const http = policyInput({ kind: 'http.request', summary: { http: { method: 'GET', path: '/v1', query: '', headers } } });

describe('condition evaluation', () => {
  const cases: Array<[string, PolicyInput, boolean | 'error']> = [
    ['has(request.sql)', sql, true],
    ['has(request.sql)', llm, false],
    ['has(request.llm) && request.llm.max_tokens > 100', llm, true],
    ['has(request.sql) && request.sql.has_where', llm, false],
    ['request.sql.has_where', llm, 'error'],
    ['request.sql.kinds == ["select"]', sql, true],
    ["'select' in request.sql.kinds", sql, true],
    ['has(request.sql.flags.select_star) && request.sql.flags.select_star', sql, true],
    ['has(request.sql.flags.has_limit)', sql, false],
    ['request.sql.flags.has_limit', sql, 'error'],
    ['request.sql.parse_error == null', sql, true],
    ["request.sql.tables.exists(t, sqlName(t) == 'users')", sql, true],
    ['request.llm.max_tokens == 512', llm, true],
    ['request.llm.max_tokens + 1 == 513', llm, true],
    ['request.llm.estimated_input_tokens < 10', llm, true],
    ["request.llm.model.startsWith('gpt')", llm, true],
    ['request.llm.stream', llm, false],
    ["request.mcp.arguments.path == '/srv' && request.mcp.arguments.depth == 2", mcp, true],
    ['has(request.mcp.arguments.recursive)', mcp, false],
    ["request.http.headers['x-team'] == 'data'", http, true],
    ["'x-other' in request.http.headers", http, false],
    ["request.kind == 'http.request' && request.entities == []", http, true],
    ["identity.name == 'alice' && 'analysts' in identity.groups && identity.kind == 'user'", sql, true],
    ["connection.name == 'prod-db' && connection.type == 'postgres' && connection.tags == []", sql, true],
    ["time.getHours('UTC') == 10 && time.getMinutes('UTC') == 30", sql, true],
    ["time > timestamp('2025-01-01T00:00:00Z')", sql, true],
    ["request.http.path.lowerAscii() == '/v1'", http, true],
    ['request.http.path', http, 'error'],
  ];
  for (const [source, input, expected] of cases) {
    it(`${source} → ${expected}`, () => assert.equal(run(source, input), expected));
  }
});

describe('condition compile checks', () => {
  const cases: Array<[string, RegExp]> = [
    ["request.sql.kinds.exists(request, request == 'x')", /loop variable "request" hides/],
    ['unknown_var == 1', /unknown variable "unknown_var"/],
    ['toString == 1 || identity.constructor == 1', /unknown variable "toString".*unknown field "identity.constructor"/],
    ['request.sql.flags.anything && request.mcp.arguments.a.b.c', /^$/],
    ['request.llm.maxTokens > 1', /did you mean "max_tokens"/],
    ['connection.tags.first', /connection.tags has no field "first"/],
  ];
  for (const [source, message] of cases) {
    it(source, () => {
      const result = compileCondition(source);
      assert.match((result.errors ?? []).join('; '), message);
    });
  }
});
