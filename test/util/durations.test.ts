import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { formatDuration, parseDuration } from '../../src/util/durations.ts';

const cases: readonly [text: string, ms: number][] = [
  ['30s', 30_000],
  ['15m', 900_000],
  ['12h', 43_200_000],
  ['7d', 604_800_000],
  ['90s', 90_000],
];

test('formatDuration writes the largest whole unit, in the syntax parseDuration reads back', () => {
  for (const [text, ms] of cases) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(1_499), '1s', 'below a second is rounded: messages name lifetimes, not latencies');
});

test('parseDuration refuses bare numbers with config_invalid', () => {
  assert.throws(() => parseDuration('15'), (err: unknown) => err instanceof ConfigError && err.code === 'config_invalid');
});
