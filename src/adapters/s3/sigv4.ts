/**
 * Verifies a client's Signature V4 by recomputing it with the maintained signer
 * (@smithy/signature-v4) over exactly what arrived, and comparing in constant time. Only the
 * parsing of the Authorization header or the presigned query is ours; canonicalisation, key
 * derivation and HMACs are the signer's.
 */
import { timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { AuthError, BadRequest } from '../../errors.ts';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** Clients' clocks may differ from ours by this much (what S3 allows). */
export const MAX_SKEW_MS = 15 * 60_000;
/** S3's own limit for a presigned URL. */
const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;

/** What the wire says, before any check. */
export interface SignedRequest {
  readonly method: string;
  /** Path as sent (still percent-encoded), without the query. */
  readonly rawPath: string;
  /** Query pairs decoded, in order. */
  readonly query: readonly (readonly [string, string])[];
  /** Lower-cased header names; a header sent twice is refused before this. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface SignatureScope {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

export interface ParsedAuth {
  readonly mode: 'header' | 'query';
  readonly scope: SignatureScope;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** X-Amz-Date, ISO basic (20260101T000000Z). */
  readonly amzDate: string;
  readonly signingDate: Date;
  /** The payload hash the client signed: a hex digest, UNSIGNED-PAYLOAD or a STREAMING-… mode. */
  readonly payloadHash: string;
  /** Presigned only: seconds the URL stays valid. */
  readonly expiresSeconds?: number;
}

const invalid = (message: string) => new AuthError('auth_invalid', message);

function parseAmzDate(value: string | undefined): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!m) throw invalid('X-Amz-Date is missing or not in the form 20260101T000000Z');
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

function parseScope(credential: string): SignatureScope {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || parts.some((p) => p === '')) {
    throw invalid('the credential scope is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request');
  }
  return { accessKeyId: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3]! };
}

const queryValue = (request: SignedRequest, name: string): string | undefined => request.query.find(([k]) => k === name)?.[1];

/**
 * Reads the signature from the Authorization header or the presigned query; both at once, a
 * second algorithm, or a field given twice is refused (readers would disagree on which counts).
 */
export function parseAuth(request: SignedRequest): ParsedAuth {
  const header = request.headers.authorization;
  const presigned = request.query.some(([k]) => k.toLowerCase().startsWith('x-amz-') && /^x-amz-(algorithm|credential|signature|signedheaders|date|expires)$/i.test(k));
  if (header !== undefined && presigned) throw new BadRequest('a request is signed either in the Authorization header or in its query, not both');
  if (header !== undefined) return parseHeaderAuth(request, header);
  if (presigned) return parseQueryAuth(request);
  throw new AuthError('auth_missing', 'no signature: sign the request with a Gatehouse S3 credential (`gatehouse s3 credentials create`)');
}

function parseHeaderAuth(request: SignedRequest, header: string): ParsedAuth {
  if (!header.startsWith(`${ALGORITHM} `)) throw invalid(`only ${ALGORITHM} (Signature V4) is accepted`);
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) throw invalid('the Authorization header is malformed');
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) throw invalid(`the Authorization header names ${name} twice`);
    fields.set(name, part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signed === undefined || signature === undefined || fields.size !== 3) {
    throw invalid('the Authorization header needs exactly Credential, SignedHeaders and Signature');
  }
  const amzDate = request.headers['x-amz-date'];
  const payloadHash = request.headers['x-amz-content-sha256'];
  if (payloadHash === undefined) throw invalid('x-amz-content-sha256 is missing');
  return {
    mode: 'header',
    scope: parseScope(credential),
    signedHeaders: signed.split(';'),
    signature,
    amzDate: amzDate ?? '',
    signingDate: parseAmzDate(amzDate),
    payloadHash,
  };
}

function parseQueryAuth(request: SignedRequest): ParsedAuth {
  const seen = new Set<string>();
  for (const [k] of request.query) {
    if (!k.toLowerCase().startsWith('x-amz-')) continue;
    if (seen.has(k.toLowerCase())) throw invalid(`the query names ${k} twice`);
    seen.add(k.toLowerCase());
  }
  if (queryValue(request, 'X-Amz-Algorithm') !== ALGORITHM) throw invalid(`only ${ALGORITHM} (Signature V4) is accepted`);
  const credential = queryValue(request, 'X-Amz-Credential');
  const signed = queryValue(request, 'X-Amz-SignedHeaders');
  const signature = queryValue(request, 'X-Amz-Signature');
  const expires = queryValue(request, 'X-Amz-Expires');
  if (credential === undefined || signed === undefined || signature === undefined || expires === undefined) {
    throw invalid('a presigned URL needs X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature and X-Amz-Expires');
  }
  const expiresSeconds = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
  if (!(expiresSeconds >= 1 && expiresSeconds <= MAX_PRESIGNED_SECONDS)) throw invalid('X-Amz-Expires must be between 1 and 604800 seconds');
  const amzDate = queryValue(request, 'X-Amz-Date');
  return {
    mode: 'query',
    scope: parseScope(credential),
    signedHeaders: signed.split(';'),
    signature,
    amzDate: amzDate ?? '',
    signingDate: parseAmzDate(amzDate),
    payloadHash: queryValue(request, 'X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
    expiresSeconds,
  };
}

/** Checks the time a signature claims: within the skew (header) or before its expiry (presigned). */
export function checkTime(auth: ParsedAuth, now: number): void {
  const at = auth.signingDate.getTime();
  if (auth.scope.date !== auth.amzDate.slice(0, 8)) throw invalid('the credential scope date differs from X-Amz-Date');
  if (auth.mode === 'header') {
    if (Math.abs(now - at) > MAX_SKEW_MS) throw new AuthError('auth_expired', 'the request was signed more than 15 minutes from the gateway\'s time: check the client\'s clock and sign it again');
    return;
  }
  if (at - now > MAX_SKEW_MS) throw invalid('the presigned URL is dated in the future');
  if (now > at + auth.expiresSeconds! * 1000) throw new AuthError('auth_expired', 'the presigned URL has expired; ask for a new one');
}

/**
 * The signature the secret gives this request, computed by the signer over the headers the
 * client says it signed; compared with the one sent in constant time. `host` must be signed.
 */
export async function verifySignature(request: SignedRequest, auth: ParsedAuth, secretAccessKey: string): Promise<string> {
  if (!auth.signedHeaders.includes('host')) throw invalid('the host header must be signed');
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    if (name !== name.toLowerCase() || name === '') throw invalid('SignedHeaders must be lower-case header names');
    const value = request.headers[name];
    if (value === undefined) throw invalid(`signed header ${name} is missing from the request`);
    headers[name] = value;
  }
  const signer = new SignatureV4({
    service: auth.scope.service,
    region: auth.scope.region,
    credentials: { accessKeyId: auth.scope.accessKeyId, secretAccessKey },
    sha256: Sha256,
    // S3 signs the path as sent, without normalising or encoding it again.
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signedSet = new Set(auth.signedHeaders);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of request.query) {
    if (auth.mode === 'query' && k === 'X-Amz-Signature') continue;
    const prior = query[k];
    query[k] = prior === undefined ? v : [...[prior].flat(), v];
  }
  const base = { method: request.method, protocol: 'http:', hostname: headers.host!, path: auth.mode === 'header' ? request.rawPath : request.rawPath, query, headers };
  let computed: string;
  let computedSigned: string;
  if (auth.mode === 'header') {
    const signed = await signer.sign(
      { ...base, headers: { ...headers, 'x-amz-content-sha256': auth.payloadHash } },
      { signingDate: auth.signingDate, signingRegion: auth.scope.region, signingService: auth.scope.service, signableHeaders: signedSet, unsignableHeaders: unsignedOf(request, signedSet) },
    );
    const m = /SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(String(signed.headers.authorization));
    computedSigned = m?.[1] ?? '';
    computed = m?.[2] ?? '';
  } else {
    for (const k of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders']) delete query[k];
    const presigned = await signer.presign(
      { ...base, headers: { ...headers, 'x-amz-content-sha256': auth.payloadHash } },
      {
        signingDate: auth.signingDate,
        expiresIn: auth.expiresSeconds!,
        signingRegion: auth.scope.region,
        signingService: auth.scope.service,
        signableHeaders: signedSet,
        unsignableHeaders: new Set(['x-amz-content-sha256']),
        unhoistableHeaders: new Set([...signedSet, 'x-amz-content-sha256']),
      },
    );
    computedSigned = String(presigned.query?.['X-Amz-SignedHeaders']);
    computed = String(presigned.query?.['X-Amz-Signature']);
  }
  if (computedSigned !== auth.signedHeaders.join(';')) throw invalid('SignedHeaders must list the signed headers in sorted order');
  if (!sameHex(computed, auth.signature)) throw new AuthError('auth_invalid', 'the request signature does not match: check the access key id and secret (`gatehouse s3 credentials create`)');
  return computed;
}

/** Headers present but not signed: kept out of the recomputation even where the signer would sign them. */
function unsignedOf(request: SignedRequest, signed: ReadonlySet<string>): Set<string> {
  return new Set(Object.keys(request.headers).filter((h) => !signed.has(h)));
}

export function sameHex(a: string, b: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(b) || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** HMAC key derivation and string signing for aws-chunked chunk signatures (the signer's own). */
export function chunkSigner(scope: SignatureScope, secretAccessKey: string): SignatureV4 {
  return new SignatureV4({
    service: scope.service,
    region: scope.region,
    credentials: { accessKeyId: scope.accessKeyId, secretAccessKey },
    sha256: Sha256,
    uriEscapePath: false,
  });
}
