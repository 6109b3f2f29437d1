import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../../src/interaction.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import type { PolicyConfigInput } from '../../src/policy/schema.ts';
import type { PolicyInput } from '../../src/policy/types.ts';
import { llmInput, policyInput, sqlInput } from './support/inputs.ts';

const policy: PolicyConfigInput = {
  rules: [
    { name: 'block-mallory', match: { identities: ['mallory'] }, action: 'deny', reason: 'mallory is blocked' },
    { name: 'ci-bot', match: { serviceAccounts: ['ci'] }, action: 'allow' },
    { name: 'admins', match: { kinds: ['admin'] }, action: 'allow', mask: 'secrets' },
    {
      name: 'contractors-prod-readonly',
      match: { groups: ['contractors'], connectionTags: ['prod'], interactions: ['sql.query'] },
      when: "request.sql.kinds.exists(k, k in ['insert', 'update', 'delete'])",
      action: 'deny',
      reason: 'contractors have read-only access to production',
    },
    { name: 'big-completions', match: { interactions: ['llm.*'] }, when: 'request.llm.max_tokens != null && request.llm.max_tokens > 4000', action: 'deny' },
    {
      name: 'gpt-only',
      match: { interactions: ['llm.*'] },
      when: "request.llm.model.startsWith('gpt-')",
      action: 'allow',
      mask: 'pii',
      limits: { requestsPerMinute: 600, concurrentSessionsPerIdentity: 10 },
    },
    { name: 'no-emails-over-http', match: { interactions: ['http.request'] }, when: "'email' in request.entities", action: 'deny' },
    {
      name: 'http-reads',
      match: { interactions: ['http.request'] },
      when: "request.http.method == 'GET' && request.http.path.startsWith('/v1/') && request.http.headers['x-team'] == 'data'",
      action: 'allow',
    },
    {
      name: 'prod-deletes-need-dba',
      match: { connections: ['prod-db'] },
      when: "'delete' in request.sql.kinds",
      action: 'approve',
      approvers: ['dba'],
      required: 2,
      timeout: '30m',
    },
    {
      name: 'prod-reads',
      match: { connections: ['prod-db'], groups: ['analysts'] },
      when: "request.sql.kinds.all(k, k == 'select') && !request.sql.multi_statement && request.sql.has_where",
      action: 'allow',
    },
    { name: 'schema-change-approval', match: { connections: ['staging-db'] }, action: 'approve', approvers: ['dba', 'leads'] },
    {
      name: 'mcp-reads',
      match: { interactions: ['mcp.tool_call'] },
      when: "request.mcp.tool in ['read_file', 'list_dir'] && request.mcp.arguments.path.startsWith('/srv/')",
      action: 'allow',
    },
    {
      name: 'hr-office-hours',
      match: { connections: ['hr-api'] },
      when: "time.getHours('UTC') >= 9 && time.getHours('UTC') < 17 && time.getDayOfWeek('UTC') in [1, 2, 3, 4, 5]",
      action: 'allow',
    },
    {
      name: 'researchers-on-openai',
      match: { connectionTags: ['research'] },
      when: "identity.groups.exists(g, g == 'researchers') && connection.type == 'openai' && identity.kind == 'user'",
      action: 'allow',
    },
  ],
};

const engine = compilePolicy(policy);

const http = (method: string, path: string, headers: Record<string, string> = { 'x-team': 'data' }, entities: string[] = []) =>
  policyInput({
    kind: 'http.request',
    connection: { name: 'billing-api', type: 'http', tags: [] },
    summary: { http: { method, path, query: '', headers }, entities },
  });

const mcp = (tool: string, args: unknown) =>
  policyInput({
    kind: 'mcp.tool_call',
    connection: { name: 'files', type: 'mcp', tags: [] },
    summary: { mcp: { method: 'tools/call', tool, arguments: args } },
  });

describe('rule semantics', () => {
  const cases: Array<[string, PolicyInput, Decision['action'], string]> = [
    ['identities match by principal name', sqlInput({}, { identity: { name: 'mallory' } }), 'deny', 'block-mallory'],
    ['service accounts match by name when the principal is one', sqlInput({ kinds: ['drop'] }, { identity: { name: 'ci', kind: 'service_account', groups: [] } }), 'allow', 'ci-bot'],
    ['a user named like a service account is not one', sqlInput({ kinds: ['drop'] }, { identity: { name: 'ci', kind: 'user', groups: [] } }), 'deny', '<default>'],
    ['principal kinds', sqlInput({ kinds: ['drop'] }, { identity: { name: 'root', kind: 'admin', groups: [] } }), 'allow', 'admins'],
    ['groups and connection tags must both hold', sqlInput({ kinds: ['update'] }, { identity: { groups: ['contractors', 'analysts'] }, connection: { tags: ['prod'] } }), 'deny', 'contractors-prod-readonly'],
    ['a missing tag lets the next rule decide', sqlInput({ kinds: ['select'] }, { identity: { groups: ['contractors', 'analysts'] }, connection: { tags: ['staging'] } }), 'allow', 'prod-reads'],
    ['a false condition lets the next rule decide', sqlInput({ kinds: ['select'] }, { identity: { groups: ['contractors', 'analysts'] }, connection: { tags: ['prod'] } }), 'allow', 'prod-reads'],
    ['interaction globs: llm.* matches llm.chat', llmInput('hello'), 'allow', 'gpt-only'],
    ['interaction globs: llm.* matches llm.embeddings', llmInput('hello', { kind: 'llm.embeddings' }), 'allow', 'gpt-only'],
    ['LLM condition on the model', llmInput('hello', { model: 'claude-3' }), 'deny', '<default>'],
    ['LLM condition on max_tokens (an int)', llmInput('hello', { maxTokens: 8000 }), 'deny', 'big-completions'],
    ['LLM max_tokens under the cap', llmInput('hello', { maxTokens: 1000 }), 'allow', 'gpt-only'],
    ['HTTP condition on method, path and a header', http('GET', '/v1/invoices'), 'allow', 'http-reads'],
    ['HTTP POST is not a read', http('POST', '/v1/invoices'), 'deny', '<default>'],
    ['HTTP header value differs', http('GET', '/v1/invoices', { 'x-team': 'sales' }), 'deny', '<default>'],
    ['entities from masking detection', http('GET', '/v1/invoices', { 'x-team': 'data' }, ['email', 'pii']), 'deny', 'no-emails-over-http'],
    ['SQL delete on prod needs two DBAs', sqlInput({ kinds: ['delete'] }), 'approve', 'prod-deletes-need-dba'],
    ['SQL read with WHERE is allowed', sqlInput({}), 'allow', 'prod-reads'],
    ['SQL multi-statement read is not', sqlInput({ kinds: ['select', 'select'], multiStatement: true }), 'deny', '<default>'],
    ['SQL on a connection no rule names', sqlInput({}, { connection: { name: 'other-db' } }), 'deny', '<default>'],
    ['unconditional approve', sqlInput({ kinds: ['alter_table'] }, { connection: { name: 'staging-db' } }), 'approve', 'schema-change-approval'],
    ['MCP tool and nested argument', mcp('read_file', { path: '/srv/data/a.csv' }), 'allow', 'mcp-reads'],
    ['MCP argument outside the allowed folder', mcp('read_file', { path: '/etc/passwd' }), 'deny', '<default>'],
    ['MCP tool not on the list', mcp('write_file', { path: '/srv/x' }), 'deny', '<default>'],
    ['time: within office hours (Tuesday 10:30 UTC)', http('GET', '/x'), 'deny', '<default>'],
    [
      'time: office hours on the HR API',
      policyInput({ kind: 'http.request', connection: { name: 'hr-api', type: 'http', tags: [] }, summary: { http: { method: 'GET', path: '/', query: '', headers: {} } } }),
      'allow',
      'hr-office-hours',
    ],
    [
      'time: outside office hours',
      policyInput({
        kind: 'http.request',
        connection: { name: 'hr-api', type: 'http', tags: [] },
        summary: { http: { method: 'GET', path: '/', query: '', headers: {} } },
        time: new Date('2025-03-04T22:00:00Z'),
      }),
      'deny',
      '<default>',
    ],
    [
      'time: Saturday',
      policyInput({
        kind: 'http.request',
        connection: { name: 'hr-api', type: 'http', tags: [] },
        summary: { http: { method: 'GET', path: '/', query: '', headers: {} } },
        time: new Date('2025-03-08T10:00:00Z'),
      }),
      'deny',
      '<default>',
    ],
    ['identity and connection variables', llmInput('hi', { model: 'llama', identity: { groups: ['researchers'] }, connection: { tags: ['research'] } }), 'allow', 'researchers-on-openai'],
    ['identity kind in a condition', llmInput('hi', { model: 'llama', identity: { groups: ['researchers'], kind: 'service_account' }, connection: { tags: ['research'] } }), 'deny', '<default>'],
  ];
  for (const [name, input, action, rule] of cases) {
    it(name, () => {
      const decision = engine.decide(input);
      assert.equal(decision.action, action);
      assert.equal(decision.rule, rule);
    });
  }

  it('first match wins even when a later rule also matches', () => {
    const first = compilePolicy({
      rules: [
        { name: 'deny-first', match: { connections: ['prod-db'] }, action: 'deny' },
        { name: 'allow-later', match: { connections: ['prod-db'] }, action: 'allow' },
      ],
    });
    assert.equal(first.decide(sqlInput({})).rule, 'deny-first');
    const swapped = compilePolicy({
      rules: [
        { name: 'allow-first', match: { connections: ['prod-db'] }, action: 'allow' },
        { name: 'deny-later', match: { connections: ['prod-db'] }, action: 'deny' },
      ],
    });
    assert.equal(swapped.decide(sqlInput({})).action, 'allow');
  });

  it('denies with <default> and says no rule matched', () => {
    const decision = compilePolicy({ rules: [] }).decide(sqlInput({}));
    assert.equal(decision.action, 'deny');
    assert.equal(decision.rule, '<default>');
    assert.ok(decision.action === 'deny' && /no policy rule matched/.test(decision.reason));
    assert.deepEqual(decision.obligations, { maskingProfile: null, limits: {} });
  });
});

describe('actions and obligations', () => {
  it('deny carries its reason', () => {
    const decision = engine.decide(sqlInput({}, { identity: { name: 'mallory' } }));
    assert.ok(decision.action === 'deny');
    assert.equal(decision.reason, 'mallory is blocked');
  });

  it('deny without a reason names the rule', () => {
    const decision = engine.decide(llmInput('x', { maxTokens: 9000 }));
    assert.ok(decision.action === 'deny');
    assert.match(decision.reason, /big-completions/);
  });

  it('approve carries approvers, required and timeout', () => {
    const decision = engine.decide(sqlInput({ kinds: ['delete'] }));
    assert.ok(decision.action === 'approve');
    assert.deepEqual(decision.approvers, ['dba']);
    assert.equal(decision.required, 2);
    assert.equal(decision.timeoutMs, 30 * 60_000);
  });

  it('approve defaults to one approval within 15 minutes', () => {
    const decision = engine.decide(sqlInput({}, { connection: { name: 'staging-db' } }));
    assert.ok(decision.action === 'approve');
    assert.deepEqual(decision.approvers, ['dba', 'leads']);
    assert.equal(decision.required, 1);
    assert.equal(decision.timeoutMs, 15 * 60_000);
  });

  it('masking profile and limits travel as obligations', () => {
    const decision = engine.decide(llmInput('hello'));
    assert.equal(decision.action, 'allow');
    assert.deepEqual(decision.obligations, {
      maskingProfile: 'pii',
      limits: { requestsPerMinute: 600, concurrentSessionsPerIdentity: 10 },
    });
    assert.equal(engine.decide(sqlInput({ kinds: ['drop'] }, { identity: { kind: 'admin' } })).obligations.maskingProfile, 'secrets');
  });

  it('returns frozen decisions that callers cannot alter for the next request', () => {
    const decision = engine.decide(llmInput('hello'));
    assert.throws(() => {
      (decision.obligations.limits as { requestsPerMinute: number }).requestsPerMinute = 1;
    }, TypeError);
    assert.equal(engine.decide(llmInput('hello')).obligations.limits.requestsPerMinute, 600);
  });
});

describe('fail closed', () => {
  const failing = compilePolicy({
    rules: [
      { name: 'needs-sql', match: { connections: ['openai'] }, when: 'request.sql.has_where', action: 'allow' },
      { name: 'not-a-bool', match: { connections: ['billing-api'] }, when: 'request.http.path', action: 'allow' },
      { name: 'type-error', match: { connections: ['files'] }, when: "request.mcp.arguments.count > 'three'", action: 'allow' },
      { name: 'missing-key', match: { connections: ['prod-db'] }, when: "request.sql.flags.select_star", action: 'allow' },
      { name: 'allow-all', action: 'allow' },
    ],
  });
  const cases: Array<[string, PolicyInput, string]> = [
    ['a fact family the request lacks', llmInput('hi'), 'needs-sql'],
    ['a condition that is not a bool', http('GET', '/v1/x'), 'not-a-bool'],
    ['a type error', mcp('count', { count: 3 }), 'type-error'],
    ['a map key that is not there', sqlInput({ flags: {} }), 'missing-key'],
  ];
  for (const [name, input, rule] of cases) {
    it(`denies on ${name}, naming the rule, instead of trying later rules`, () => {
      const decision = failing.decide(input);
      assert.equal(decision.action, 'deny');
      assert.equal(decision.rule, rule);
      assert.ok(decision.action === 'deny' && /could not be evaluated/.test(decision.reason));
    });
  }

  it('the same condition passes when the fact is there', () => {
    assert.equal(failing.decide(sqlInput({ flags: { select_star: true } })).rule, 'missing-key');
    assert.equal(failing.decide(sqlInput({ flags: { select_star: true } })).action, 'allow');
  });

  it('never throws, even on malformed input', () => {
    const broken = { ...sqlInput({}), identity: undefined } as unknown as PolicyInput;
    const decision = failing.decide(broken);
    assert.equal(decision.action, 'deny');
    const noSummary = { ...sqlInput({}), summary: undefined } as unknown as PolicyInput;
    assert.equal(failing.decide(noSummary).action, 'deny');
  });
});

describe('token lifetime', () => {
  const withLifetime = compilePolicy({ tokenLifetime: { default: '1h', groups: { contractors: '15m', interns: '30m' } } });
  const cases: Array<[string, string[], number | null]> = [
    ['default for principals in no listed group', ['analysts'], 3_600_000],
    ['a listed group shortens it', ['analysts', 'contractors'], 900_000],
    ['the shortest of several groups', ['interns', 'contractors'], 900_000],
  ];
  for (const [name, groups, expected] of cases) {
    it(name, () => assert.equal(withLifetime.maxTokenTtlMs(groups), expected));
  }
  it('is null when the policy sets no lifetime', () => assert.equal(compilePolicy({}).maxTokenTtlMs(['x']), null));
  it('a group alone applies without a default', () => {
    const groupsOnly = compilePolicy({ tokenLifetime: { groups: { contractors: '10m' } } });
    assert.equal(groupsOnly.maxTokenTtlMs(['contractors']), 600_000);
    assert.equal(groupsOnly.maxTokenTtlMs(['staff']), null);
  });
});

it('counts every rule, packs included', () => {
  assert.equal(engine.ruleCount, policy.rules!.length);
  assert.ok(compilePolicy({ include: ['secrets-in-prompts'], rules: [] }).ruleCount >= 1);
});
