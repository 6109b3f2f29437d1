/**
 * Every server a benchmark measures runs in a process of its own, so each one's CPU time and
 * memory are its own and the load generator in the parent process is the only thing they share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Base URL the child reported once it was listening. */
  readonly url: string;
  readonly process: ChildProcess;
  /** Peak resident set size so far (VmHWM), in MiB. */
  peakRssMiB(): Promise<number>;
  /** The last lines the child wrote, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  readonly name: string;
  /** Arguments for `node`, the script first. */
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Finds the listening URL in a line of the child's output. */
  readonly urlFrom: RegExp;
  readonly ipc?: boolean;
  readonly startTimeoutMs?: number;
}

const TAIL_LINES = 40;

/** Children still running: killed when this process ends, however it ends, so none outlives a stopped benchmark. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));

export async function readPeakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
}

/** Starts `node …args` and resolves once a line of its output names the URL it listens on. */
export async function launch(options: LaunchOptions): Promise<Child> {
  const child = spawn(process.execPath, [...options.args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])],
  });
  live.add(child);
  const tail: string[] = [];
  let exited = false;
  const exit = once(child, 'exit').then(() => {
    exited = true;
    live.delete(child);
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${tail.join('\n')}`)), options.startTimeoutMs ?? 30_000);
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        const found = options.urlFrom.exec(line)?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with ${child.exitCode ?? child.signalCode} before listening:\n${tail.join('\n')}`));
    });
  });

  return {
    name: options.name,
    pid: child.pid!,
    url,
    process: child,
    peakRssMiB: () => readPeakRssMiB(child.pid!),
    output: () => tail.join('\n'),
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(killer);
    },
  };
}

/** Stops every child, each by its own pid, whatever happened to the others. */
export async function stopAll(children: readonly (Child | null | undefined)[]): Promise<void> {
  await Promise.allSettled(children.filter((c): c is Child => !!c).map((c) => c.stop()));
}
