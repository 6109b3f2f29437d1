/**
 * The upstream request: path-style (`https://host/base/bucket/key`) or virtual-host style
 * (`https://bucket.host/base/key`), re-signed with the connection's AWS key by the maintained
 * signer over the body the gateway actually sends (its SHA-256 computed while spooling).
 */
import { createReadStream } from 'node:fs';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { Dispatcher } from 'undici';
import { ConfigError } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import type { UpstreamPools } from '../http/upstream.ts';
import { encodeKey } from './classify.ts';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface UpstreamCall {
  readonly method: string;
  readonly bucket: string | null;
  readonly key: string | null;
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Record<string, string>;
  /** A spooled file and its length and hash, a small buffer, or nothing. */
  readonly body: { readonly path: string; readonly size: number; readonly sha256: string } | { readonly bytes: Buffer; readonly sha256: string } | null;
  readonly signal: AbortSignal;
  /** Virtual-host addressing (bucket in the host name); path style otherwise. */
  readonly virtualHost: boolean;
}

function awsCredential(connection: Connection) {
  const c = connection.credential;
  if (c?.type !== 'aws') throw new ConfigError(`connection "${connection.name}" needs an aws credential ({ type: aws, accessKeyId, secretAccessKey, region })`);
  return c;
}

export async function callUpstream(pools: UpstreamPools, connection: Connection, call: UpstreamCall): Promise<Dispatcher.ResponseData> {
  const credential = awsCredential(connection);
  const base = connection.upstream.pathname.replace(/\/+$/, '');
  const virtual = call.virtualHost && call.bucket !== null;
  const hostname = virtual ? `${call.bucket}.${connection.upstream.host}` : connection.upstream.host;
  const objectPath = call.key === null ? '' : `/${encodeKey(call.key)}`;
  const path = virtual ? `${base}${objectPath || '/'}` : `${base}/${call.bucket ?? ''}${objectPath}`.replace(/^$/, '/');
  const query: Record<string, string> = {};
  for (const [k, v] of call.query) query[k] = v;
  const body = call.body;
  const headers: Record<string, string> = {
    ...call.headers,
    host: hostname,
    'x-amz-content-sha256': body === null ? EMPTY_SHA256 : body.sha256,
  };
  if (body !== null) headers['content-length'] = String('size' in body ? body.size : body.bytes.length);
  const signer = new SignatureV4({
    service: 's3',
    region: credential.region,
    credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey, ...(credential.sessionToken ? { sessionToken: credential.sessionToken } : {}) },
    sha256: Sha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign({ method: call.method, protocol: connection.upstream.protocol, hostname, path, query, headers });
  const search = Object.entries(query)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
  const origin = virtual ? `${connection.upstream.protocol}//${hostname}` : connection.upstream.origin;
  return pools.pool(origin).request({
    method: call.method as Dispatcher.HttpMethod,
    path: search === '' ? path : `${path}?${search}`,
    headers: signed.headers,
    body: body === null ? undefined : 'path' in body ? createReadStream(body.path) : body.bytes,
    signal: call.signal,
  });
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
