/**
 * The four ways a benchmark reaches the same upstream: direct, through the bare proxy, through
 * Gatehouse (token check, policy, pii masking, recording) and through the Portkey gateway. Each
 * server is a child process; a Target says how to send a chat completion through it.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launch, type Child } from './children.ts';
import { ensureCompiledGatehouse, GATEHOUSE_BIN, TSX_NOTICE } from './compiled-gatehouse.ts';

export interface Target {
  readonly name: string;
  /** Full URL of the chat completions endpoint through this target. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The server process, when the target is a proxy. */
  readonly child: Child | null;
}

export const UPSTREAM_KEY = `sk-bench-${randomBytes(16).toString('hex')}`;
const CHAT_PATH = '/v1/chat/completions';

export interface Upstream extends Child {
  /** How many 2xx responses the upstream has finished since it started. */
  answered(): Promise<number>;
}

export async function startUpstream(): Promise<Upstream> {
  const child = await launch({
    name: 'upstream',
    args: ['--import', 'tsx', 'bench/http/upstream.ts'],
    env: { BENCH_UPSTREAM_KEY: UPSTREAM_KEY },
    urlFrom: /^upstream listening (\S+)/,
    ipc: true,
  });
  return {
    ...child,
    answered: () =>
      new Promise((resolve) => {
        child.process.once('message', (message) => resolve((message as { answered: number }).answered));
        child.process.send('answered');
      }),
  };
}

export function directTarget(upstream: Upstream): Target {
  return { name: 'direct', url: upstream.url + CHAT_PATH, headers: { authorization: `Bearer ${UPSTREAM_KEY}` }, child: null };
}

export async function startBareTarget(upstream: Upstream): Promise<Target> {
  const child = await launch({
    name: 'bare proxy',
    args: ['bench/http/bare-proxy.js', upstream.url],
    urlFrom: /^bare proxy listening (\S+)/,
  });
  return { name: 'bare proxy', url: child.url + CHAT_PATH, headers: { authorization: `Bearer ${UPSTREAM_KEY}` }, child };
}

export async function startPortkeyTarget(upstream: Upstream): Promise<Target> {
  const child = await launch({
    name: 'portkey',
    args: [
      '--import',
      'tsx',
      '--import',
      './bench/http/portkey-loopback.ts',
      'node_modules/@portkey-ai/gateway/build/start-server.js',
      '--port=0',
      '--headless',
    ],
    env: { NODE_ENV: 'production' },
    urlFrom: /portkey listening (\S+)/,
  });
  return {
    name: 'portkey',
    url: child.url + CHAT_PATH,
    headers: {
      authorization: `Bearer ${UPSTREAM_KEY}`,
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${upstream.url}/v1`,
    },
    child,
  };
}

export interface Gatehouse extends Child {
  /** Issues an agent token for the benchmark connection through the admin API; returns the secret and its id. */
  issueToken(name: string): Promise<{ token: string; id: string }>;
  /** GET on the admin API with the admin token. */
  api<T>(path: string): Promise<T>;
  /** A target that sends chat completions through Gatehouse with `token`. */
  target(name: string, token: string): Target;
}

export interface GatehouseOptions {
  readonly upstream: Upstream;
  /** Folder for the config file and the SQLite store. */
  readonly dir: string;
  /** Records to PostgreSQL instead of SQLite. */
  readonly databaseUrl?: string;
  /** Writes a V8 CPU profile into this folder when the gateway stops. */
  readonly cpuProfDir?: string;
  readonly name?: string;
}

/**
 * Every control on: a token check on each request, a policy rule that must be evaluated, the
 * built-in `pii` masking profile on request and response, and write-ahead recording.
 */
function configText(dir: string): string {
  return `
http:
  listen: 127.0.0.1:0
  upstreamTimeout: 30s
store:
  sqlitePath: ${join(dir, 'gatehouse.db')}
connections:
  - name: openai
    type: openai
    upstream: \${BENCH_UPSTREAM_URL}
    credential: \${BENCH_UPSTREAM_KEY}
    tags: [llm]
policy:
  rules:
    - name: llm-with-pii-masked
      match: { connections: [openai], interactions: ['llm.*'] }
      action: allow
      mask: pii
`;
}

/** `gatehouse start` through bin/gatehouse.js on a compiled dist/, as a user runs it. */
export async function startGatehouse(options: GatehouseOptions): Promise<Gatehouse> {
  await ensureCompiledGatehouse();
  const file = join(options.dir, 'gatehouse.yaml');
  await writeFile(file, configText(options.dir));
  const adminToken = `gta_${randomBytes(24).toString('hex')}`;
  const child = await launch({
    name: options.name ?? 'gatehouse',
    args: [
      ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
      GATEHOUSE_BIN,
      'start',
      '--config',
      file,
    ],
    env: {
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'),
      GATEHOUSE_ADMIN_TOKEN: adminToken,
      // Set explicitly so a database URL in the caller's environment never redirects the SQLite runs.
      GATEHOUSE_DATABASE_URL: options.databaseUrl ?? '',
      BENCH_UPSTREAM_URL: options.upstream.url,
      BENCH_UPSTREAM_KEY: UPSTREAM_KEY,
    },
    urlFrom: /data plane: (http:\/\/\S+?)\/proxy\//,
  });
  // src/ may have changed between the check and the start.
  if (TSX_NOTICE.test(child.output())) {
    await child.stop();
    throw new Error(`refusing to measure ${child.name} through tsx: src/ changed after dist/ was built; rerun to build again`);
  }
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${child.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  return {
    ...child,
    issueToken: (name) => call('POST', '/tokens', { name, connections: ['openai'], ttl: '1h' }),
    api: (path) => call('GET', path),
    target: (name, token) => ({
      name,
      url: `${child.url}/proxy/openai${CHAT_PATH}`,
      headers: { authorization: `Bearer ${token}` },
      child,
    }),
  };
}
