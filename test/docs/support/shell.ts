/**
 * Runs documented shell snippets for real with bash. `gatehouse` and `npx gatehouse` resolve to
 * this checkout's bin/gatehouse.js (what `npx gatehouse` runs once the package is installed), so no
 * snippet reaches a package registry. Placeholders are replaced only through `substitute`, which
 * fails when one is no longer in the snippet, so the substitutions stay visible and current.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ShellResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const BIN = resolve('bin/gatehouse.js');

/** A folder for PATH holding the `gatehouse` and `npx` shims (and a scratch HOME beside them). */
export async function makeShims(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-docs-sh-'));
  const gatehouse = join(dir, 'gatehouse');
  const npx = join(dir, 'npx');
  await writeFile(gatehouse, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  // Only `npx gatehouse` is documented; anything else would go to the registry, so it fails loudly.
  await writeFile(npx, `#!/bin/sh\n[ "$1" = gatehouse ] || { echo "npx shim: only 'npx gatehouse' runs in doc tests" >&2; exit 127; }\nshift\nexec "${gatehouse}" "$@"\n`);
  await chmod(gatehouse, 0o755);
  await chmod(npx, 0o755);
  return dir;
}

/**
 * The environment a reader's shell would have, without the developer's own GATEHOUSE_* settings or
 * saved login (HOME and XDG_CONFIG_HOME point at the scratch folder).
 */
export function shellEnv(shims: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GATEHOUSE_') && key !== 'NODE_ENV') env[key] = value;
  return { ...env, PATH: `${shims}:${process.env.PATH ?? ''}`, HOME: shims, XDG_CONFIG_HOME: join(shims, '.config'), ...extra };
}

export function runBash(script: string, options: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<ShellResult> {
  const child = spawn('bash', ['-c', script], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

/** One entry per command: `\`-continued lines joined; blank and comment-only lines dropped. */
export function commandsOf(text: string): string[] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  return joined.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** Replaces each placeholder; one that no longer occurs is an error, so a stale substitution shows. */
export function substitute(text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`placeholder ${JSON.stringify(from)} not found in: ${text}`);
    out = out.split(from).join(to);
  }
  return out;
}

/** For assertion messages: everything a failed command said. */
export function describe(command: string, result: ShellResult): string {
  return `$ ${command}\nexit ${result.code}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
}
