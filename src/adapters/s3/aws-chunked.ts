/**
 * Decodes an `aws-chunked` request body (what the AWS SDKs send for streamed uploads): each
 * chunk is `hex-size[;chunk-signature=…]\r\n data \r\n`, the last has size 0 and may be
 * followed by trailers (a checksum, and for signed trailers x-amz-trailer-signature). Signed
 * modes chain every chunk's signature from the request's own (the seed); each is checked
 * before its data is released. The decoder keeps one buffer and offset across pieces.
 */
import { createHash } from 'node:crypto';
import type { SignatureV4 } from '@smithy/signature-v4';
import { AuthError, BadRequest } from '../../errors.ts';
import { algorithmOf, runningChecksum, type RunningChecksum } from './checksums.ts';
import { sameHex, type SignatureScope } from './sigv4.ts';

export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const STREAMING_MODES: ReadonlySet<string> = new Set([STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

/** Larger chunks than any SDK sends (they use 64 KiB): a bigger one is refused, not buffered. */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
const MAX_LINE = 4096;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface ChunkedOptions {
  readonly mode: string;
  /** The request's own signature, which the first chunk's chains from (signed modes). */
  readonly seedSignature: string;
  readonly scope: SignatureScope;
  readonly amzDate: string;
  readonly signer: SignatureV4;
  readonly signingDate: Date;
  /** x-amz-decoded-content-length: the decoded body must be exactly this long. */
  readonly decodedLength: number;
  /** x-amz-trailer: the checksum trailer announced, e.g. x-amz-checksum-crc32; null when none. */
  readonly trailer: string | null;
}

const bad = (message: string) => new BadRequest(`aws-chunked body: ${message}`);

/** Reads lines and bytes from a stream of pieces, keeping one buffer. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.it.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    return true;
  }

  async line(): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf('\r\n');
      if (at !== -1) {
        if (at > MAX_LINE) throw bad('a chunk header line is too long');
        const line = this.buf.subarray(0, at).toString('latin1');
        this.buf = this.buf.subarray(at + 2);
        return line;
      }
      if (this.buf.length > MAX_LINE) throw bad('a chunk header line is too long');
      if (!(await this.fill())) throw bad('the body ended inside a chunk header (truncated)');
    }
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.fill())) throw bad('the body ended inside a chunk (truncated)');
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    return out;
  }

  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) if (!(await this.fill())) return true;
    return false;
  }
}

/**
 * The decoded body, chunk by chunk. Throws BadRequest for a malformed or truncated body,
 * AuthError for a chunk or trailer signature that does not match, and BadRequest for a
 * checksum that does not match what arrived.
 */
export async function* decodeAwsChunked(source: AsyncIterable<Buffer>, options: ChunkedOptions): AsyncGenerator<Buffer> {
  const signed = options.mode === STREAMING_SIGNED || options.mode === STREAMING_SIGNED_TRAILER;
  const trailing = options.mode !== STREAMING_SIGNED;
  if (trailing && options.trailer === null) throw bad('the mode has trailers but x-amz-trailer names none');
  if (!trailing && options.trailer !== null) throw bad('x-amz-trailer is only allowed with a trailer mode');
  const checksum: RunningChecksum | null = options.trailer === null ? null : runningChecksum(algorithmOf(options.trailer));
  const scope = `${options.scope.date}/${options.scope.region}/${options.scope.service}/aws4_request`;
  let previous = options.seedSignature;
  let total = 0;
  const reader = new Reader(source);

  const sign = (text: string) => options.signer.sign(text, { signingDate: options.signingDate, signingRegion: options.scope.region, signingService: options.scope.service });

  for (;;) {
    const header = await reader.line();
    const m = /^([0-9a-fA-F]{1,8})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(header);
    if (!m) throw bad('a chunk header is malformed');
    const size = parseInt(m[1]!, 16);
    if (size > MAX_CHUNK_BYTES) throw bad(`a chunk is larger than ${MAX_CHUNK_BYTES} bytes`);
    if (signed !== (m[2] !== undefined)) throw bad(signed ? 'a chunk has no chunk-signature' : 'a chunk-signature in an unsigned body');
    const data = size === 0 ? Buffer.alloc(0) : await reader.bytes(size);
    if (signed) {
      const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', options.amzDate, scope, previous, EMPTY_SHA256, createHash('sha256').update(data).digest('hex')].join('\n');
      const expected = await sign(toSign);
      if (!sameHex(expected, m[2]!)) throw new AuthError('auth_invalid', 'a chunk signature of the aws-chunked body does not match; the upload was refused');
      previous = expected;
    }
    if (size === 0) break;
    if ((await reader.bytes(2)).toString('latin1') !== '\r\n') throw bad('a chunk does not end with CRLF');
    total += size;
    if (total > options.decodedLength) throw bad('the body is longer than x-amz-decoded-content-length');
    checksum?.update(data);
    yield data;
  }
  if (total !== options.decodedLength) throw bad('the body is shorter than x-amz-decoded-content-length');
  if (!trailing) {
    const end = await reader.line();
    if (end !== '') throw bad('unexpected data after the last chunk');
  } else {
    await readTrailers(reader, options, checksum!, signed, previous, sign, scope);
  }
  if (!(await reader.atEnd())) throw bad('unexpected data after the body');
}

async function readTrailers(
  reader: Reader,
  options: ChunkedOptions,
  checksum: RunningChecksum,
  signed: boolean,
  previous: string,
  sign: (text: string) => Promise<string>,
  scope: string,
): Promise<void> {
  const trailers = new Map<string, string>();
  const lines: string[] = [];
  for (;;) {
    const line = await reader.line();
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon === -1) throw bad('a trailer is malformed');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (trailers.has(name)) throw bad(`trailer ${name} is sent twice`);
    trailers.set(name, line.slice(colon + 1).trim());
    if (name !== 'x-amz-trailer-signature') lines.push(`${name}:${line.slice(colon + 1).trim()}\n`);
    if (trailers.size > 4) throw bad('too many trailers');
  }
  const announced = options.trailer!.toLowerCase();
  const value = trailers.get(announced);
  if (value === undefined) throw bad(`the trailer ${announced} that x-amz-trailer announced is missing`);
  for (const name of trailers.keys()) if (name !== announced && name !== 'x-amz-trailer-signature') throw bad(`unexpected trailer ${name}`);
  if (signed) {
    const given = trailers.get('x-amz-trailer-signature');
    if (given === undefined) throw bad('the signed trailer has no x-amz-trailer-signature');
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', options.amzDate, scope, previous, createHash('sha256').update(lines.join('')).digest('hex')].join('\n');
    if (!sameHex(await sign(toSign), given)) throw new AuthError('auth_invalid', 'the trailer signature of the aws-chunked body does not match; the upload was refused');
  } else if (trailers.has('x-amz-trailer-signature')) {
    throw bad('a trailer signature in an unsigned-trailer body');
  }
  if (checksum.digest() !== value) throw new BadRequest(`the ${announced} checksum does not match the body that arrived; the upload was refused`);
}
