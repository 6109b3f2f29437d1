import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { createPolicyHolder } from '../../src/policy/holder.ts';
import { sqlInput } from './support/inputs.ts';

const allowAll = { rules: [{ name: 'allow-all', action: 'allow' }] };
const denyAll = { rules: [{ name: 'deny-all', action: 'deny' }] };

describe('policy holder', () => {
  it('swaps in the new policy on reload', async () => {
    let config: unknown = allowAll;
    const holder = await createPolicyHolder(() => compilePolicy(config));
    assert.equal(holder.decide(sqlInput({})).rule, 'allow-all');
    config = denyAll;
    await holder.reload();
    assert.equal(holder.decide(sqlInput({})).rule, 'deny-all');
    assert.equal(holder.ruleCount, 1);
  });

  it('keeps the old policy when the new one is invalid', async () => {
    let config: unknown = allowAll;
    const holder = await createPolicyHolder(() => compilePolicy(config));
    const before = holder.current;
    config = { rules: [{ name: 'broken', action: 'allow', when: 'request.sql.hasWhere' }] };
    await assert.rejects(holder.reload(), (err: ConfigError) => err instanceof ConfigError && err.code === 'config_invalid');
    assert.equal(holder.current, before);
    assert.equal(holder.decide(sqlInput({})).rule, 'allow-all');
  });

  it('turns any loader failure into ConfigError and keeps the old policy', async () => {
    let fail = false;
    const holder = await createPolicyHolder(async () => {
      if (fail) throw new Error('disk gone');
      return compilePolicy(allowAll);
    });
    fail = true;
    await assert.rejects(holder.reload(), (err: ConfigError) => err.code === 'config_invalid' && /disk gone/.test(err.message));
    assert.equal(holder.decide(sqlInput({})).rule, 'allow-all');
  });

  it('fails to start on an invalid first policy', async () => {
    await assert.rejects(createPolicyHolder(() => compilePolicy({ rules: [{ name: 'x' }] })), ConfigError);
  });

  it('runs overlapping reloads in order, so the last one wins', async () => {
    const configs = [allowAll, denyAll, allowAll];
    const delays = [0, 30, 0];
    let call = 0;
    const holder = await createPolicyHolder(async () => {
      const i = call++;
      if (i === 0) return compilePolicy(allowAll);
      await new Promise((resolve) => setTimeout(resolve, delays[i - 1]));
      return compilePolicy(configs[i - 1]);
    });
    // The slow second load would otherwise finish after the fast third and overwrite it.
    await Promise.all([holder.reload(), holder.reload(), holder.reload()]);
    assert.equal(holder.decide(sqlInput({})).rule, 'allow-all');
    assert.equal(call, 4);
  });
});
