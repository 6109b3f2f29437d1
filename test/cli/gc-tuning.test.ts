import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { SERVER_HEAP_GROWING_PERCENT, serverGcFlags } from '../../src/cli/gc-tuning.ts';

test('serverGcFlags sets the heap growing factor unless the operator chose one', () => {
  const ours = [`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`];
  const cases: [string, string[], string[]][] = [
    ['no node flags', [], ours],
    ['other heap flags', ['--max-old-space-size=512', '--max-semi-space-size=8'], ours],
    ['their own factor', ['--heap-growing-percent=80'], []],
    ['their own factor, V8 spelling', ['--heap_growing_percent=80'], []],
    ['their own factor, value apart', ['--heap-growing-percent', '80'], []],
  ];
  for (const [name, execArgv, expected] of cases) assert.deepEqual(serverGcFlags(execArgv), expected, name);
});

/**
 * Short-lived objects that outlive two scavenges, as requests in flight do, are promoted and
 * pile up in the old generation until the next full collection; the tuning must bring that
 * collection much earlier. Each run is a fresh process, since the flag is process-wide.
 */
const WORKLOAD = `
import { getHeapSpaceStatistics } from 'node:v8';
if (process.argv[1] === 'tuned') (await import(${JSON.stringify(pathToFileURL(resolve('src/cli/gc-tuning.ts')).href)})).applyServerGcTuning([]);
const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size;
const inFlight = new Array(250_000);
let peak = 0;
for (let i = 0; i < 3_000_000; i++) {
  inFlight[i % inFlight.length] = { i, parts: [i, i + 1, i + 2] };
  if (i % 10_000 === 0) peak = Math.max(peak, oldSpace());
}
console.log(peak);
`;

async function peakOldSpace(mode: 'tuned' | 'untuned'): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WORKLOAD, mode]);
  return Number(stdout.trim());
}

test("with the tuning, promoted garbage is collected long before V8's default limit", async () => {
  const [untuned, tuned] = await Promise.all([peakOldSpace('untuned'), peakOldSpace('tuned')]);
  assert.ok(untuned > 0 && tuned > 0);
  assert.ok(tuned < 0.6 * untuned, `old space peaked at ${(tuned / 2 ** 20).toFixed(0)} MiB tuned vs ${(untuned / 2 ** 20).toFixed(0)} MiB untuned`);
});
