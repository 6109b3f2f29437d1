import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import type { PolicyProblem } from '../../src/policy/analyze.ts';
import { checkPolicy, compilePolicy } from '../../src/policy/compile.ts';
import type { MatchConfig } from '../../src/policy/schema.ts';

const allow = (name: string, extra: Record<string, unknown> = {}) => ({ name, action: 'allow', ...extra });

const specExample = {
  include: ['sql-destructive'],
  dir: './policy.d',
  sensitiveTables: ['users', 'payments'],
  tokenLifetime: { default: '1h', groups: { contractors: '15m' } },
  rules: [
    {
      name: 'block-prod-writes-for-contractors',
      match: { groups: ['contractors'], connectionTags: ['prod'], interactions: ['sql.query'] },
      when: "request.sql.kinds.exists(k, k in ['insert','update','delete'])",
      action: 'deny',
      reason: 'contractors have read-only access to production',
    },
    {
      name: 'risky-needs-approval',
      match: { connections: ['prod-db'] },
      when: "'delete' in request.sql.kinds",
      action: 'approve',
      approvers: ['dba'],
      required: 2,
      timeout: '30m',
    },
    {
      name: 'default-allow-llm',
      match: { interactions: ['llm.*'] },
      action: 'allow',
      mask: 'pii',
      limits: { requestsPerMinute: 600, concurrentSessionsPerIdentity: 10 },
    },
  ],
};

function only(problems: PolicyProblem[]): PolicyProblem {
  assert.equal(problems.length, 1, JSON.stringify(problems, null, 1));
  return problems[0]!;
}

describe('checkPolicy errors', () => {
  it('accepts the documented example', () => {
    assert.deepEqual(checkPolicy(specExample), { errors: [], warnings: [] });
  });

  const cases: Array<[string, unknown, { path: string; rule?: string; message: RegExp }]> = [
    ['a rule without an action', { rules: [{ name: 'r' }] }, { path: 'policy.rules[0].action', rule: 'r', message: /allow.*deny.*approve/ }],
    ['a misspelt match key', { rules: [allow('r', { match: { group: ['x'] } })] }, { path: 'policy.rules[0].match', rule: 'r', message: /group/ }],
    ['an empty match list', { rules: [allow('r', { match: { groups: [] } })] }, { path: 'policy.rules[0].match.groups', rule: 'r', message: /at least one/ }],
    ['a reason on an allow rule', { rules: [allow('r', { reason: 'x' })] }, { path: 'policy.rules[0]', rule: 'r', message: /reason/ }],
    ['approve without approvers', { rules: [{ name: 'r', action: 'approve' }] }, { path: 'policy.rules[0].approvers', rule: 'r', message: /expected array/ }],
    ['a bad timeout', { rules: [{ name: 'r', action: 'approve', approvers: ['dba'], timeout: '15x' }] }, { path: 'policy.rules[0].timeout', rule: 'r', message: /invalid duration "15x"/ }],
    ['a zero timeout', { rules: [{ name: 'r', action: 'approve', approvers: ['dba'], timeout: '0s' }] }, { path: 'policy.rules[0].timeout', rule: 'r', message: /longer than zero/ }],
    ['required below one', { rules: [{ name: 'r', action: 'approve', approvers: ['dba'], required: 0 }] }, { path: 'policy.rules[0].required', rule: 'r', message: />=1/ }],
    ['an unknown interaction kind', { rules: [allow('r', { match: { interactions: ['sql.querry'] } })] }, { path: 'policy.rules[0].match.interactions[0]', rule: 'r', message: /matches no interaction kind/ }],
    ['a glob matching nothing', { rules: [allow('r', { match: { interactions: ['ssh.*'] } })] }, { path: 'policy.rules[0].match.interactions[0]', rule: 'r', message: /matches no interaction kind/ }],
    ['an unknown principal kind', { rules: [allow('r', { match: { kinds: ['robot'] } })] }, { path: 'policy.rules[0].match.kinds[0]', rule: 'r', message: /user/ }],
    ['a negative limit', { rules: [allow('r', { limits: { requestsPerMinute: -1 } })] }, { path: 'policy.rules[0].limits.requestsPerMinute', rule: 'r', message: />=1/ }],
    ['an unknown limit', { rules: [allow('r', { limits: { requestsPerHour: 5 } })] }, { path: 'policy.rules[0].limits', rule: 'r', message: /requestsPerHour/ }],
    ['the reserved name <default>', { rules: [allow('<default>')] }, { path: 'policy.rules[0].name', rule: '<default>', message: /reserved/ }],
    ['an unknown pack', { include: ['sql-destructiv'], rules: [allow('r')] }, { path: 'policy.include[0]', message: /unknown guardrail pack "sql-destructiv"/ }],
    ['a pack listed twice', { include: ['sql-destructive', 'sql-destructive'], rules: [allow('r')] }, { path: 'policy.include[1]', message: /listed twice/ }],
    ['a misspelt top-level key', { rule: [allow('r')] }, { path: 'policy', message: /"rule"/ }],
    ['a bad token lifetime', { tokenLifetime: { groups: { contractors: '15 minutes' } }, rules: [allow('r')] }, { path: 'policy.tokenLifetime.groups.contractors', message: /invalid duration/ }],
    ['a CEL syntax error', { rules: [allow('r', { when: "request.kind == 'x' &&" })] }, { path: 'policy.rules[0].when', rule: 'r', message: /syntax error/ }],
    ['an unknown CEL variable', { rules: [allow('r', { when: 'req.kind == "x"' })] }, { path: 'policy.rules[0].when', rule: 'r', message: /unknown variable "req"/ }],
    ['a camelCase field', { rules: [allow('r', { when: 'request.sql.hasWhere' })] }, { path: 'policy.rules[0].when', rule: 'r', message: /did you mean "has_where"/ }],
    ['a field of a leaf', { rules: [allow('r', { when: 'identity.name.first == "a"' })] }, { path: 'policy.rules[0].when', rule: 'r', message: /identity.name has no field "first"/ }],
    ['time.hour', { rules: [allow('r', { when: 'time.hour > 9' })] }, { path: 'policy.rules[0].when', rule: 'r', message: /getHours/ }],
    ['an unknown function', { rules: [allow('r', { when: 'request.http.path.lowerAsci() == "x"' })] }, { path: 'policy.rules[0].when', rule: 'r', message: /unknown function "lowerAsci"/ }],
    ['two rules with one name', { rules: [allow('r'), allow('r')] }, { path: 'policy.rules[1].name', rule: 'r', message: /duplicate rule name "r" \(first defined at policy.rules\[0\]\)/ }],
    [
      'a rule named like a pack rule',
      { include: ['sql-destructive'], rules: [allow('sql-destructive/drop')] },
      { path: 'policy.rules[0].name', rule: 'sql-destructive/drop', message: /first defined at guardrail pack sql-destructive/ },
    ],
  ];
  for (const [name, config, expected] of cases) {
    it(`reports ${name}`, () => {
      const problem = only(checkPolicy(config).errors);
      assert.equal(problem.path, expected.path);
      assert.equal(problem.rule, expected.rule);
      assert.match(problem.message, expected.message);
    });
  }

  it('reports every problem at once, and a CEL error even when another rule is malformed', () => {
    const { errors } = checkPolicy({ rules: [{ name: 'a' }, allow('b', { when: 'nope' }), allow('c', { when: 'request.kind ==' })] });
    assert.deepEqual(
      errors.map((e) => e.rule),
      ['a', 'b', 'c'],
    );
  });

  it('names the file of folder rules, and duplicates across files', () => {
    const files = [
      { file: 'policy.d/10-base.yaml', content: { rules: [allow('shared'), { name: 'broken', action: 'maybe' }] } },
      { file: 'policy.d/20-team.yaml', content: { rules: [allow('shared')] } },
      { file: 'policy.d/30-typo.yaml', content: { rulez: [] } },
    ];
    const { errors } = checkPolicy({ rules: [] }, { files });
    assert.deepEqual(
      errors.map(({ file, path, rule }) => ({ file, path, rule })),
      [
        { file: 'policy.d/30-typo.yaml', path: '(top level)', rule: undefined },
        { file: 'policy.d/10-base.yaml', path: 'rules[1].action', rule: 'broken' },
        { file: 'policy.d/20-team.yaml', path: 'rules[0].name', rule: 'shared' },
      ],
    );
    assert.match(errors[2]!.message, /first defined at policy.d\/10-base.yaml: rules\[0\]/);
  });

  it('checks masking profiles when it knows them', () => {
    const config = { rules: [allow('r', { mask: 'pi' })] };
    assert.deepEqual(checkPolicy(config).errors, []);
    const problem = only(checkPolicy(config, { knownMaskProfiles: ['pii', 'secrets'] }).errors);
    assert.equal(problem.path, 'policy.rules[0].mask');
    assert.match(problem.message, /unknown masking profile "pi"/);
  });

  it('compilePolicy throws ConfigError carrying every problem', () => {
    assert.throws(
      () => compilePolicy({ rules: [{ name: 'a' }, allow('b', { when: 'x' })] }),
      (err: ConfigError) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, 'config_invalid');
        assert.equal((err.details.errors as PolicyProblem[]).length, 2);
        assert.match(err.message, /policy.rules\[1\].when/);
        return true;
      },
    );
  });
});

describe('checkPolicy warnings', () => {
  // [earlier unconditional match, later match, later is unreachable]
  const shadowCases: Array<[string, MatchConfig | undefined, MatchConfig | undefined, boolean]> = [
    ['an empty match covers everything', undefined, { groups: ['x'] }, true],
    ['a subset of groups', { groups: ['a', 'b'] }, { groups: ['a'] }, true],
    ['an extra field on the later rule', { groups: ['a'] }, { groups: ['a'], connections: ['db'] }, true],
    ['an llm.* glob covers llm.chat', { interactions: ['llm.*'] }, { interactions: ['llm.chat'] }, true],
    ['all principal kinds listed equals none listed', { kinds: ['user', 'service_account', 'admin'] }, { connections: ['db'] }, true],
    ['service accounts are a kind of principal', { kinds: ['service_account'] }, { serviceAccounts: ['ci'] }, true],
    ['a group the earlier rule lacks', { groups: ['a'] }, { groups: ['a', 'c'] }, false],
    ['a field only the earlier rule has', { groups: ['a'] }, { connections: ['db'] }, false],
    ['llm.chat does not cover llm.*', { interactions: ['llm.chat'] }, { interactions: ['llm.*'] }, false],
    ['identities do not cover service accounts (kept simple)', { identities: ['ci'] }, { serviceAccounts: ['ci'] }, false],
  ];
  for (const [name, earlier, later, unreachable] of shadowCases) {
    it(`${unreachable ? 'warns' : 'does not warn'}: ${name}`, () => {
      const { errors, warnings } = checkPolicy({
        rules: [
          { name: 'earlier', ...(earlier === undefined ? {} : { match: earlier }), action: 'deny' },
          { name: 'later', ...(later === undefined ? {} : { match: later }), action: 'allow' },
        ],
      });
      assert.deepEqual(errors, []);
      const shadow = warnings.filter((w) => /can never match/.test(w.message));
      assert.equal(shadow.length, unreachable ? 1 : 0);
      if (unreachable) assert.equal(shadow[0]!.rule, 'later');
    });
  }

  it('an earlier rule with a condition shadows nothing', () => {
    const { warnings } = checkPolicy({ rules: [allow('a', { when: "request.kind == 'sql.query'" }), allow('b')] });
    assert.deepEqual(warnings, []);
  });

  it('warns when nothing can be allowed', () => {
    const { warnings } = checkPolicy({ include: ['sql-destructive'] });
    assert.match(only(warnings).message, /every request will be denied/);
  });

  it('warns about a group lifetime that cannot shorten the default', () => {
    const { warnings } = checkPolicy({ tokenLifetime: { default: '1h', groups: { admins: '8h' } }, rules: [allow('r')] });
    assert.equal(only(warnings).path, 'policy.tokenLifetime.groups.admins');
  });

  it('warns when data-exfiltration has nothing to protect', () => {
    const { warnings } = checkPolicy({ include: ['data-exfiltration'], sensitiveConnectionTags: [], rules: [allow('r')] });
    assert.match(only(warnings).message, /names anything to protect/);
  });
});

it('checks rules even when the settings around them are invalid', () => {
  const { errors } = checkPolicy({ include: ['nope'], rules: [allow('r', { when: 'request.nope' })] });
  assert.deepEqual(
    errors.map((e) => e.path),
    ['policy.include[0]', 'policy.rules[0].when'],
  );
});
