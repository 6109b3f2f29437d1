/**
 * The S3 adapter: `/s3/<connection>/<bucket>/<key>`, path style, Signature V4 with a Gatehouse
 * S3 credential. It verifies the signature (the login), hands the runner a draft with the
 * operation's facts, and forwards what the runner admits: bodies decoded, verified, masked and
 * spooled (spool.ts), re-signed with the connection's key (upstream.ts), answers streamed back
 * through the profile's text masker.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { AuthError, BadRequest, GatewayError, MaskingError, toGatewayError, UnknownConnection } from '../../errors.ts';
import type { ConnectionRegistry, Connection } from '../../connections/registry.ts';
import type { Admission, ForwardResult, Pipeline } from '../../pipeline.ts';
import type { RequestLine } from '../../adapter-contract.ts';
import type { UpstreamPools } from '../http/upstream.ts';
import { upstreamFailure } from '../http/upstream.ts';
import { checkTime, chunkSigner, parseAuth, verifySignature, type ParsedAuth } from './sigv4.ts';
import { tokenIdOf, type S3CredentialKey } from './credential-key.ts';
import { classifyS3, type S3Target } from './classify.ts';
import { decodeAwsChunked, STREAMING_MODES } from './aws-chunked.ts';
import { algorithmOf, checksumHeader, type ChecksumAlgorithm } from './checksums.ts';
import { discard, spool, type SpooledBody } from './spool.ts';
import { callUpstream } from './upstream.ts';
import { MaskedUploads, rewriteCompletion } from './multipart.ts';
import { writeS3Error } from './render.ts';
import { declaredSize, S3_PREFIX, singleHeaders, splitS3Url, textBodyProblem } from './wire.ts';
import { pipeResponse } from './respond.ts';

export { S3_PREFIX };

export interface S3ObjectLink {
  readonly interactionId: string;
  readonly connection: string;
  readonly bucket: string;
  readonly key: string;
  readonly etag: string | null;
  readonly versionId: string | null;
  readonly writtenAt: number;
}

export interface S3GatewayOptions {
  readonly pipeline: Pipeline;
  readonly connections: ConnectionRegistry;
  readonly pools: UpstreamPools;
  readonly logger: Logger;
  readonly key: S3CredentialKey;
  readonly upstreamTimeoutMs: number;
  readonly trustProxy: boolean;
  /** Records which request wrote an object (store, migration 20). */
  readonly link: (link: S3ObjectLink) => Promise<void>;
  /** Connection options: Range reads of masked types, and virtual-host addressing upstream. */
  readonly options?: (connection: Connection) => { allowUnmaskedRanges: boolean; virtualHost: boolean };
  readonly now?: () => number;
}

/** The verified signature and the secret it was made with (chunk signatures chain from both). */
interface SignedBy {
  readonly auth: ParsedAuth;
  readonly secret: string;
}

const WRITES = new Set(['PutObject', 'UploadPart']);
const SMALL_BODIES = new Set(['CompleteMultipartUpload', 'DeleteObjects', 'PutObjectTagging', 'CreateBucket']);
const MAX_SMALL_BODY = 1024 * 1024;
/** Client headers forwarded upstream as they are; everything else (its signature, hop headers) is not. */
const FORWARDED = /^(content-type|cache-control|content-disposition|content-language|expires|range|if-match|if-none-match|if-modified-since|if-unmodified-since|x-amz-meta-.+|x-amz-storage-class|x-amz-tagging|x-amz-acl|x-amz-copy-source.*|x-amz-metadata-directive|x-amz-tagging-directive|x-amz-checksum-algorithm|x-amz-checksum-type|x-amz-expected-bucket-owner|x-amz-server-side-encryption)$/;

export interface S3Gateway {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

export function createS3Gateway(options: S3GatewayOptions): S3Gateway {
  const { pipeline, connections, pools, logger } = options;
  const now = options.now ?? Date.now;
  const uploads = new MaskedUploads();
  const optionsOf = options.options ?? (() => ({ allowUnmaskedRanges: false, virtualHost: false }));

  const clientAddrOf = (req: IncomingMessage): string | null => {
    if (options.trustProxy) {
      const forwarded = req.headers['x-forwarded-for'];
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? null;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const method = req.method ?? 'GET';
    const clientAddr = clientAddrOf(req);
    const url = req.url ?? '/';
    let line: RequestLine = { kind: 's3.request', method, target: null };
    let name = '';
    let auth: ParsedAuth;
    let headers: Record<string, string>;
    let parts: ReturnType<typeof splitS3Url>;
    let tokenId: string;
    let secret: string;
    try {
      parts = splitS3Url(url);
      name = parts.name;
      line = { kind: 's3.request', method, target: parts.rest };
      headers = singleHeaders(req);
      const query = parts.rawQuery === '' ? [] : parseSignedQuery(parts.rawQuery);
      const signed = { method, rawPath: parts.rawPath, query, headers };
      auth = parseAuth(signed);
      checkTime(auth, now());
      const id = tokenIdOf(auth.scope.accessKeyId);
      if (id === null) throw new AuthError('auth_invalid', 'unknown access key id: use one from `gatehouse s3 credentials create`');
      if (auth.scope.service !== 's3') throw new AuthError('auth_invalid', 'the credential scope must name the service s3');
      secret = options.key.secretFor(auth.scope.accessKeyId);
      await verifySignature(signed, auth, secret);
      tokenId = id;
    } catch (err) {
      throw await pipeline.refuseLogin({ connection: name, protocol: 's3', clientAddr, line, requestId }, toGatewayError(err));
    }
    const session = await pipeline.sharedSession({ secret: undefined, provenTokenId: tokenId, connection: name, type: 's3', protocol: 's3', clientAddr, line, requestId });

    const client = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) client.abort(new BadRequest('client closed the connection'));
    });
    let connection: Connection | undefined;
    let target: S3Target | undefined;
    const draft = () => {
      connection = connections.get(name);
      if (!connection || connection.type !== 's3') throw new UnknownConnection(`connection "${name}" was removed`);
      target = classifyS3(method, parts.rest, parts.rawQuery, headers);
      const { operation, bucket, key } = target.facts;
      const size = WRITES.has(operation) ? declaredSize(headers) : null;
      return {
        kind: 's3.request' as const,
        summary: { s3: { ...target.facts, size, contentType: headers['content-type'] ?? '' } },
        // Keys and prefixes are text an agent chooses: policy may test them for entities too.
        scanText: [key, target.facts.prefix].filter((t) => t).join('\n'),
        body: { type: 'none' as const },
        method,
        target: target.path,
        model: null,
        bytesIn: size ?? 0,
        // An approval covers this operation on this object, nothing that merely looks like it.
        exact: () => JSON.stringify([operation, bucket, key, target!.uploadId]),
      };
    };
    await pipeline.run(session, draft, (admission) => forward(req, res, connection!, target!, headers, { auth, secret }, admission, client.signal), {
      signal: client.signal,
      requestId,
      line,
      // No hold: an S3 client retries on its own timetable, so a held request is refused at once
      // naming its approval (approval_required); once approved, the same request sent again runs once.
    });
  }

  async function forward(
    req: IncomingMessage,
    res: ServerResponse,
    connection: Connection,
    target: S3Target,
    headers: Record<string, string>,
    auth: SignedBy,
    admission: Admission,
    clientGone: AbortSignal,
  ): Promise<ForwardResult> {
    const operation = target.facts.operation;
    const masked = admission.masked;
    const opts = optionsOf(connection);
    const cut = () => {
      req.destroy();
      res.destroy();
    };
    // A revoked credential ends the upload or download at once, on both sides.
    admission.signal.addEventListener('abort', cut, { once: true });
    let spooled: SpooledBody | null = null;
    let upload: ReturnType<MaskedUploads['take']> | null = null;
    let status: number | null = null;
    let upstream: Dispatcher.ResponseData | null = null;
    try {
      if (masked && (operation === 'GetObject' || operation === 'UploadPartCopy' || operation === 'CopyObject')) {
        if (operation !== 'GetObject') throw new MaskingError(`a masking profile applies, and ${operation} copies bytes the gateway cannot scan; copy through GetObject and PutObject instead`);
        if ((headers.range !== undefined || target.partNumber !== null) && !opts.allowUnmaskedRanges) {
          throw new MaskingError('a masking profile applies, and a byte range of an object cannot be masked without its context; read the whole object (or allow unmasked ranges on the connection)');
        }
      }
      const out: Record<string, string> = {};
      for (const [h, v] of Object.entries(headers)) if (FORWARDED.test(h)) out[h] = v;
      for (const h of Object.keys(out)) {
        if (h.startsWith('x-amz-meta-gatehouse-')) throw new BadRequest('metadata named x-amz-meta-gatehouse-* is set by the gateway, not by clients');
      }
      if (masked && headers['content-md5'] !== undefined) out['content-md5'] = '';
      else if (headers['content-md5'] !== undefined) out['content-md5'] = headers['content-md5'];
      const encoding = (headers['content-encoding'] ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '' && c !== 'aws-chunked');
      if (encoding.length > 0) out['content-encoding'] = encoding.join(', ');

      if (operation === 'PutObject' || operation === 'CreateMultipartUpload') {
        if (masked) {
          const problem = textBodyProblem(headers['content-type'] ?? '', headers['content-encoding'] ?? '');
          if (problem !== null) throw new MaskingError(`a masking profile applies, but the object cannot be scanned: ${problem}; it was not stored`);
        }
        Object.assign(out, attribution(admission));
      }

      let body: Parameters<typeof callUpstream>[2]['body'] = null;
      if (WRITES.has(operation)) {
        if (operation === 'UploadPart' && masked) upload = uploads.take(target.uploadId!, target.bucket!, target.key!);
        spooled = await readBody(req, headers, auth, admission, masked ? (upload?.masker ?? admission.textStream()) : null, upload !== null);
        body = spooled;
        if (out['content-md5'] !== undefined) out['content-md5'] = spooled.md5;
        if (spooled.checksum) out[checksumHeader(spooled.checksum.algorithm)] = spooled.checksum.value;
      } else if (SMALL_BODIES.has(operation) || declaredSize(headers)) {
        let small = await readSmall(req, headers, auth, admission);
        if (operation === 'CompleteMultipartUpload' && masked) {
          upload = uploads.take(target.uploadId!, target.bucket!, target.key!);
          await flushLastPart(connection, target, upload, admission.signal, opts.virtualHost);
          small = Buffer.from(rewriteCompletion(small.toString('utf8'), upload), 'utf8');
        }
        const { createHash } = await import('node:crypto');
        body = { bytes: small, sha256: createHash('sha256').update(small).digest('hex') };
        if (out['content-md5'] !== undefined) out['content-md5'] = createHash('md5').update(small).digest('base64');
      }
      if (out['content-md5'] === '') delete out['content-md5'];

      upstream = await callUpstream(pools, connection, {
        method: req.method ?? 'GET',
        bucket: target.bucket,
        key: target.key,
        query: target.query,
        headers: out,
        body,
        signal: admission.signal,
        virtualHost: opts.virtualHost,
      });
      status = upstream.statusCode;
      upstream.body.on('error', ignore);
      const result = await pipeResponse(res, upstream, admission, connection, operation);
      if (status >= 200 && status < 300) await afterSuccess(connection, target, upstream, admission, upload, spooled, result.body);
      return { responseStatus: status, responseBody: result.transcript, bytesOut: result.bytesOut };
    } catch (err) {
      if (clientGone.aborted && admission.signal.reason === clientGone.reason) {
        res.destroy();
        return { responseStatus: status, responseBody: null, bytesOut: 0, clientAborted: true };
      }
      if (admission.signal.aborted) throw toGatewayError(admission.signal.reason);
      throw err instanceof GatewayError ? err : upstreamFailure(err, connection, options.upstreamTimeoutMs);
    } finally {
      admission.signal.removeEventListener('abort', cut);
      if (upload) uploads.release(upload);
      // A masked part stays on disk: completion may send it again with the held-back tail.
      if (spooled && !(upload && upload.last?.path === spooled.path)) await discard(spooled.path);
      if (upstream !== null && !upstream.body.destroyed) upstream.body.destroy();
    }
  }

  async function afterSuccess(
    connection: Connection,
    target: S3Target,
    upstream: Dispatcher.ResponseData,
    admission: Admission,
    upload: ReturnType<MaskedUploads['take']> | null,
    spooled: SpooledBody | null,
    responseXml: string | null,
  ): Promise<void> {
    const op = target.facts.operation;
    const header = (h: string) => {
      const v = upstream.headers[h];
      return typeof v === 'string' ? v : null;
    };
    if (op === 'CreateMultipartUpload' && admission.masked) {
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(responseXml ?? '')?.[1];
      const masker = admission.textStream();
      if (uploadId && masker) uploads.start(uploadId, target.bucket!, target.key!, masker);
    }
    if (op === 'UploadPart' && upload && spooled) {
      await discard(upload.last?.path);
      upload.last = { number: target.partNumber!, path: spooled.path, etag: header('etag') ?? '' };
      if (spooled.checksum) upload.checksums.set(target.partNumber!, { name: checksumElement(spooled.checksum.algorithm), value: spooled.checksum.value });
    }
    if (op === 'AbortMultipartUpload' || op === 'CompleteMultipartUpload') await uploads.end(target.uploadId!);
    if (op === 'PutObject' || op === 'CompleteMultipartUpload') {
      const etag = op === 'PutObject' ? header('etag') : (/<ETag>([^<]+)<\/ETag>/.exec(responseXml ?? '')?.[1]?.replace(/&quot;/g, '"') ?? null);
      await options
        .link({ interactionId: admission.interaction.id, connection: connection.name, bucket: target.bucket!, key: target.key!, etag, versionId: header('x-amz-version-id'), writtenAt: now() })
        .catch((err) => logger.error({ err, connection: connection.name }, 'could not record which request wrote an object'));
    }
  }

  /** At completion, the text the masker still holds goes out appended to the last part, sent again. */
  async function flushLastPart(connection: Connection, target: S3Target, upload: ReturnType<MaskedUploads['take']>, signal: AbortSignal, virtualHost: boolean): Promise<void> {
    const tail = upload.masker.end();
    const last = upload.last;
    if (tail === '' || last === null) return;
    const { createReadStream } = await import('node:fs');
    async function* joined(): AsyncGenerator<Buffer> {
      for await (const piece of createReadStream(last!.path)) yield piece as Buffer;
      yield Buffer.from(tail, 'utf8');
    }
    const algorithm = upload.checksums.has(last.number) ? algorithmFromElement(upload.checksums.get(last.number)!.name) : null;
    const again = await spool(joined(), { signedSha256: null, headerChecksum: null, forwardChecksum: algorithm, masker: null, keepHeld: false, signal });
    try {
      const headers: Record<string, string> = {};
      if (again.checksum) headers[checksumHeader(again.checksum.algorithm)] = again.checksum.value;
      const response = await callUpstream(pools, connection, {
        method: 'PUT',
        bucket: target.bucket,
        key: target.key,
        query: [['partNumber', String(last.number)], ['uploadId', upload.uploadId]],
        headers,
        body: again,
        signal,
        virtualHost,
      });
      await response.body.dump();
      if (response.statusCode !== 200) throw new BadRequest(`the upstream refused the last part sent again with the held-back text (HTTP ${response.statusCode}); the upload was not completed`);
      const etag = response.headers.etag;
      upload.replaced.set(last.number, {
        etag: typeof etag === 'string' ? etag : '',
        checksum: again.checksum ? { name: checksumElement(again.checksum.algorithm), value: again.checksum.value } : null,
      });
    } finally {
      await discard(again.path);
    }
  }

  return {
    handle: (req, res) => {
      // A request cut on revocation or by its client may still be written to by a stream under way:
      // that error has nobody to reach and must not end the process.
      req.on('error', ignore);
      res.on('error', ignore);
      const requestId = pipeline.requestId();
      res.setHeader('x-amz-request-id', requestId);
      res.setHeader('x-request-id', requestId);
      handle(req, res, requestId).catch((err) => {
        const error = toGatewayError(err);
        if (error.code === 'internal') logger.error({ err, url: req.url?.split('?')[0] }, 's3 request failed');
        writeS3Error(res, error, requestId);
      });
    },
    close: () => uploads.close(),
  };
}

/** The body of a write: decoded, verified against what the client signed, masked, spooled. */
async function readBody(
  req: IncomingMessage,
  headers: Record<string, string>,
  signedBy: SignedBy,
  admission: Admission,
  masker: ReturnType<Admission['textStream']>,
  keepHeld: boolean,
): Promise<SpooledBody> {
  const { auth, secret } = signedBy;
  const mode = auth.payloadHash;
  let source: AsyncIterable<Buffer> = req;
  let forwardChecksum: ChecksumAlgorithm | null = null;
  let headerChecksum: { algorithm: ChecksumAlgorithm; value: string } | null = null;
  const checksumHeaders = Object.keys(headers).filter((h) => /^x-amz-checksum-(?!algorithm$|type$)/.test(h));
  if (checksumHeaders.length > 1) throw new BadRequest('more than one x-amz-checksum-* header');
  if (STREAMING_MODES.has(mode)) {
    if (!(headers['content-encoding'] ?? '').split(',').some((c) => c.trim() === 'aws-chunked')) throw new BadRequest(`${mode} needs Content-Encoding: aws-chunked`);
    const decodedLength = declaredSize({ 'content-length': headers['x-amz-decoded-content-length'] ?? 'x' });
    const trailer = headers['x-amz-trailer'] ?? null;
    if (trailer !== null) forwardChecksum = algorithmOf(trailer);
    source = decodeAwsChunked(req, {
      mode,
      seedSignature: auth.signature,
      scope: auth.scope,
      amzDate: auth.amzDate,
      signer: chunkSigner(auth.scope, secret),
      signingDate: auth.signingDate,
      decodedLength: decodedLength!,
      trailer,
    });
  } else if (mode !== 'UNSIGNED-PAYLOAD' && !/^[0-9a-f]{64}$/.test(mode)) {
    throw new BadRequest(`x-amz-content-sha256 "${mode.slice(0, 80)}" is not a payload mode the gateway accepts`);
  }
  if (checksumHeaders.length === 1) {
    const algorithm = algorithmOf(checksumHeaders[0]!);
    forwardChecksum ??= algorithm;
    if (!STREAMING_MODES.has(mode)) headerChecksum = { algorithm, value: headers[checksumHeaders[0]!]! };
  }
  return spool(source, {
    signedSha256: /^[0-9a-f]{64}$/.test(mode) ? mode : null,
    headerChecksum,
    forwardChecksum,
    masker,
    keepHeld,
    signal: admission.signal,
  });
}

/** A small XML body (completion, multi-delete, tagging) read whole, bounded, verified. */
async function readSmall(req: IncomingMessage, headers: Record<string, string>, auth: SignedBy, admission: Admission): Promise<Buffer> {
  const spooled = await readBody(req, headers, auth, admission, null, false);
  try {
    if (spooled.size > MAX_SMALL_BODY) throw new BadRequest(`the request body is larger than ${MAX_SMALL_BODY} bytes`);
    const { readFile } = await import('node:fs/promises');
    return await readFile(spooled.path);
  } finally {
    await discard(spooled.path);
  }
}

/** Query pairs as signed: decoded without treating `+` as a space, duplicates kept for the signer to refuse. */
function parseSignedQuery(raw: string): [string, string][] {
  return raw
    .split('&')
    .filter((p) => p !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      try {
        return [decodeURIComponent(eq === -1 ? part : part.slice(0, eq)), eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1))];
      } catch {
        throw new BadRequest('the query is not valid percent-encoding');
      }
    });
}

function attribution(admission: Admission): Record<string, string> {
  const { identity, credential, sessionId, id } = admission.interaction;
  // Metadata travels as ASCII header values: names are percent-encoded.
  return {
    'x-amz-meta-gatehouse-principal': encodeURIComponent(identity.name),
    'x-amz-meta-gatehouse-agent': encodeURIComponent(credential.name),
    'x-amz-meta-gatehouse-session': sessionId,
    'x-amz-meta-gatehouse-request': id,
  };
}

const ELEMENTS: Record<ChecksumAlgorithm, string> = { crc32: 'ChecksumCRC32', sha1: 'ChecksumSHA1', sha256: 'ChecksumSHA256' };

function checksumElement(algorithm: ChecksumAlgorithm): string {
  return ELEMENTS[algorithm];
}

function algorithmFromElement(name: string): ChecksumAlgorithm {
  return (Object.entries(ELEMENTS).find(([, e]) => e === name)?.[0] ?? 'crc32') as ChecksumAlgorithm;
}

function ignore(): void {}
