/**
 * A gateway replica as users run one: `gatehouse start` in its own process, so that several share
 * one PostgreSQL store and one can be killed for real. Resolves once the start banner is printed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface ReplicaProcess {
  /** http://127.0.0.1:<port>, the data plane and the admin API. */
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Ends the process with the signal and waits for it to exit; returns the exit code (null for a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startReplica(configFile: string, env: NodeJS.ProcessEnv): Promise<ReplicaProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', configFile], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /data plane: (http:\/\/[^/\s]+)\/proxy/.exec(out);
      if (match) {
        child.stderr.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`gateway exited before it was up (${code}):\n${out}`)));
  });
  return {
    url,
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
