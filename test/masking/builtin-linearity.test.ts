/**
 * The built-in detectors stay on JavaScript regexes only because each is linear on adversarial
 * input (issue 19, item 1). A child process counts V8's backtracking work for every regex exec a
 * detector makes (support/v8-regex-work.ts explains how) on 512 KiB and 1 MiB of adversarial
 * text (support/adversarial-inputs.ts): twice the text must cost at most about twice the work, and
 * no single exec may run past 256 steps per character. Counted, never timed. Two control
 * detectors, one quadratic and one exponential, show that the count catches both.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BUILTIN_DETECTORS } from '../../src/masking/detectors/registry.ts';

interface Row {
  readonly detector: string;
  readonly family: string;
  readonly chars: readonly [number, number];
  readonly small: { work: number; overCap: number };
  readonly large: { work: number; overCap: number };
}

const CHILD = fileURLToPath(new URL('./support/v8-regex-work.ts', import.meta.url));

function measure(env: Record<string, string> = {}): Row[] {
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-regexp-optimization', '--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
}

// Linear work doubles (the count is exact to 10%); quadratic work quadruples.
const linear = (row: Row) => row.small.overCap === 0 && row.large.overCap === 0 && row.large.work <= 2.6 * row.small.work + 256;

describe('the work count catches what it is meant to catch', () => {
  const rows = measure({ WORK_ONLY: 'controls' });
  it('a quadratic scan ([a-z]+@ over a run of letters) quadruples its work for twice the text', () => {
    const row = rows.find((r) => r.detector.startsWith('control: quadratic'))!;
    assert.ok(row.large.work >= 3.5 * row.small.work, JSON.stringify(row));
    assert.equal(linear(row), false);
  });
  it('an exponential pattern ((a+)+b) runs past the cap and is stopped there', () => {
    const row = rows.find((r) => r.detector.startsWith('control: exponential'))!;
    assert.ok(row.small.overCap > 0 && row.large.overCap > 0, JSON.stringify(row));
    assert.equal(linear(row), false);
  });
});

describe('every built-in detector is linear on adversarial input', () => {
  const rows = measure();
  it('every built-in detector and a user dictionary were measured, on 1 MiB (person: 32 KiB)', () => {
    const measured = new Set(rows.map((r) => r.detector));
    for (const name of Object.keys(BUILTIN_DETECTORS)) assert.ok(measured.has(name), name);
    assert.ok(measured.has('dictionary (64 nested terms)'));
    for (const row of rows) assert.equal(row.chars[1], row.detector === 'person' ? 32 * 1024 : 1024 * 1024, row.detector);
  });
  for (const name of [...Object.keys(BUILTIN_DETECTORS), 'dictionary (64 nested terms)']) {
    it(name, () => {
      const mine = rows.filter((r) => r.detector === name);
      assert.ok(mine.length >= 6, `${name}: ${mine.length} families`);
      for (const row of mine) assert.ok(linear(row), `${name} on ${row.family}: ${JSON.stringify(row)}`);
    });
  }
});
