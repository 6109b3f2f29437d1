/**
 * What an S3 request is: the operation, bucket and key (path-style), read from method, path and
 * query. Keys are decoded once, checked, and encoded again canonically for the upstream, so the
 * key policy reads is the key the upstream stores. Unknown subresources are refused.
 */
import { BadRequest } from '../../errors.ts';
import type { S3Facts } from '../../interaction.ts';

export interface S3Target {
  readonly facts: Omit<S3Facts, 'size' | 'contentType'>;
  readonly bucket: string | null;
  readonly key: string | null;
  /** The path below the connection as forwarded: `/bucket/key`, each segment encoded canonically. */
  readonly path: string;
  /** The query as forwarded: only parameters S3 defines for the operation, canonically encoded. */
  readonly query: readonly (readonly [string, string])[];
  readonly uploadId: string | null;
  readonly partNumber: number | null;
}

/** Query parameters that select an operation (subresources) or shape a listing. */
const SUBRESOURCES = new Set(['uploads', 'uploadId', 'partNumber', 'list-type', 'location', 'versions', 'delete', 'tagging', 'versionId']);
const LIST_PARAMS = new Set([
  'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'marker',
  'key-marker', 'upload-id-marker', 'max-uploads', 'max-parts', 'part-number-marker', 'version-id-marker',
]);
const RESPONSE_OVERRIDES = /^response-(content-type|content-language|expires|cache-control|content-disposition|content-encoding)$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MAX_KEY_BYTES = 1024;

/** S3's key encoding: every byte but unreserved characters, and `/` kept. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BadRequest(`the ${what} is not valid percent-encoding`);
  }
}

export function checkBucket(bucket: string): void {
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new BadRequest(`"${bucket.slice(0, 80)}" is not a valid bucket name (3–63 lower-case letters, digits, dots and hyphens)`);
  }
}

/** A key one name maps to: no `.` or `..` segment, no control characters, NFC, at most 1024 bytes. */
export function checkKey(key: string): void {
  if (key === '') throw new BadRequest('the object key is empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new BadRequest(`the object key is longer than ${MAX_KEY_BYTES} bytes`);
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new BadRequest('the object key contains control characters');
  if (key.split('/').some((s) => s === '.' || s === '..')) throw new BadRequest('the object key has a "." or ".." segment, which storage and tools read as a path step; rename it');
  if (key.normalize('NFC') !== key) throw new BadRequest('the object key is not in Unicode NFC form; send it normalised so one name maps to one key');
}

/** Splits a raw query into decoded pairs; a parameter named twice is refused. */
export function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decode(eq === -1 ? part : part.slice(0, eq), 'query');
    const v = eq === -1 ? '' : decode(part.slice(eq + 1), 'query');
    if (seen.has(k)) throw new BadRequest(`the query names "${k}" twice`);
    seen.add(k);
    pairs.push([k, v]);
  }
  return pairs;
}

function operationOf(method: string, bucket: string | null, key: string | null, q: ReadonlyMap<string, string>, copy: boolean): string {
  const has = (k: string) => q.has(k);
  if (bucket === null) {
    if (method === 'GET') return 'ListBuckets';
  } else if (key === null) {
    if (method === 'GET') {
      if (has('list-type')) return q.get('list-type') === '2' ? 'ListObjectsV2' : 'Unsupported';
      if (has('uploads')) return 'ListMultipartUploads';
      if (has('location')) return 'GetBucketLocation';
      if (has('versions')) return 'ListObjectVersions';
      if (![...q.keys()].some((k) => SUBRESOURCES.has(k))) return 'ListObjects';
    }
    if (method === 'HEAD' && q.size === 0) return 'HeadBucket';
    if (method === 'PUT' && q.size === 0) return 'CreateBucket';
    if (method === 'DELETE' && q.size === 0) return 'DeleteBucket';
    if (method === 'POST' && has('delete')) return 'DeleteObjects';
  } else {
    const upload = has('uploadId');
    if (method === 'GET') return upload ? 'ListParts' : has('tagging') ? 'GetObjectTagging' : 'GetObject';
    if (method === 'HEAD') return 'HeadObject';
    if (method === 'PUT') {
      if (upload && has('partNumber')) return copy ? 'UploadPartCopy' : 'UploadPart';
      if (has('tagging')) return 'PutObjectTagging';
      if (!upload) return copy ? 'CopyObject' : 'PutObject';
    }
    if (method === 'DELETE') return upload ? 'AbortMultipartUpload' : has('tagging') ? 'DeleteObjectTagging' : 'DeleteObject';
    if (method === 'POST') {
      if (has('uploads')) return 'CreateMultipartUpload';
      if (upload) return 'CompleteMultipartUpload';
    }
  }
  return 'Unsupported';
}

/** Reads `/<bucket>/<key>` (below `/s3/<connection>`) and the raw query into the target the gateway forwards. */
export function classifyS3(method: string, rawPath: string, rawQuery: string, headers: Readonly<Record<string, string>>): S3Target {
  const pairs = parseQuery(rawQuery);
  for (const [k] of pairs) {
    if (k.toLowerCase().startsWith('x-amz-') || k === 'x-id' || SUBRESOURCES.has(k) || LIST_PARAMS.has(k) || RESPONSE_OVERRIDES.test(k)) continue;
    throw new BadRequest(`the query parameter "${k.slice(0, 64)}" is not one the gateway forwards`);
  }
  // x-amz-* are the signature's (presigned URLs); x-id is the SDK naming the operation for logs.
  const q = new Map(pairs.filter(([k]) => !k.toLowerCase().startsWith('x-amz-') && k !== 'x-id'));
  const rest = rawPath.replace(/^\/+/, '');
  const slash = rest.indexOf('/');
  const rawBucket = slash === -1 ? rest : rest.slice(0, slash);
  const bucket = rawBucket === '' ? null : decode(rawBucket, 'bucket name');
  if (bucket !== null) checkBucket(bucket);
  const rawKey = slash === -1 ? '' : rest.slice(slash + 1);
  const key = rawKey === '' ? null : decode(rawKey, 'object key');
  if (key !== null) checkKey(key);
  const operation = operationOf(method, bucket, key, q, headers['x-amz-copy-source'] !== undefined);
  if (operation === 'Unsupported') throw new BadRequest(`${method} on this path with these parameters is not an S3 operation the gateway supports`);
  const partText = q.get('partNumber');
  const partNumber = partText === undefined ? null : /^\d{1,5}$/.test(partText) && Number(partText) >= 1 && Number(partText) <= 10000 ? Number(partText) : NaN;
  if (Number.isNaN(partNumber)) throw new BadRequest('partNumber must be between 1 and 10000');
  const path = bucket === null ? '/' : key === null ? `/${bucket}` : `/${bucket}/${encodeKey(key)}`;
  return {
    facts: { operation, bucket, key, prefix: q.get('prefix') ?? '' },
    bucket,
    key,
    path,
    query: [...q.entries()],
    uploadId: q.get('uploadId') ?? null,
    partNumber,
  };
}
