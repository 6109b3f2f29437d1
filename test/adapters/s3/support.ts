/**
 * The S3 test bench: s3rver on loopback as the upstream (its files on disk are what "stored
 * upstream" means), a gateway in front of it with an injected clock for signatures, people and
 * Gatehouse-issued S3 credentials, and the official AWS SDK as the client.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import S3rver from 's3rver';
import { S3Client } from '@aws-sdk/client-s3';
import { parseConfig } from '../../../src/config/load.ts';
import { startGateway, type Gateway } from '../../../src/server.ts';
import type { Store } from '../../../src/store/types.ts';
import { personWithToken, type Person } from '../../support/people.ts';

export const ADMIN_TOKEN = `gta_${randomBytes(24).toString('hex')}`;

export interface Upstream {
  readonly url: string;
  readonly dir: string;
  close(): Promise<void>;
}

export async function startS3rver(buckets: readonly string[]): Promise<Upstream> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
  const address = await server.run();
  return {
    url: `http://127.0.0.1:${address.port}`,
    dir,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every file s3rver stored (objects, metadata, parts), concatenated: what the upstream holds. */
export async function storedUpstream(dir: string): Promise<string> {
  const out: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push(await readFile(path, 'latin1'));
    }
  };
  await walk(dir);
  return out.join('\n');
}

export class Clock {
  constructor(public at: number) {}
  readonly now = (): number => this.at;
}

export interface Bench {
  readonly gateway: Gateway;
  readonly url: string;
  readonly store: Store;
  readonly upstream: Upstream;
  readonly clock: Clock;
  readonly logs: string[];
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  /** An S3 credential issued through the API (for `who`, or the admin). */
  credential(connection: string, options?: { who?: Person; ttl?: string; name?: string }): Promise<{ accessKeyId: string; secretAccessKey: string; tokenId: string }>;
  client(connection: string, credential: { accessKeyId: string; secretAccessKey: string }, extra?: Record<string, unknown>): S3Client;
  person(name: string, groups: readonly string[]): Promise<Person>;
  close(): Promise<void>;
}

export async function startBench(options: { policyYaml: string; extraYaml?: string; extraConnections?: (upstreamUrl: string) => string; buckets?: readonly string[] }): Promise<Bench> {
  const upstream = await startS3rver(options.buckets ?? ['traces', 'team.shared.bucket']);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-s3-test-'));
  const clock = new Clock(Date.now());
  const aws = `{ type: aws, accessKeyId: S3RVER, secretAccessKey: S3RVER, region: us-east-1 }`;
  const configText = `
http:
  listen: 127.0.0.1:0
  upstreamTimeout: 20s
store:
  sqlitePath: ${join(dir, 'gatehouse.db')}
connections:
  - name: store
    type: s3
    upstream: ${upstream.url}
    credential: ${aws}
  - name: masked
    type: s3
    upstream: ${upstream.url}
    credential: ${aws}
  - name: ranges
    type: s3
    upstream: ${upstream.url}
    credential: ${aws}
    s3: { allowUnmaskedRanges: true }
${options.extraConnections?.(upstream.url) ?? ''}
${options.policyYaml}
${options.extraYaml ?? ''}`;
  const env = { ...process.env, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_DATABASE_URL: '' };
  const config = parseConfig(configText, 'test.yaml', env);
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => void (logs.push(String(chunk)), done()) }));
  const gateway = await startGateway({ config, masterKey: randomBytes(32), env, logger, s3: { now: clock.now } });
  const api: Bench['api'] = async (method, path, body, token = ADMIN_TOKEN) => {
    const response = await fetch(`${gateway.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  };
  return {
    gateway,
    url: gateway.url,
    store: gateway.store,
    upstream,
    clock,
    logs,
    api,
    credential: async (connection, { who, ttl, name } = {}) => {
      const { status, json } = await api('POST', '/s3/credentials', { connection, ...(ttl ? { ttl } : {}), ...(name ? { name } : {}) }, who?.token);
      if (status !== 201) throw new Error(`s3 credential create failed: ${status} ${JSON.stringify(json)}`);
      return json;
    },
    client: (connection, credential, extra = {}) =>
      new S3Client({
        endpoint: `${gateway.url}/s3/${connection}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
        // The SDK signs with the system clock; the gateway checks against the bench's.
        systemClockOffset: clock.at - Date.now(),
        maxAttempts: 1,
        ...extra,
      }),
    person: (name, groups) => personWithToken(gateway.store, name, groups),
    close: async () => {
      await gateway.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
