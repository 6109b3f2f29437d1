import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy } from '../../src/policy/compile.ts';
import { explainDecision } from '../../src/policy/explain.ts';
import { llmInput, sqlInput } from './support/inputs.ts';

const engine = compilePolicy({
  include: ['sql-destructive'],
  rules: [
    { name: 'contractors-out', match: { groups: ['contractors'] }, action: 'deny' },
    { name: 'llm', match: { interactions: ['llm.*'] }, action: 'allow', mask: 'pii' },
    { name: 'reads', match: { connections: ['prod-db'] }, when: "request.sql.kinds.all(k, k == 'select')", action: 'allow' },
    { name: 'sql-flag', match: { connections: ['prod-db'] }, when: 'request.sql.flags.audited', action: 'allow' },
  ],
});

describe('explainDecision', () => {
  it('lists skipped rules with the reason and the rule that matched', () => {
    const { decision, steps, text } = explainDecision(engine, sqlInput({}));
    assert.equal(decision.rule, 'reads');
    assert.deepEqual(decision, engine.decide(sqlInput({})));
    const last = steps.at(-1)!;
    assert.equal(last.rule, 'reads');
    assert.equal(last.outcome, 'matched');
    assert.equal(steps.find((s) => s.rule === 'sql-destructive/drop')?.outcome, 'condition_false');
    assert.equal(steps.find((s) => s.rule === 'sql-destructive/drop')?.origin, 'guardrail pack sql-destructive');
    const contractors = steps.find((s) => s.rule === 'contractors-out')!;
    assert.equal(contractors.outcome, 'no_match');
    assert.match(contractors.detail, /groups \[analysts\] share none with \[contractors\]/);
    assert.equal(contractors.origin, 'policy.rules[0]');
    assert.match(steps.find((s) => s.rule === 'llm')!.detail, /interaction sql.query is not in \[llm\.\*\]/);
    assert.match(text, /^MATCH reads/m);
    assert.match(text, /decision: allow \(rule reads; masking: none\)/);
  });

  it('says when a guardrail denies', () => {
    const { decision, text } = explainDecision(engine, sqlInput({ kinds: ['drop'] }));
    assert.equal(decision.rule, 'sql-destructive/drop');
    assert.match(text, /^MATCH sql-destructive\/drop \[guardrail pack sql-destructive\]: condition is true/m);
  });

  it('shows the CEL error of a failed condition, which the caller does not see', () => {
    const { decision, steps } = explainDecision(engine, sqlInput({ kinds: ['insert'] }));
    assert.equal(decision.rule, 'sql-flag');
    assert.equal(decision.action, 'deny');
    assert.ok(decision.action === 'deny' && !decision.reason.includes('audited'));
    const failed = steps.at(-1)!;
    assert.equal(failed.outcome, 'condition_failed');
    assert.match(failed.detail, /audited/);
  });

  it('ends with the default when nothing matched', () => {
    const { decision, text } = explainDecision(engine, llmInput('x', { identity: { groups: [] }, connection: { name: 'x' }, kind: 'http.request' }));
    assert.equal(decision.rule, '<default>');
    assert.match(text, /no rule matched: <default> denies/);
  });

  it('explains a connection\'s compiled rules as the whole policy decides', () => {
    const input = sqlInput({});
    assert.equal(explainDecision(engine.forConnection(input.connection), input).decision.rule, engine.decide(input).rule);
  });

  it('refuses engines it did not build', () => {
    const foreign = { decide: engine.decide.bind(engine), maxTokenTtlMs: () => null, ruleCount: 0, readsEntities: false, masks: false, approves: false, forConnection: () => engine };
    assert.throws(() => explainDecision(foreign, sqlInput({})), (err: { code: string }) => err.code === 'invalid_argument');
  });
});
