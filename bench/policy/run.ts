/**
 * Decision time with 100 rules, the matching one near the end.
 *   node --import tsx bench/policy/run.ts [decisions per scenario, default 100000]
 * Baseline: the same 100 rules with their CEL conditions replaced by plain match lists, measured in
 * the same run, so the printed ratio is what the conditions cost. Bounded to about 20 s.
 */
import { cpus, loadavg } from 'node:os';
import type { PolicyInput } from '../../src/policy/types.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import type { RuleConfigInput } from '../../src/policy/schema.ts';

const DECISIONS = Number(process.argv[2] ?? 100_000);
const BUDGET_MS = 20_000;
const RULES = 100;
const MATCHING = 97;

const CONDITIONS = [
  (i: number) => `'drop' in request.sql.kinds && identity.name == 'user-${i}'`,
  (i: number) => `request.sql.tables.exists(t, t == 'table_${i}')`,
  (i: number) => `identity.name == 'user-${i}' || connection.name == 'db-${i}'`,
  (i: number) => `!request.sql.has_where && 'update' in request.sql.kinds`,
];

/**
 * Four kinds of non-matching rule, in turn: a match that fails on a group, a match that holds so
 * its CEL condition runs (and is false), a condition its match rules out first, and a match that
 * fails on an identity. Without CEL, conditions become a failing identity list.
 */
function rules(withCel: boolean): RuleConfigInput[] {
  return Array.from({ length: RULES }, (_, i): RuleConfigInput => {
    if (i === MATCHING) {
      return {
        name: 'analysts-read-prod',
        match: { groups: ['analysts'], connections: ['prod-db'], interactions: ['sql.query'] },
        ...(withCel ? { when: "request.sql.kinds.all(k, k == 'select') && request.sql.has_where" } : {}),
        action: 'allow',
        mask: 'pii',
      };
    }
    const noMatch = { identities: [`user-${i}`] };
    switch (i % 4) {
      case 0:
        return { name: `group-${i}`, match: { groups: [`team-${i}`], connections: ['prod-db'] }, action: 'deny' };
      case 1:
        return withCel
          ? { name: `cel-${i}`, match: { interactions: ['sql.query'] }, when: CONDITIONS[(i >> 2) % CONDITIONS.length]!(i), action: 'deny' }
          : { name: `cel-${i}`, match: { interactions: ['sql.query'], ...noMatch }, action: 'deny' };
      case 2:
        return {
          name: `conn-${i}`,
          match: { connections: [`db-${i}`], connectionTags: ['prod'] },
          ...(withCel ? { when: "'drop' in request.sql.kinds" } : {}),
          action: 'deny',
        };
      default:
        return { name: `user-${i}`, match: { interactions: ['sql.query', 'llm.*'], ...noMatch }, action: 'deny' };
    }
  });
}

function makeInput(i: number): PolicyInput {
  return {
    identity: { id: 'u-1', kind: 'user', name: 'alice', groups: ['analysts', 'staff'] },
    credential: { tokenId: 't', kind: 'agent', name: 'alice', connections: null, issuedAt: 0, expiresAt: null },
    connection: { name: 'prod-db', type: 'postgres', tags: ['prod'] },
    kind: 'sql.query',
    summary: {
      sql: {
        text: `select id from orders where id = ${i}`,
        kinds: ['select'],
        tables: ['orders'],
        hasWhere: true,
        functions: [],
        multiStatement: false,
        parseError: null,
        flags: {},
      },
      entities: [],
    },
    time: new Date(),
  };
}

function measure(decide: (input: PolicyInput) => { rule: string }, expected: string | null) {
  const deadline = performance.now() + BUDGET_MS / 4;
  for (let i = 0; i < 5_000; i++) decide(makeInput(i));
  const samples = new Float64Array(DECISIONS);
  let n = 0;
  for (; n < DECISIONS && (n % 1024 !== 0 || performance.now() < deadline); n++) {
    const input = makeInput(n);
    const start = process.hrtime.bigint();
    const decision = decide(input);
    samples[n] = Number(process.hrtime.bigint() - start) / 1000;
    if (expected !== null && decision.rule !== expected) throw new Error(`decided by ${decision.rule}, expected ${expected}`);
  }
  const sorted = samples.subarray(0, n).sort();
  return { n, median: sorted[Math.floor(n / 2)]!, p99: sorted[Math.floor(n * 0.99)]! };
}

const withCel = compilePolicy({ rules: rules(true) });
const matchOnly = compilePolicy({ rules: rules(false) });
const withPacks = compilePolicy({
  include: ['sql-destructive', 'secrets-in-prompts', 'data-exfiltration'],
  sensitiveTables: ['users', 'payments'],
  rules: rules(true),
});
const celRules = rules(true).filter((r) => r.when !== undefined).length;
const evaluated = rules(true).filter((r, i) => r.when !== undefined && (i % 4 === 1 || i === MATCHING)).length;

const empty = measure(() => ({ rule: '' }), null);
const baseline = measure((input) => matchOnly.decide(input), 'analysts-read-prod');
const cel = measure((input) => withCel.decide(input), 'analysts-read-prod');
const packs = measure((input) => withPacks.decide(input), 'analysts-read-prod');

const fmt = (r: { n: number; median: number; p99: number }) =>
  `median ${r.median.toFixed(2).padStart(6)} µs   p99 ${r.p99.toFixed(2).padStart(7)} µs   (${r.n} decisions)`;
console.log(
  `policy decision, ${RULES} rules, match at rule ${MATCHING + 1}; ${celRules} rules have CEL conditions, ${evaluated} of them run per decision`,
);
console.log(`  harness only (no decide)          ${fmt(empty)}`);
console.log(`  baseline: same rules, no CEL      ${fmt(baseline)}`);
console.log(`  100 rules with CEL                ${fmt(cel)}`);
console.log(`  + all three guardrail packs       ${fmt(packs)}  (${withPacks.ruleCount} rules)`);
console.log(`  ratio CEL / baseline (median)     ${(cel.median / baseline.median).toFixed(1)}x`);
console.log(`  per condition run (median)        ${((cel.median - baseline.median) / evaluated).toFixed(2)} µs`);
console.log(`  machine: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} (other work inflates wall-clock figures)`);
console.log(`  goal median < 50 µs               ${cel.median < 50 ? 'met' : 'MISSED'}`);
