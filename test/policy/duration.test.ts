import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { parseDuration } from '../../src/util/durations.ts';

describe('parseDuration', () => {
  const valid: Array<[string, number]> = [
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s', 93_784_000],
    ['0s', 0],
  ];
  for (const [text, ms] of valid) it(`${text} is ${ms} ms`, () => assert.equal(parseDuration(text), ms));

  const invalid = ['', '15', '15x', '1.5h', '-1m', '15 m', 'm', '30m1h', '1h1h', ' 1h', '1H'];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)} with a clear ConfigError`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: ConfigError) => err.code === 'config_invalid' && err.message.includes('s, m, h or d'),
      );
    });
  }

  it('refuses a non-string from an untyped config', () => {
    assert.throws(() => parseDuration(900 as unknown as string), ConfigError);
  });
});
