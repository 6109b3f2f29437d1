/**
 * docker-compose.yml and its HAProxy config, checked without Docker (which does not run where the
 * tests do): the file is read as Compose reads it (YAML merge keys, `${VAR}` interpolation from
 * .env), every file it mounts exists, each gateway's config loads and compiles as `gatehouse start`
 * would with the environment Compose gives it, the replicas share one store and the same secrets,
 * and the load balancer's ports, servers and health checks are the replicas' listeners.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { configEnvRefs, drainTimeoutMs, gatewayEnvNames, loadLikeStart, reachableHost, SECRET_ENV } from './gateway-facts.ts';
import { parseDuration } from '../../../src/util/durations.ts';

export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { context: string };
  readonly profiles?: string[];
  readonly environment?: Record<string, string>;
  readonly volumes?: string[];
  readonly ports?: string[];
  readonly depends_on?: Record<string, { condition: string }>;
  readonly healthcheck?: { test: string[] };
  readonly stop_grace_period?: string;
  readonly command?: string[];
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly [key: string]: unknown;
}

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\{[^}]*\}|\$[A-Za-z_]/g;

/**
 * Compose's interpolation of one value: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}` and `$$`. Any other form throws, so the file cannot start using
 * syntax this check does not understand.
 */
export function interpolate(value: string, env: Readonly<Record<string, string | undefined>>, where: string): string {
  return value.replace(REF, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    if (name === undefined) throw new Error(`${where}: ${whole}: interpolation this check does not understand`);
    const found = env[name];
    const unset = op?.startsWith(':') ? found === undefined || found === '' : found === undefined;
    if (op?.endsWith('?') && unset) throw new Error(`${where}: ${arg || `${name} is not set`}`);
    if (op?.endsWith('-') && unset) return arg ?? '';
    return found ?? '';
  });
}

/** Every variable name the file interpolates, and which of them it requires (`:?`). */
export function composeVariables(text: string): { names: string[]; required: string[] } {
  const names = new Set<string>();
  const required = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    for (const m of line.matchAll(REF)) {
      if (!m[1]) continue;
      names.add(m[1]);
      if (m[2] === ':?' || m[2] === '?') required.add(m[1]);
    }
  }
  return { names: [...names].sort(), required: [...required].sort() };
}

function interpolateAll(value: unknown, env: Readonly<Record<string, string | undefined>>, where: string): unknown {
  if (typeof value === 'string') return interpolate(value, env, where);
  if (Array.isArray(value)) return value.map((item, i) => interpolateAll(item, env, `${where}[${i}]`));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env, `${where}.${k}`)]));
  return value;
}

/** The file as Compose sees it with this .env: merge keys applied, `x-` extension fields dropped. */
export function loadCompose(text: string, env: Readonly<Record<string, string | undefined>>): ComposeFile {
  const doc = YAML.parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) throw new Error(`docker-compose.yml: ${doc.errors[0]!.message}`);
  const raw = doc.toJS() as Record<string, unknown>;
  const kept = Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith('x-')));
  return interpolateAll(kept, env, 'docker-compose.yml') as ComposeFile;
}

export interface HaproxySection {
  readonly kind: string;
  readonly name: string;
  readonly lines: readonly string[][];
}

const SECTION_KINDS = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers']);

/** HAProxy's config as sections of tokenised lines (comments dropped). */
export function parseHaproxy(text: string): HaproxySection[] {
  const sections: { kind: string; name: string; lines: string[][] }[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    if (!/^\s/.test(raw)) {
      if (!SECTION_KINDS.has(words[0]!)) throw new Error(`haproxy.cfg:${i + 1}: "${words[0]}" is not a section this check knows`);
      sections.push({ kind: words[0]!, name: words[1] ?? '', lines: [] });
    } else {
      if (sections.length === 0) throw new Error(`haproxy.cfg:${i + 1}: a directive before any section`);
      sections.at(-1)!.lines.push(words);
    }
  }
  return sections;
}

const directive = (section: HaproxySection, ...words: string[]) => section.lines.find((l) => words.every((w, i) => l[i] === w));

/** `[host_ip:]host_port:container_port` */
function parsePort(spec: string): { hostIp: string | null; hostPort: number; containerPort: number } {
  const parts = spec.split(':');
  const containerPort = Number(parts.at(-1));
  const hostPort = Number(parts.at(-2));
  return { hostIp: parts.length === 3 ? parts[0]! : null, hostPort, containerPort };
}

/** `source:target[:ro]` for bind mounts (a source starting with `.` or `/`); named volumes are skipped. */
function bindMounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source!.startsWith('.') || source!.startsWith('/'))
    .map(([source, target]) => ({ source: source!, target: target! }));
}

function dockerfileCmd(dockerfile: string): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith('CMD '));
  if (!line) throw new Error('Dockerfile has no CMD');
  return JSON.parse(line.slice(4)) as string[];
}

export interface ComposeInputs {
  readonly compose: ComposeFile;
  readonly haproxyText?: string;
  /** The repository root the file's relative paths are resolved from. */
  readonly root: string;
}

/** Problems of the compose setup; [] when it would run as documented. */
export async function checkCompose({ compose, haproxyText, root }: ComposeInputs): Promise<string[]> {
  const problems: string[] = [];
  const services = compose.services ?? {};
  const isGateway = (s: ComposeService) => s.build !== undefined || s.image === 'gatehouse:local';
  const gateways = Object.entries(services).filter(([, s]) => isGateway(s));
  const replicas = gateways.filter(([, s]) => !s.profiles || s.profiles.length === 0);
  const single = gateways.filter(([, s]) => s.profiles?.includes('single'));
  if (replicas.length < 2) problems.push(`${replicas.length} gateway replica(s) start by default; expected 2 or more`);
  if (single.length !== 1) problems.push(`expected one gateway in the "single" profile, found ${single.length}`);
  const postgresEntry = Object.entries(services).find(([, s]) => s.image?.startsWith('postgres:'));
  const lbEntry = Object.entries(services).find(([, s]) => s.image?.startsWith('haproxy:'));
  if (!postgresEntry) return [...problems, 'no PostgreSQL service'];
  if (!lbEntry) problems.push('no HAProxy service');

  // Files the services use.
  for (const [name, s] of Object.entries(services)) {
    const context = typeof s.build === 'string' ? s.build : s.build?.context;
    if (context !== undefined && !existsSync(join(root, context, 'Dockerfile'))) problems.push(`${name}: build context ${context} has no Dockerfile`);
    for (const { source } of bindMounts(s)) if (!existsSync(join(root, source))) problems.push(`${name}: mounts ${source}, which does not exist`);
  }

  const known = gatewayEnvNames();
  const [pgName, pg] = postgresEntry;
  const pgEnv = pg.environment ?? {};
  const cmd = dockerfileCmd(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const listeners = new Map<string, { http: number; postgres: number | null; configSource: string }>();
  for (const [name, s] of gateways) {
    const env = s.environment ?? {};
    for (const key of Object.keys(env)) if (key.startsWith('GATEHOUSE_') && !known.has(key)) problems.push(`${name}: ${key}: the gateway reads no such variable`);
    for (const key of SECRET_ENV) if (!env[key]) problems.push(`${name}: ${key} is not set`);
    const dependency = s.depends_on?.[pgName];
    if (dependency?.condition !== 'service_healthy') problems.push(`${name}: does not wait for ${pgName} to be healthy`);
    // The store: the compose PostgreSQL, as its own user and database.
    const url = env.GATEHOUSE_DATABASE_URL ? new URL(env.GATEHOUSE_DATABASE_URL) : null;
    if (url && (url.hostname !== pgName || url.port !== '5432' || url.username !== pgEnv.POSTGRES_USER || decodeURIComponent(url.password) !== pgEnv.POSTGRES_PASSWORD || url.pathname !== `/${pgEnv.POSTGRES_DB}`)) {
      problems.push(`${name}: GATEHOUSE_DATABASE_URL is not the ${pgName} service's database, user and password`);
    }
    // The config file the image's CMD (or the service's command) names, mounted from the repository.
    const args = s.command ?? cmd;
    const configPath = args[0] === 'start' && args[1] === '--config' ? args[2] : undefined;
    const mount = bindMounts(s).find((m) => m.target === configPath);
    if (!configPath || !mount) {
      problems.push(`${name}: no file is mounted at the config path ${configPath ?? '(none in the command)'}`);
      continue;
    }
    if (!existsSync(join(root, mount.source))) continue;
    const text = readFileSync(join(root, mount.source), 'utf8');
    for (const ref of configEnvRefs(text)) if (env[ref] === undefined) problems.push(`${name}: ${mount.source} references \${${ref}}, which the service's environment does not set`);
    const loaded = await loadLikeStart(configPath, text, env);
    problems.push(...loaded.problems.map((p) => `${name}: ${p}`));
    const config = loaded.config;
    if (!config) continue;
    if (!reachableHost(config.http.listen.host)) problems.push(`${name}: http.listen is ${config.http.listen.host}, unreachable from other containers`);
    const pgListen = config.postgres.listen ?? null;
    if (pgListen && !reachableHost(pgListen.host)) problems.push(`${name}: postgres.listen is ${pgListen.host}, unreachable from other containers`);
    listeners.set(name, { http: config.http.listen.port, postgres: pgListen?.port ?? null, configSource: mount.source });
    // Shutdown: Compose must wait longer than the gateway drains.
    const grace = s.stop_grace_period ? parseDuration(s.stop_grace_period) : 10_000;
    const drain = drainTimeoutMs(text);
    if (grace <= drain) problems.push(`${name}: stop_grace_period ${grace / 1000}s is not above shutdown.drainTimeout ${drain / 1000}s: Docker would kill the gateway mid-drain`);
    const isReplica = replicas.some(([n]) => n === name);
    if (isReplica) {
      const test = (s.healthcheck?.test ?? []).join(' ');
      if (!test.includes(`http://127.0.0.1:${config.http.listen.port}/readyz`)) problems.push(`${name}: its healthcheck does not ask /readyz on port ${config.http.listen.port}`);
      if (pgListen && !config.postgres.tls && !config.postgres.allowCleartextOverNetwork) problems.push(`${name}: the PostgreSQL listener refuses tokens from the load balancer (neither postgres.tls nor allowCleartextOverNetwork)`);
    } else {
      // The single gateway is reached directly: its HTTP port published on the host's loopback.
      const published = (s.ports ?? []).map(parsePort);
      if (!published.some((p) => p.containerPort === config.http.listen.port && p.hostIp === '127.0.0.1')) problems.push(`${name}: publishes no 127.0.0.1 port to its HTTP listener ${config.http.listen.port}`);
    }
  }

  // Replicas: one store, one master key, one admin token, one config.
  for (const key of SECRET_ENV) {
    const values = new Set(replicas.map(([, s]) => s.environment?.[key]));
    if (values.size > 1) problems.push(`the replicas get different ${key} values`);
  }
  if (new Set(replicas.map(([n]) => listeners.get(n)?.configSource)).size > 1) problems.push('the replicas read different config files');

  if (lbEntry && haproxyText !== undefined) problems.push(...checkHaproxy(lbEntry, replicas.map(([n]) => n), listeners, services, haproxyText));
  return problems;
}

function checkHaproxy(
  [lbName, lb]: [string, ComposeService],
  replicaNames: readonly string[],
  listeners: ReadonlyMap<string, { http: number; postgres: number | null }>,
  services: Record<string, ComposeService>,
  text: string,
): string[] {
  const problems: string[] = [];
  if (!bindMounts(lb).some((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg')) problems.push(`${lbName}: the HAProxy config is not mounted where the official image reads it`);
  for (const name of replicaNames) if (lb.depends_on?.[name]?.condition !== 'service_healthy') problems.push(`${lbName}: does not wait for ${name} to be healthy`);
  let sections: HaproxySection[];
  try {
    sections = parseHaproxy(text);
  } catch (err) {
    return [...problems, (err as Error).message];
  }
  const published = (lb.ports ?? []).map(parsePort);
  for (const p of published) if (p.hostIp !== '127.0.0.1') problems.push(`${lbName}: publishes ${p.hostPort} beyond the host's loopback`);
  const frontends = sections.filter((s) => s.kind === 'frontend');
  const boundPorts = new Set<number>();
  for (const frontend of frontends) {
    const where = `haproxy.cfg frontend ${frontend.name}`;
    const bind = directive(frontend, 'bind');
    const port = Number(bind?.[1]?.split(':').at(-1));
    boundPorts.add(port);
    if (!published.some((p) => p.containerPort === port)) problems.push(`${where}: binds ${port}, which ${lbName} does not publish`);
    const mode = directive(frontend, 'mode')?.[1];
    const backendName = directive(frontend, 'default_backend')?.[1];
    const backend = sections.find((s) => s.kind === 'backend' && s.name === backendName);
    if (!backend) {
      problems.push(`${where}: default_backend ${backendName} does not exist`);
      continue;
    }
    if (directive(backend, 'mode')?.[1] !== mode) problems.push(`${where}: mode ${mode}, but backend ${backend.name} has another`);
    if (mode === 'http') {
      const forwardfor = frontend.lines.findIndex((l) => l[0] === 'option' && l[1] === 'forwardfor');
      const cleared = frontend.lines.findIndex((l) => l.join(' ').toLowerCase() === 'http-request del-header x-forwarded-for');
      if (forwardfor >= 0 && !(cleared >= 0 && cleared < forwardfor)) problems.push(`${where}: a client's own X-Forwarded-For reaches the gateway, which trusts its first entry`);
    }
    problems.push(...checkBackend(backend, mode, replicaNames, listeners, services));
  }
  for (const p of published) if (!boundPorts.has(p.containerPort)) problems.push(`${lbName}: publishes ${p.containerPort}, where no frontend listens`);
  return problems;
}

function checkBackend(
  backend: HaproxySection,
  mode: string | undefined,
  replicaNames: readonly string[],
  listeners: ReadonlyMap<string, { http: number; postgres: number | null }>,
  services: Record<string, ComposeService>,
): string[] {
  const problems: string[] = [];
  const where = `haproxy.cfg backend ${backend.name}`;
  const check = directive(backend, 'option', 'httpchk');
  if (check?.[2] !== 'GET' || check[3] !== '/readyz') problems.push(`${where}: health is not GET /readyz`);
  const servers = backend.lines.filter((l) => l[0] === 'server');
  const names = servers.map((l) => l[1]!);
  for (const replica of replicaNames) if (!names.includes(replica)) problems.push(`${where}: replica ${replica} is not a server`);
  for (const server of servers) {
    const [host, portText] = server[2]!.split(':');
    const listener = listeners.get(host!);
    if (!services[host!] || !listener) {
      problems.push(`${where}: server ${server[1]} points at ${host}, which is no gateway service`);
      continue;
    }
    const expected = mode === 'http' ? listener.http : listener.postgres;
    if (Number(portText) !== expected) problems.push(`${where}: server ${server[1]} uses port ${portText}, but ${host} listens on ${expected ?? 'no such port'}`);
    if (!server.includes('check')) problems.push(`${where}: server ${server[1]} is never health-checked`);
    // Outside HTTP mode the check must go to the HTTP listener, where /readyz is.
    const checkPort = server.includes('port') ? Number(server[server.indexOf('port') + 1]) : Number(portText);
    if (checkPort !== listener.http) problems.push(`${where}: server ${server[1]} checks port ${checkPort}, but /readyz is on ${listener.http}`);
  }
  return problems;
}
