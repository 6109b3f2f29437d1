import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchConfig, type ConfigWatch, type WatchScheduler } from '../../src/config/watch.ts';
import { createSerialReloader } from '../../src/config/serial-reloader.ts';

/**
 * A scheduler that runs the watcher's debounced checks when the test says so. `settle` waits for
 * file-system events (never for time): whenever a check is scheduled it runs it, until the
 * condition holds.
 */
function manualScheduler() {
  let pending: { task: () => Promise<void>; cancelled: boolean }[] = [];
  let wake: (() => void) | null = null;
  let ran = 0;
  const scheduler: WatchScheduler = {
    schedule(task) {
      const entry = { task, cancelled: false };
      pending.push(entry);
      wake?.();
      return () => {
        entry.cancelled = true;
      };
    },
  };
  async function runPending(): Promise<void> {
    const tasks = pending.filter((entry) => !entry.cancelled);
    pending = [];
    for (const entry of tasks) {
      // The watcher's deadline task cancels its debounce twin (and the reverse) when it runs.
      if (entry.cancelled) continue;
      ran++;
      await entry.task();
    }
  }
  return {
    scheduler,
    /** Runs scheduled checks as events schedule them until `done()` holds. */
    async until(done: () => boolean): Promise<void> {
      while (!done()) {
        if (!pending.some((entry) => !entry.cancelled)) await new Promise<void>((r) => (wake = r));
        wake = null;
        await runPending();
      }
    },
    /** How many checks have run so far. */
    get ran() {
      return ran;
    },
  };
}

// A timeout only so that a watcher that misses an event fails instead of hanging the run.
describe('watchConfig follows the config file however it is replaced', { timeout: 30_000 }, () => {
  let dir: string;
  let file: string;
  let clock: ReturnType<typeof manualScheduler>;
  let changes: (readonly string[])[];
  let watch: ConfigWatch;

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'gatehouse-watch-')));
    file = join(dir, 'gatehouse.yaml');
    clock = manualScheduler();
    changes = [];
  });
  afterEach(async () => {
    watch?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (options: { dirs?: string[] } = {}) => {
    watch = await watchConfig({ files: [file], ...options, scheduler: clock.scheduler, persistent: true, onChange: (changed) => void changes.push(changed) });
  };
  /** Waits until the watcher has reported `n` changes in all. */
  const changesReach = (n: number) => clock.until(() => changes.length >= n);
  /** Waits for a check that starts after this call (one the last operation's events scheduled). */
  const nextCheck = () => {
    const before = clock.ran;
    return clock.until(() => clock.ran > before);
  };

  test('a plain write reloads once', async () => {
    await writeFile(file, 'a: 1\n');
    await start();
    await writeFile(file, 'a: 2\n');
    await changesReach(1);
    assert.deepEqual(changes, [[file]]);
  });

  test('rename-over saves (vim, sed -i) keep triggering, every time', async () => {
    await writeFile(file, 'a: 0\n');
    await start();
    for (let i = 1; i <= 3; i++) {
      await writeFile(join(dir, '.gatehouse.yaml.swp'), `a: ${i}\n`);
      await rename(join(dir, '.gatehouse.yaml.swp'), file);
      await changesReach(i);
    }
    assert.equal(changes.length, 3);
  });

  test('a file deleted and recreated is waited for; the same bytes again change nothing', async () => {
    await writeFile(file, 'a: 1\n');
    await start();
    await unlink(file);
    await nextCheck();
    assert.equal(changes.length, 0, 'an absent file is not a change');
    await writeFile(file, 'a: 1\n');
    await nextCheck();
    assert.equal(changes.length, 0, 'recreated with the same content');
    await writeFile(file, 'a: 2\n');
    await changesReach(1);
    assert.deepEqual(changes, [[file]]);
  });

  test('touching the file (new mtime, same bytes) does not reload', async () => {
    await writeFile(file, 'a: 1\n');
    await start();
    await utimes(file, new Date(2030, 0, 1), new Date(2030, 0, 1));
    await nextCheck();
    assert.equal(changes.length, 0);
    // The watch is still alive afterwards.
    await writeFile(file, 'a: 2\n');
    await changesReach(1);
  });

  test('Kubernetes ConfigMap swaps of the ..data symlink trigger, the second and third time too', async () => {
    // The layout the kubelet makes: gatehouse.yaml -> ..data/gatehouse.yaml, ..data -> ..<timestamp>.
    const generation = async (n: number, text: string) => {
      const folder = join(dir, `..2026_01_0${n}_00_00_00.${n}`);
      await mkdir(folder);
      await writeFile(join(folder, 'gatehouse.yaml'), text);
      return folder;
    };
    let current = await generation(1, 'a: 1\n');
    await symlink(current.slice(dir.length + 1), join(dir, '..data'));
    await symlink('..data/gatehouse.yaml', file);
    await start();
    for (let n = 2; n <= 4; n++) {
      const next = await generation(n, `a: ${n}\n`);
      await symlink(next.slice(dir.length + 1), join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(current, { recursive: true });
      current = next;
      await changesReach(n - 1);
    }
    assert.equal(changes.length, 3);
    assert.ok(changes.every((c) => c.length === 1 && c[0] === file));
  });

  test('a swap to identical content does not reload', async () => {
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'gatehouse.yaml'), 'a: 1\n');
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/gatehouse.yaml', file);
    await start();
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'gatehouse.yaml'), 'a: 1\n');
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await nextCheck();
    assert.equal(changes.length, 0);
  });

  test('the policy folder: a rule file added, changed by rename-over, and removed', async () => {
    await writeFile(file, 'a: 1\n');
    const policy = join(dir, 'policy');
    await mkdir(policy);
    await writeFile(join(policy, '10-base.yaml'), 'rules: []\n');
    await start({ dirs: [policy] });
    await writeFile(join(policy, '20-teams.yaml'), 'rules: []\n');
    await changesReach(1);
    await writeFile(join(policy, '.20-teams.tmp'), 'rules: [{ name: x, action: allow }]\n');
    await rename(join(policy, '.20-teams.tmp'), join(policy, '20-teams.yaml'));
    await changesReach(2);
    await unlink(join(policy, '20-teams.yaml'));
    await changesReach(3);
    assert.deepEqual(changes, [[policy], [policy], [policy]]);
    // A file the policy loader ignores changes nothing (a touch of the config makes sure a check runs).
    await writeFile(join(policy, 'README.md'), 'notes\n');
    await utimes(file, new Date(2030, 0, 1), new Date(2030, 0, 1));
    await nextCheck();
    assert.equal(changes.length, 3);
  });

  test('retarget follows a new policy folder and stops reporting the old one', async () => {
    await writeFile(file, 'a: 1\n');
    const [oldDir, newDir] = [join(dir, 'old'), join(dir, 'new')];
    await mkdir(oldDir);
    await mkdir(newDir);
    await start({ dirs: [oldDir] });
    await watch.retarget({ files: [file], dirs: [newDir] });
    await writeFile(join(oldDir, 'x.yaml'), 'rules: []\n');
    // The old folder may be watched no more, so make an event that is surely seen: a touch.
    await utimes(file, new Date(2030, 0, 1), new Date(2030, 0, 1));
    await nextCheck();
    assert.equal(changes.length, 0);
    await writeFile(join(newDir, 'x.yaml'), 'rules: []\n');
    await changesReach(1);
    assert.deepEqual(changes, [[newDir]]);
  });
});

describe('createSerialReloader', { timeout: 30_000 }, () => {
  /** A run that counts how many are in progress at once and finishes when the test releases it. */
  function gatedRun() {
    let inFlight = 0;
    const state = { runs: 0, maxInFlight: 0, release: [] as (() => void)[], started: [] as (() => void)[] };
    let onStart: (() => void) | null = null;
    const run = async () => {
      state.runs++;
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      onStart?.();
      await new Promise<void>((r) => state.release.push(r));
      inFlight--;
    };
    const startedRuns = (n: number) => new Promise<void>((r) => {
      if (state.runs >= n) return r();
      onStart = () => state.runs >= n && r();
    });
    return { run, state, startedRuns, releaseNext: () => state.release.shift()!() };
  }

  test('a SIGHUP and a file change at once run one after the other, and the burst coalesces into one more run', async () => {
    const gate = gatedRun();
    const reloader = createSerialReloader(gate.run);
    const first = reloader.trigger(); // SIGHUP
    await gate.startedRuns(1);
    const during = [reloader.trigger(), reloader.trigger(), reloader.trigger()]; // the watcher, twice more
    assert.equal(gate.state.runs, 1, 'nothing starts while a run is in progress');
    gate.releaseNext();
    await first;
    await gate.startedRuns(2);
    assert.equal(gate.state.runs, 2);
    gate.releaseNext();
    await Promise.all(during);
    assert.equal(gate.state.runs, 2, 'three triggers during a run make exactly one more run');
    assert.equal(gate.state.maxInFlight, 1);
  });

  test('with the real watcher and a signal together, reloads never overlap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-watch-'));
    const file = join(dir, 'gatehouse.yaml');
    await writeFile(file, 'a: 0\n');
    const gate = gatedRun();
    const reloader = createSerialReloader(gate.run);
    const clock = manualScheduler();
    let changes = 0;
    const watch = await watchConfig({ files: [file], scheduler: clock.scheduler, persistent: true, onChange: () => void (changes++, reloader.trigger()) });
    try {
      const sighup = reloader.trigger();
      await gate.startedRuns(1);
      await writeFile(join(dir, 'tmp'), 'a: 1\n');
      await rename(join(dir, 'tmp'), file);
      await clock.until(() => changes === 1);
      assert.equal(gate.state.runs, 1, 'the watcher waits for the SIGHUP reload');
      gate.releaseNext();
      await sighup;
      await gate.startedRuns(2);
      gate.releaseNext();
      assert.equal(gate.state.runs, 2);
      assert.equal(gate.state.maxInFlight, 1);
    } finally {
      watch.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a failed run rejects its triggers and the next trigger runs again', async () => {
    let calls = 0;
    const reloader = createSerialReloader(async () => {
      calls++;
      if (calls === 1) throw new Error('invalid config');
    });
    await assert.rejects(reloader.trigger(), /invalid config/);
    await reloader.trigger();
    assert.equal(calls, 2);
  });
});
