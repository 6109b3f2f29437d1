import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import type { CheckPolicyOptions, PolicyFile } from './analyze.ts';
import { compilePolicy } from './compile.ts';
import type { CompiledPolicy } from './engine.ts';

const RULE_FILE = /\.ya?ml$/;

/**
 * Reads every `*.yaml` / `*.yml` file of a policy folder in name order (code-unit order, so
 * `10-base.yaml` comes before `20-teams.yaml` on every platform). Each file holds `{ rules: [...] }`;
 * validation happens in checkPolicy / compilePolicy, which name the file in every problem.
 */
export async function loadPolicyFiles(dir: string): Promise<PolicyFile[]> {
  let names: string[];
  try {
    const entries = (await readdir(dir, { withFileTypes: true })).filter((entry) => RULE_FILE.test(entry.name));
    // A Kubernetes ConfigMap mounts each rule file as a symlink: one that leads to a file counts.
    const isRuleFile = await Promise.all(
      entries.map(async (entry) => entry.isFile() || (entry.isSymbolicLink() && (await stat(join(dir, entry.name)).then((s) => s.isFile(), () => false)))),
    );
    names = entries
      .filter((_entry, i) => isRuleFile[i])
      .map((entry) => entry.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    throw new ConfigError(`cannot read policy folder ${dir}: ${(err as Error).message}`, { cause: err, details: { dir } });
  }
  return Promise.all(
    names.map(async (name): Promise<PolicyFile> => {
      const file = join(dir, name);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read policy file ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
      }
      const doc = parseDocument(text);
      const [first] = doc.errors;
      if (first !== undefined) {
        throw new ConfigError(`${file}: invalid YAML: ${first.message}`, { cause: first, details: { file } });
      }
      return { file, content: doc.toJS() };
    }),
  );
}

export interface LoadPolicyOptions extends Omit<CheckPolicyOptions, 'files'> {
  /** Folder that a relative `policy.dir` is resolved against (the config file's folder). */
  readonly baseDir: string;
}

/** Reads `policy.dir` (if set) and compiles the whole policy; the usual `load` for a policy holder. */
export async function loadPolicy(config: unknown, options: LoadPolicyOptions): Promise<CompiledPolicy> {
  const dir = config !== null && typeof config === 'object' ? (config as { dir?: unknown }).dir : undefined;
  const files = typeof dir === 'string' && dir !== '' ? await loadPolicyFiles(resolve(options.baseDir, dir)) : [];
  return compilePolicy(config, { ...options, files });
}
