/**
 * Benchmarks start Gatehouse as users do, through `bin/gatehouse.js`, which runs the compiled
 * dist/ when it is at least as new as src/ and otherwise the sources through tsx. The tsx path
 * costs about 35 MiB and a slower start-up, so a benchmark must never measure it unknowingly: dist/
 * is built first when it is stale, and a gateway that still says it runs through tsx is refused.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from './children.ts';

export const GATEHOUSE_BIN = 'bin/gatehouse.js';

/** What bin/gatehouse.js writes on stderr when it falls back to the sources. */
export const TSX_NOTICE = /sources run through tsx/;

/** Asks the bin itself which code it runs, so that its rule for "stale" lives in one place. */
async function binRunsSources(): Promise<boolean> {
  const child = spawn(process.execPath, [GATEHOUSE_BIN, '--help'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`node ${GATEHOUSE_BIN} --help exited with ${code}:\n${stderr}`);
  return TSX_NOTICE.test(stderr);
}

/**
 * Makes sure `node bin/gatehouse.js` runs dist/, building it if needed, and says which ran.
 * Checked at every start: src/ may change while a benchmark runs.
 */
export async function ensureCompiledGatehouse(say: (line: string) => void = console.log): Promise<void> {
  if (!(await binRunsSources())) {
    say(`Gatehouse runs compiled: node ${GATEHOUSE_BIN} → dist/ (up to date with src/)`);
    return;
  }
  say('dist/ is older than src/: building it (npm run build, about 30 s) so that Gatehouse is measured compiled, not through tsx');
  const build = await promisify(execFile)('npm', ['run', 'build'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }).then(
    () => null,
    (err: { stdout?: string; message: string }) => (err.stdout ?? err.message).trim(),
  );
  if (await binRunsSources()) {
    throw new Error(`refusing to measure Gatehouse through tsx: dist/ is still older than src/ after npm run build${build ? `:\n${build}` : ''}`);
  }
  // tsc emits even when it finds type errors (someone may be mid-edit): say so rather than hide it.
  const firstError = build?.split('\n').find((line) => /error TS/.test(line)) ?? build?.split('\n')[0];
  say(`Gatehouse runs compiled: node ${GATEHOUSE_BIN} → dist/, just built${firstError ? ` (tsc reported errors, e.g. ${firstError})` : ''}`);
}
