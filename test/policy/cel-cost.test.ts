/**
 * The CEL cost limit (issue 19, item 2): a condition whose worst case on the largest inputs is
 * over the limit is refused at load naming its rule; one that is fine on paper but meets a larger
 * input than the bounds (an agent's tool arguments, a long tool list) runs out of budget and
 * denies the request naming its rule. Work is counted in units, never timed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from '@bufbuild/cel';
import { ConfigError } from '../../src/errors.ts';
import type { PolicyProblem } from '../../src/policy/analyze.ts';
import { CEL_COST_LIMIT, analyzeCost } from '../../src/policy/cel-cost.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { explainDecision } from '../../src/policy/explain.ts';
import type { RuleConfigInput } from '../../src/policy/schema.ts';
import type { PolicyInput } from '../../src/policy/types.ts';
import { llmInput, policyInput, sqlInput } from './support/inputs.ts';

const allow = (name: string, when: string, interactions = ['mcp.*', 'llm.*', 'sql.*']): RuleConfigInput => ({ name, match: { interactions }, when, action: 'allow' });

function refusal(rule: RuleConfigInput): PolicyProblem {
  try {
    compilePolicy({ rules: [rule, { name: 'rest', action: 'deny' }] });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const problems = err.details.errors as PolicyProblem[];
    assert.equal(problems.length, 1, JSON.stringify(problems));
    return problems[0]!;
  }
  assert.fail(`rule ${rule.name} was accepted`);
}

const mcpInput = (args: Record<string, unknown>): PolicyInput =>
  policyInput({ kind: 'mcp.tool_call', connection: { name: 'tools', type: 'mcp', tags: [] }, summary: { mcp: { method: 'tools/call', tool: 'run', arguments: args }, entities: [] } });

describe('a condition over the cost limit is refused at load, naming the rule', () => {
  const tooCostly: ReadonlyArray<readonly [string, string]> = [
    ['a loop over tables scanning the prompt each time', 'request.sql.tables.exists(t, request.sql.text.contains(t))'],
    ['nested loops over tool arguments', 'request.mcp.arguments.ids.exists(a, request.mcp.arguments.ids.exists(b, a == b))'],
    ['three nested loops over groups', "identity.groups.exists(a, identity.groups.exists(b, identity.groups.exists(c, a + b + c == 'x')))"],
    ['replace() that multiplies the prompt by itself', "request.llm.message_text.replace('a', request.llm.message_text).size() > 0"],
    ['a map over a filter over a split prompt', "request.llm.message_text.split(' ').map(w, request.llm.message_text.contains(w)).size() > 0"],
    ['a loop over header names reading every header value of the map each time', "request.http.headers.all(h, request.http.headers.exists(g, request.http.headers[g].contains(h)))"],
  ];
  for (const [what, when] of tooCostly) {
    it(what, () => {
      const problem = refusal(allow('costly-rule', when));
      assert.equal(problem.rule, 'costly-rule');
      assert.equal(problem.path, 'policy.rules[0].when');
      assert.match(problem.message, /worst-case cost .* over the limit of 100000000/);
      assert.ok(analyzeCost(parse(when)).estimate > CEL_COST_LIMIT);
    });
  }

  it('the refusal names the rule in the error message a config reload shows', () => {
    assert.throws(
      () => compilePolicy({ rules: [allow('scan-every-table', 'request.sql.tables.exists(t, request.sql.text.contains(t))')] }),
      (err: unknown) => err instanceof ConfigError && /rule "scan-every-table"/.test(err.message) && /over the limit/.test(err.message),
    );
  });
});

describe('ordinary conditions are well under the limit', () => {
  const ordinary = [
    "request.sql.kinds.exists(k, k in ['insert', 'update', 'delete'])",
    "request.sql.tables.exists(t, sqlName(t) in ['users', 'payments'])",
    "identity.groups.exists(g, g == 'admins') && connection.tags.all(t, t != 'prod')",
    "request.llm.message_text.contains('password') || request.llm.message_text.matches('(?i)ignore (all|previous)')",
    "foldedText(request.llm.message_text).matches('(a+)+b')",
    "request.mcp.arguments.paths.all(p, p.startsWith('/srv/'))",
    "request.http.headers.exists(h, h.startsWith('x-debug'))",
    "request.llm.tool_names.filter(t, t.startsWith('fs_')).size() < 3",
  ];
  for (const when of ordinary) {
    it(when, () => {
      const estimate = analyzeCost(parse(when)).estimate;
      assert.ok(estimate <= CEL_COST_LIMIT, `${estimate}`);
      compilePolicy({ rules: [allow('ok', when)] });
    });
  }

  it('the guardrail packs compile under the limit', () => {
    compilePolicy({ include: ['sql-destructive', 'data-exfiltration', 'secrets-in-prompts', 'high-risk-prompts'], sensitiveTables: ['users'], rules: [{ name: 'rest', action: 'allow' }] });
  });

  it('the loop charge cannot be written in a condition', () => {
    const problem = refusal(allow('sneaky', '@gatehouse_charge(0, 0, 1, true)'));
    assert.match(problem.message, /syntax error|unknown function/);
  });
});

describe('an evaluation over the budget denies the request, naming the rule', () => {
  const policy = compilePolicy({
    rules: [
      allow('tmp-paths-only', "has(request.mcp) && request.mcp.arguments.paths.all(p, p.startsWith('/tmp/'))", ['mcp.*']),
      allow('search-tools', "has(request.llm) && request.llm.tool_names.all(t, t.startsWith('search'))", ['llm.*']),
      allow('small-headers', "has(request.mcp) && request.mcp.arguments.size() < 100000 && request.mcp.arguments.all(k, k.size() < 300)", ['mcp.*']),
      { name: 'rest', action: 'deny' },
    ],
  });

  it('the same rule allows an ordinary request (the limit leaves room for real inputs)', () => {
    const decision = policy.decide(mcpInput({ paths: Array.from({ length: 5000 }, (_, i) => `/tmp/file-${i}`) }));
    assert.equal(decision.action, 'allow');
    assert.equal(decision.rule, 'tmp-paths-only');
  });

  it('a million long tool-argument items run the budget out: denied, naming the rule, with the reason in the trace', () => {
    const input = mcpInput({ paths: new Array(1_000_000).fill(`/tmp/${'a'.repeat(200)}`) });
    const decision = policy.decide(input);
    assert.equal(decision.action, 'deny');
    assert.equal(decision.rule, 'tmp-paths-only');
    assert.match(decision.action === 'deny' ? decision.reason : '', /policy rule "tmp-paths-only" could not be evaluated/);
    const explained = explainDecision(policy, input);
    assert.match(JSON.stringify(explained), /cost limit/);
  });

  it('a budget run out inside a short-circuiting expression still fails the condition (never allows)', () => {
    const p = compilePolicy({
      rules: [allow('or-true', "has(request.mcp) && (request.mcp.arguments.paths.exists(p, p == 'never') || true)", ['mcp.*']), { name: 'rest', action: 'allow' }],
    });
    const decision = p.decide(mcpInput({ paths: new Array(1_000_000).fill('x'.repeat(300)) }));
    assert.equal(decision.action, 'deny');
    assert.equal(decision.rule, 'or-true');
  });

  it('a huge tool list from an LLM request is denied by the search-tools rule', () => {
    const tools = (n: number) => llmInput('hi', { summary: { llm: { model: 'gpt-4o', stream: false, messageText: 'hi', toolNames: new Array(n).fill(`search_${'x'.repeat(200)}`), maxTokens: null, estimatedInputTokens: 1 }, entities: [] } });
    assert.equal(policy.decide(tools(100)).action, 'allow');
    const decision = policy.decide(tools(2_000_000));
    assert.equal(decision.action, 'deny');
    assert.equal(decision.rule, 'search-tools');
  });

  it('each evaluation starts with a full budget: a denied one does not spend the next one', () => {
    policy.decide(mcpInput({ paths: new Array(1_000_000).fill(`/tmp/${'a'.repeat(200)}`) }));
    assert.equal(policy.decide(mcpInput({ paths: ['/tmp/a'] })).action, 'allow');
    assert.equal(policy.decide(sqlInput({ kinds: ['select'] })).rule, 'rest');
  });
});
