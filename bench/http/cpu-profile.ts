/**
 * Reads a V8 CPU profile (node --cpu-prof) and says where a process spent its busy time: by
 * function (self time) and by part of the code base (inclusive: a sample counts for a part
 * when any frame of its stack is in it). Idle samples are left out of every share; `(program)`
 * (native work outside JavaScript, such as socket writes) and the garbage collector are busy time.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './children.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** µs on the monotonic clock, as process.hrtime reads it. */
  readonly startTime: number;
  readonly timeDeltas: readonly number[];
}

export interface Share {
  readonly name: string;
  /** Fraction of busy samples. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly busySamples: number;
  /** Self time by function, largest first. */
  readonly functions: readonly Share[];
  /** Inclusive time by function, largest first. */
  readonly inclusiveFunctions: readonly Share[];
  /** Inclusive time of each named part. */
  readonly parts: readonly Share[];
}

/**
 * Where a frame's code lives: a file under src/ (compiled dist/x.js is named as its source
 * src/x.ts), a package, a node: module, or V8's own bucket.
 */
export function codeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const path = url.replace(/^file:\/\//, '').replace(REPO_ROOT, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  return pkg ?? path.replace(/^dist\/(.+)\.js$/, 'src/$1.ts');
}

/**
 * The main thread's profile in a --cpu-prof-dir: there is one per thread (worker threads, tsx's
 * loader hooks), named CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile, the main thread being 0.
 */
export async function mainThreadProfile(dir: string): Promise<string> {
  const file = (await readdir(dir)).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (!file) throw new Error(`no main-thread CPU profile in ${dir}`);
  return join(dir, file);
}

/** Code that records: the recorder, the store and the database drivers. */
export function isRecording(code: string): boolean {
  return /^src\/(audit|store)\//.test(code) || code === 'better-sqlite3' || /^pg(-|$)/.test(code);
}

/** "name  place"; line numbers only outside src/, whose profiled code is the compiled dist/. */
function functionKey(frame: ProfileNode['callFrame']): string {
  const code = codeOf(frame.url, frame.functionName);
  if (!frame.url) return code;
  return `${frame.functionName || '(anonymous)'}  ${code}${code.startsWith('src/') ? '' : `:${frame.lineNumber + 1}`}`;
}

/**
 * `parts` maps a label to a test on the code location of a frame (see codeOf), e.g.
 * `{ recording: (code) => code.startsWith('src/audit/') }`.
 */
export async function summarizeProfile(
  file: string,
  parts: Readonly<Record<string, (code: string) => boolean>>,
  /** Leaves out samples taken before this time (µs, process.hrtime's clock): start-up, warm-up. */
  sinceUs = 0,
): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const inclusive = new Map<string, number>(Object.keys(parts).map((k) => [k, 0]));
  let busy = 0;
  let time = profile.startTime;
  for (const [at, id] of profile.samples.entries()) {
    time += profile.timeDeltas[at] ?? 0;
    if (time < sinceUs) continue;
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    busy++;
    const leafKey = functionKey(leaf.callFrame);
    self.set(leafKey, (self.get(leafKey) ?? 0) + 1);
    const hit = new Set<string>();
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      onStack.add(functionKey(f));
      const where = codeOf(f.url, f.functionName);
      for (const [label, test] of Object.entries(parts)) if (test(where)) hit.add(label);
    }
    for (const label of hit) inclusive.set(label, inclusive.get(label)! + 1);
    for (const key of onStack) total.set(key, (total.get(key) ?? 0) + 1);
  }
  const shares = (counts: Map<string, number>) =>
    [...counts].map(([name, n]) => ({ name, share: busy === 0 ? 0 : n / busy })).sort((a, b) => b.share - a.share);
  return { busySamples: busy, functions: shares(self), inclusiveFunctions: shares(total), parts: shares(inclusive) };
}
