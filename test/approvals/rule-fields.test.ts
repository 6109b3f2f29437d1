/** The approve rule's fields as policy compiles them: wait defaults to 60s, never past timeout. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyConfigSchema } from '../../src/policy/schema.ts';
import { CompiledPolicy } from '../../src/policy/engine.ts';
import { loadPolicy } from '../../src/policy/index.ts';

const rule = (extra: Record<string, unknown>) => ({ rules: [{ name: 'hold', action: 'approve', approvers: ['oncall'], ...extra }] });

async function decisionOf(extra: Record<string, unknown>) {
  const policy = await loadPolicy(policyConfigSchema.parse(rule(extra)), { baseDir: process.cwd(), knownMaskProfiles: [] });
  assert.ok(policy instanceof CompiledPolicy);
  const decision = policy.rules[0]!.decision;
  assert.equal(decision.action, 'approve');
  return decision as Extract<typeof decision, { action: 'approve' }>;
}

test('wait defaults to 60s, and to timeout when timeout is shorter', async () => {
  assert.equal((await decisionOf({})).waitMs, 60_000);
  assert.equal((await decisionOf({})).timeoutMs, 15 * 60_000);
  assert.equal((await decisionOf({ timeout: '30s' })).waitMs, 30_000);
  assert.equal((await decisionOf({ wait: '2m', timeout: '1h' })).waitMs, 120_000);
  assert.equal((await decisionOf({ wait: '1h', timeout: '1h' })).waitMs, 3_600_000);
});

test('hostile: a wait longer than timeout, a bare number, zero or a typo is refused', () => {
  for (const extra of [{ wait: '16m' }, { wait: '2h', timeout: '1h' }, { wait: 60 }, { wait: '60' }, { wait: '0s' }, { wiat: '1m' }, { wait: '' }]) {
    assert.equal(policyConfigSchema.safeParse(rule(extra)).success, false, JSON.stringify(extra));
  }
});
