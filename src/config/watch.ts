import { createHash } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createSerialReloader } from './serial-reloader.ts';

/**
 * Follows the config file and the policy folder across every way they get replaced: in-place
 * writes, rename-over saves (vim, `sed -i`), delete and recreate, and Kubernetes ConfigMap updates,
 * which swap a `..data` symlink to a new timestamped folder.
 *
 * A watch on the file itself follows its inode, so it goes quiet after the first rename-over save.
 * Instead the folders that hold the paths (and their resolved targets) are watched, any event there
 * schedules one debounced check, and the check decides by content: it hashes what each path
 * resolves to now and compares with what it saw last. So a touch, a save of the same bytes or a
 * swap to identical content reloads nothing, and a path that is briefly absent (mid-swap, mid-save)
 * is simply waited for.
 */

/** Runs a task later; returns a function that cancels it. Tests inject one that runs on demand. */
export interface WatchScheduler {
  schedule(task: () => Promise<void>, delayMs: number): () => void;
}

export const timerScheduler: WatchScheduler = {
  schedule(task, delayMs) {
    const timer = setTimeout(() => void task(), delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface WatchTargets {
  /** Files whose content matters (the config file); followed through symlinks. */
  readonly files: readonly string[];
  /** Folders whose `*.yaml` / `*.yml` files matter (the policy folder). */
  readonly dirs?: readonly string[];
}

export interface ConfigWatchOptions extends WatchTargets {
  /** Called with the paths whose content changed; not called again until it returns. */
  readonly onChange: (changed: readonly string[]) => void | Promise<void>;
  /** Editors write in several steps; one check after they settle. */
  readonly debounceMs?: number;
  /** Events that never stop (a log file beside the config) still get a check this soon. */
  readonly maxWaitMs?: number;
  readonly scheduler?: WatchScheduler;
  /** Keep the process alive while watching (tests wait on nothing else); the gateway's listeners do that in production. */
  readonly persistent?: boolean;
  /** A folder that cannot be watched right now (it is retried on every check). */
  readonly onWatchError?: (err: Error, dir: string) => void;
}

export interface ConfigWatch {
  /** Compares content now; calls onChange when something changed and returns what did. */
  check(): Promise<readonly string[]>;
  /** Follows other paths from now on (policy.dir changed on reload); their current content is the baseline. */
  retarget(targets: WatchTargets): Promise<void>;
  close(): void;
}

const RULE_FILE = /\.ya?ml$/;
const DEFAULT_DEBOUNCE_MS = 200;
const DEFAULT_MAX_WAIT_MS = 1_000;

/** Whether an entry name in a watched folder can affect a target. */
type Relevant = (name: string) => boolean;

/** A digest of what the path resolves to now, or null when it is absent. */
async function fingerprintFile(path: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}

/** Names and contents of a folder's rule files (symlinked ones too, as ConfigMap mounts make them). */
async function fingerprintDir(dir: string): Promise<string | null> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => RULE_FILE.test(name) && !name.startsWith('..')).sort();
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
  const hash = createHash('sha256');
  for (const name of names) {
    const path = join(dir, name);
    const isFile = await stat(path).then((s) => s.isFile(), () => false);
    const digest = isFile ? await fingerprintFile(path) : null;
    if (digest !== null) hash.update(`${name}\0${digest}\0`);
  }
  return hash.digest('hex');
}

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function resolved(path: string): Promise<string | null> {
  return realpath(path).catch(() => null);
}

export async function watchConfig(options: ConfigWatchOptions): Promise<ConfigWatch> {
  const scheduler = options.scheduler ?? timerScheduler;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  let files = options.files.map((f) => resolve(f));
  let dirs = (options.dirs ?? []).map((d) => resolve(d));
  const seen = new Map<string, string | null>();
  const watchers = new Map<string, FSWatcher>();
  let cancelQuiet: (() => void) | null = null;
  let cancelDeadline: (() => void) | null = null;
  let closed = false;

  const fingerprint = (path: string) => (dirs.includes(path) ? fingerprintDir(path) : fingerprintFile(path));

  /**
   * The folders whose entries can change what a target resolves to, each with the entry names that
   * matter there. Other names are ignored, so a busy neighbour (a SQLite journal beside the config
   * file) cannot keep postponing the check. Names starting with `..` are the kubelet's.
   */
  async function foldersToWatch(): Promise<Map<string, Relevant[]>> {
    const wanted = new Map<string, Relevant[]>();
    const add = (dir: string, relevant: Relevant) => wanted.set(dir, [...(wanted.get(dir) ?? []), relevant]);
    const named = (path: string): Relevant => (name) => name === basename(path) || name.startsWith('..');
    const ruleFiles: Relevant = (name) => RULE_FILE.test(name) || name.startsWith('..');
    for (const file of files) {
      add(dirname(file), named(file));
      const target = await resolved(file);
      if (target !== null) add(dirname(target), named(target));
    }
    for (const dir of dirs) {
      add(dir, ruleFiles);
      // The parent sees the folder itself being created, renamed or swapped.
      add(dirname(dir), named(dir));
      const target = await resolved(dir);
      if (target !== null) add(target, ruleFiles);
    }
    return wanted;
  }

  /**
   * Debounced, so an editor's several writes make one check, but never postponed past `maxWaitMs`
   * from the first event: whichever of the two tasks runs first checks and cancels the other.
   */
  function onEvent(): void {
    if (closed) return;
    cancelQuiet?.();
    const fire = () => {
      cancelQuiet?.();
      cancelDeadline?.();
      cancelQuiet = cancelDeadline = null;
      return checks.trigger().catch(() => undefined);
    };
    cancelQuiet = scheduler.schedule(fire, debounceMs);
    cancelDeadline ??= scheduler.schedule(fire, maxWaitMs);
  }

  const relevantNames = new Map<string, Relevant[]>();

  async function arm(): Promise<void> {
    const wanted = await foldersToWatch();
    if (closed) return;
    for (const [dir, watcher] of watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    relevantNames.clear();
    for (const [dir, relevant] of wanted) {
      relevantNames.set(dir, relevant);
      if (watchers.has(dir)) continue;
      try {
        const watcher = fsWatch(dir, { persistent: options.persistent ?? false }, (_event, name) => {
          // Some platforms give no name: then any event counts.
          if (name === null || relevantNames.get(dir)?.some((matches) => matches(String(name)))) onEvent();
        });
        watcher.on('error', (err) => {
          // The folder went away (an old ConfigMap generation): drop it; the next check re-arms.
          watcher.close();
          if (watchers.get(dir) === watcher) watchers.delete(dir);
          options.onWatchError?.(err, dir);
          onEvent();
        });
        watchers.set(dir, watcher);
      } catch (err) {
        options.onWatchError?.(err as Error, dir);
      }
    }
  }

  let lastChanged: readonly string[] = [];
  // Checks run one at a time, so two never compare against a half-updated `seen`.
  const checks = createSerialReloader(async () => {
    const changed: string[] = [];
    for (const path of [...files, ...dirs]) {
      const now = await fingerprint(path);
      // Absent is not a change: mid-swap or mid-save the path comes back, and is compared then.
      if (now === null || now === seen.get(path)) continue;
      changed.push(path);
      seen.set(path, now);
    }
    await arm();
    lastChanged = changed;
    if (changed.length > 0 && !closed) await options.onChange(changed);
  });

  async function baseline(): Promise<void> {
    for (const path of [...files, ...dirs]) if (!seen.has(path)) seen.set(path, await fingerprint(path));
  }

  await baseline();
  await arm();

  return {
    async check() {
      await checks.trigger();
      return lastChanged;
    },
    async retarget(targets) {
      files = targets.files.map((f) => resolve(f));
      dirs = (targets.dirs ?? []).map((d) => resolve(d));
      for (const path of seen.keys()) if (!files.includes(path) && !dirs.includes(path)) seen.delete(path);
      await baseline();
      await arm();
    },
    close() {
      closed = true;
      cancelQuiet?.();
      cancelDeadline?.();
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
