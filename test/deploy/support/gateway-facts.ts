/**
 * What the gateway itself reads and how, taken from its source and its own loader, so the
 * deployment files are checked against the code rather than against a copy of its settings.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { interpolateEnv, parseConfig } from '../../../src/config/load.ts';
import { configSchema, type GatewayConfig } from '../../../src/config/schema.ts';
import { compileMaskingProfiles, DEFAULT_PROFILES } from '../../../src/masking/index.ts';
import { checkPolicy, formatProblem, loadPolicy } from '../../../src/policy/index.ts';
import { parseDuration } from '../../../src/util/durations.ts';

/**
 * The drain time the gateway uses when `shutdown.drainTimeout` is not set: the schema's default, or
 * 20 s, the documented default, while the schema has no such key.
 */
export const DEFAULT_DRAIN_MS = (configSchema.parse({}) as { shutdown?: { drainTimeout?: number } }).shutdown?.drainTimeout ?? 20_000;

/** The settings every replica must get from a secret, never from a file. */
export const SECRET_ENV = ['GATEHOUSE_DATABASE_URL', 'GATEHOUSE_MASTER_KEY', 'GATEHOUSE_ADMIN_TOKEN'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Every GATEHOUSE_* name the code under src/ mentions. */
export function gatewayEnvNames(): ReadonlySet<string> {
  const names = new Set<string>();
  for (const file of sourceFiles('src')) for (const [name] of readFileSync(file, 'utf8').matchAll(/GATEHOUSE_[A-Z0-9_]+/g)) names.add(name);
  return names;
}

/** The `${NAME}` references of a config text, found by the loader's own interpolation. */
export function configEnvRefs(text: string): string[] {
  const names = new Set<string>();
  interpolateEnv(YAML.parse(text) ?? {}, {}, (_path, name) => names.add(name));
  return [...names].sort();
}

/** shutdown.drainTimeout as the config text sets it (read raw, so it works before and after the schema knows it). */
export function drainTimeoutMs(text: string): number {
  const raw = (YAML.parse(text) as { shutdown?: { drainTimeout?: unknown } } | null)?.shutdown?.drainTimeout;
  return typeof raw === 'string' ? parseDuration(raw) : DEFAULT_DRAIN_MS;
}

export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly problems: string[];
}

/**
 * What `gatehouse start` does with a config file at `path` inside the container: parse and
 * validate it, then compile masking and the policy, reading policy.dir from `files` (container
 * path → text), the folders the deployment mounts. Problems are returned, not thrown.
 */
export function loadLikeStart(path: string, text: string, env: NodeJS.ProcessEnv, files: Readonly<Record<string, string>> = {}): Promise<LoadedConfig | { config: null; problems: string[] }> {
  // Many cases load the same config; compiling policy and masking is what takes the time.
  const key = JSON.stringify([path, text, env, files]);
  let loaded = loads.get(key);
  if (!loaded) loads.set(key, (loaded = loadUncached(path, text, env, files)));
  return loaded;
}

const loads = new Map<string, Promise<LoadedConfig | { config: null; problems: string[] }>>();

async function loadUncached(path: string, text: string, env: NodeJS.ProcessEnv, files: Readonly<Record<string, string>>): Promise<LoadedConfig | { config: null; problems: string[] }> {
  let config: GatewayConfig;
  try {
    config = parseConfig(text, path, env);
  } catch (err) {
    return { config: null, problems: [(err as Error).message] };
  }
  const root = await mkdtemp(join(tmpdir(), 'gatehouse-deploy-config-'));
  try {
    for (const [file, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, file)), { recursive: true });
      await writeFile(join(root, file), content);
    }
    const problems: string[] = [];
    if (config.policy.dir) {
      const dir = posix.resolve(posix.dirname(path), config.policy.dir);
      if (!Object.keys(files).some((file) => posix.dirname(file) === dir)) problems.push(`${path}: policy.dir resolves to ${dir}, where nothing is mounted`);
      await mkdir(join(root, dir), { recursive: true });
    }
    const masking = compileMaskingProfiles({ ...config.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config.masking?.profiles } }, randomBytes(32));
    try {
      await loadPolicy(config.policy, { baseDir: join(root, posix.dirname(path)), knownMaskProfiles: masking.names });
    } catch (err) {
      problems.push(`${path}: policy: ${(err as Error).message}`);
    }
    const check = checkPolicy(config.policy, { knownMaskProfiles: masking.names });
    for (const error of check.errors) problems.push(`${path}: policy: ${formatProblem(error)}`);
    return { config, problems };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Placeholder values that pass the gateway's own format checks, for names a deployment sets from secrets. */
export function placeholderEnv(names: Iterable<string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of names) {
    env[name] =
      name === 'GATEHOUSE_DATABASE_URL'
        ? 'postgres://gatehouse:placeholder@postgres:5432/gatehouse'
        : name === 'GATEHOUSE_MASTER_KEY'
          ? '0'.repeat(64)
          : name === 'GATEHOUSE_ADMIN_TOKEN'
            ? `gta_${'0'.repeat(48)}`
            : `placeholder-${name.toLowerCase()}`;
  }
  return env;
}

/** A listener address the Service or load balancer can reach (not loopback). */
export const reachableHost = (host: string) => host === '0.0.0.0' || host === '::';
