import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type GatewayConfig } from './schema.ts';

type Path = (string | number)[];

export interface ConfigProblem {
  readonly file: string;
  readonly line: number | null;
  readonly key: string;
  readonly message: string;
}

/** `connections[0].upstream` — how users find a key in their file. */
export function formatKey(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

function problemsToError(file: string, problems: ConfigProblem[]): ConfigError {
  const lines = problems.map((p) => `  ${file}${p.line ? `:${p.line}` : ''}: ${p.key}: ${p.message}`);
  return new ConfigError(`invalid configuration in ${file}:\n${lines.join('\n')}`, { details: { problems } });
}

const ENV_REF = /\$\$\{|\$\{file:([^}]+)\}|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Reads a `${file:…}` secret; the one trailing newline that `echo` and editors add is not part of it. */
export type SecretFileReader = (path: string) => string;

const readSecretFile: SecretFileReader = (path) => readFileSync(path, 'utf8').replace(/\r?\n$/, '');

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string value with the environment's value, and
 * `${file:/run/secrets/name}` with that file's content (Docker and Kubernetes secrets), so secrets
 * live outside the file. `$${` is a literal `${`.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  onMissing: (path: Path, name: string) => void,
  path: Path = [],
  readFileRef: SecretFileReader = readSecretFile,
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (whole, file: string | undefined, name: string | undefined, fallback: string | undefined) => {
      if (file !== undefined) {
        try {
          const content = readFileRef(file);
          if (content !== '') return content;
        } catch {
          // Reported below like an unset variable; the reason (no such file, no permission) is the file's.
        }
        onMissing(path, `file:${file}`);
        return whole;
      }
      if (name === undefined) return '${';
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      onMissing(path, name);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, onMissing, [...path, i], readFileRef));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolateEnv(item, env, onMissing, [...path, key], readFileRef);
    return out;
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** Parses and validates config text. Every problem names the file, the line and the key. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, readFileRef: SecretFileReader = readSecretFile): GatewayConfig {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw problemsToError(
      file,
      doc.errors.map((e) => ({
        file,
        line: lineCounter.linePos(e.pos[0]).line,
        key: '(syntax)',
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  const lineOf = (path: readonly PropertyKey[]): number | null => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as Path, true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return null;
  };

  const problems: ConfigProblem[] = [];
  const raw = interpolateEnv(doc.toJS() ?? {}, env, (path, name) =>
    problems.push({
      file,
      line: lineOf(path),
      key: formatKey(path),
      message: name.startsWith('file:') ? `secret file ${name.slice(5)} is missing, unreadable or empty` : `environment variable ${name} is not set`,
    }),
    [],
    readFileRef,
  );
  if (problems.length > 0) throw problemsToError(file, problems);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw problemsToError(
      file,
      result.error.issues.map((issue: z.core.$ZodIssue) => ({
        file,
        line: lineOf(issue.path),
        key: formatKey(issue.path),
        message: issue.message,
      })),
    );
  }
  return deepFreeze(result.data);
}

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError(`cannot read configuration ${file}: ${reason}`, { cause: err });
  }
  return parseConfig(text, file, env);
}
