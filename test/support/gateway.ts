import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/server.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';

export const UPSTREAM_KEY = `sk-upstream-${randomBytes(16).toString('hex')}`;
export const ADMIN_TOKEN = `gta_${randomBytes(24).toString('hex')}`;

export interface TestGateway {
  readonly gateway: Gateway;
  /** The PostgreSQL listener's port (when started with the `postgres` option). */
  readonly pgPort: number;
  readonly demo: DemoModel;
  readonly url: string;
  readonly dir: string;
  /** Every log line the gateway wrote, as text. */
  readonly logs: string[];
  readonly env: NodeJS.ProcessEnv;
  readonly configText: string;
  readonly masterKey: Buffer;
  /** Calls the admin API with the admin token; returns status and parsed JSON. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  /** Issues a gth_ token through the API (as a user with groups when `user` is given). */
  token(options?: { connections?: string[]; ttl?: string; user?: string; groups?: string[] }): Promise<string>;
  restart(): Promise<TestGateway>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** YAML appended to the generated config (policy, masking, extra connections …). */
  readonly extraYaml?: string;
  /** YAML list items appended to `connections:`. */
  readonly extraConnections?: string;
  /** Replaces the default policy block. */
  readonly policyYaml?: string;
  readonly databaseUrl?: string;
  readonly demo?: DemoModel;
  readonly dir?: string;
  readonly masterKey?: Buffer;
  readonly upstreamTimeout?: string;
  readonly bodyLimit?: string;
  /** Starts the PostgreSQL listener on a free loopback port. */
  readonly postgres?: {
    readonly tls?: { readonly cert: string; readonly key: string };
    readonly allowCleartextOverNetwork?: boolean;
    readonly auth?: 'scram' | 'cleartext' | 'both';
  };
  /** The clock and wake-ups of held requests (approvals/), moved by the test. */
  readonly approvals?: GatewayOptions['approvals'];
  /** The clock agent findings are judged at, and the report's timer (inventory/). */
  readonly inventory?: GatewayOptions['inventory'];
}

function postgresYaml(pg: NonNullable<TestGatewayOptions['postgres']>): string {
  const tls = pg.tls ? `\n  tls:\n    cert: ${pg.tls.cert}\n    key: ${pg.tls.key}` : '';
  const auth = pg.auth ? `\n  auth: ${pg.auth}` : '';
  return `postgres:\n  listen: 127.0.0.1:0\n  allowCleartextOverNetwork: ${pg.allowCleartextOverNetwork ?? false}${auth}${tls}\n`;
}

const DEFAULT_POLICY = `
policy:
  rules:
    - name: allow-all
      action: allow
`;

/** A gateway on a free loopback port, its own store in a temp folder, in front of the demo model. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'gatehouse-test-')));
  const demo = options.demo ?? (await startDemoModel({ apiKey: UPSTREAM_KEY, slowMs: 3000 }));
  // The store keeps the key it was first opened with: gateways started on one folder or one database
  // share a key unless the test says otherwise (a stranger's key is refused at start).
  const masterKey = options.masterKey ?? (options.dir || options.databaseUrl ? createHash('sha256').update(`test master key\0${options.dir ?? ''}\0${options.databaseUrl ?? ''}`).digest() : randomBytes(32));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UPSTREAM_KEY,
    GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
    GATEHOUSE_DATABASE_URL: options.databaseUrl ?? '',
  };
  const configText = `
http:
  listen: 127.0.0.1:0
  upstreamTimeout: ${options.upstreamTimeout ?? '2s'}
  bodyLimit: ${options.bodyLimit ?? '1mb'}
store:
  sqlitePath: ${join(dir, 'gatehouse.db')}
log:
  level: info
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
    tags: [llm]
  - name: other
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
${options.extraConnections ?? ''}
${options.policyYaml ?? DEFAULT_POLICY}
${options.extraYaml ?? ''}
${options.postgres ? postgresYaml(options.postgres) : ''}`;
  const config = parseConfig(configText, 'test.yaml', env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  let gateway: Gateway;
  try {
    gateway = await startGateway({ config, masterKey, env, logger, ...(options.approvals ? { approvals: options.approvals } : {}), ...(options.inventory ? { inventory: options.inventory } : {}) });
  } catch (err) {
    // A start the test expects to be refused must not leave the demo model or the folder behind
    // (an open server would keep the test process alive).
    if (!options.demo) await demo.close();
    if (!options.dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const api: TestGateway['api'] = async (method, path, body, token = ADMIN_TOKEN) => {
    const response = await fetch(`${gateway.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  };

  const self: TestGateway = {
    gateway,
    pgPort: gateway.pgPort ?? 0,
    demo,
    url: gateway.url,
    dir,
    logs,
    env,
    configText,
    masterKey,
    api,
    token: async ({ connections = ['openai'], ttl, user, groups = [] } = {}) => {
      const { status, json } = await api('POST', '/tokens', {
        connections,
        ...(ttl ? { ttl } : {}),
        ...(user ? { for: { user, groups } } : {}),
      });
      if (status !== 201) throw new Error(`token create failed: ${status} ${JSON.stringify(json)}`);
      return json.token as string;
    },
    restart: async () => {
      await gateway.close();
      return startTestGateway({ ...options, dir, demo, masterKey });
    },
    close: async () => {
      await gateway.close();
      if (!options.demo) await demo.close();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
  return self;
}
