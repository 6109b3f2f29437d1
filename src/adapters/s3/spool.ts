/**
 * An object body on its way upstream: decoded (aws-chunked or plain), its client-side hash and
 * checksum verified, masked as UTF-8 text in pieces when a profile applies, and written to a
 * temporary file, because S3 needs the length (and the payload hash the gateway signs) before
 * the body; no object is ever held whole in memory. The file is removed by `discard`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { BadRequest, MaskingError, toGatewayError } from '../../errors.ts';
import type { TextStreamMasker } from '../../masking/index.ts';
import { runningChecksum, type ChecksumAlgorithm, type RunningChecksum } from './checksums.ts';
import { sameHex } from './sigv4.ts';

export interface SpooledBody {
  readonly path: string;
  readonly size: number;
  /** Hex SHA-256 of what is forwarded (the upstream signature's payload hash). */
  readonly sha256: string;
  /** Base64 MD5, for a client that sent Content-MD5. */
  readonly md5: string;
  /** The client's checksum algorithm computed again over what is forwarded, base64. */
  readonly checksum: { readonly algorithm: ChecksumAlgorithm; readonly value: string } | null;
  /** Whether masking changed anything. */
  readonly changed: boolean;
}

export interface SpoolOptions {
  /** The literal payload hash the client signed (hex), checked once the body is in; null when unsigned or streamed. */
  readonly signedSha256: string | null;
  /** A checksum header the client sent with a plain body (x-amz-checksum-*), checked the same way. */
  readonly headerChecksum: { readonly algorithm: ChecksumAlgorithm; readonly value: string } | null;
  /** The algorithm to compute over what is forwarded (the client's), or null. */
  readonly forwardChecksum: ChecksumAlgorithm | null;
  /** Masks text pieces (a profile applies); null forwards bytes as they came. */
  readonly masker: TextStreamMasker | null;
  /** Leave text held back in the masker (a multipart part whose tail the next part continues). */
  readonly keepHeld: boolean;
  readonly signal: AbortSignal;
}

async function write(out: WriteStream, data: Buffer | string): Promise<void> {
  if (!out.write(data)) await once(out, 'drain');
}

export function spoolPath(): string {
  return join(tmpdir(), `gatehouse-s3-${randomBytes(12).toString('hex')}`);
}

export async function spool(source: AsyncIterable<Buffer>, options: SpoolOptions): Promise<SpooledBody> {
  const path = spoolPath();
  const out = createWriteStream(path, { mode: 0o600 });
  // A failure surfaces through the write being awaited (once() rejects on 'error'); a write to a
  // file destroyed after an abort has nobody left to tell.
  let failed: Error | null = null;
  out.on('error', (err) => void (failed ??= err));
  const sent = createHash('sha256');
  const md5 = createHash('md5');
  const forward: RunningChecksum | null = options.forwardChecksum === null ? null : runningChecksum(options.forwardChecksum);
  const received = options.signedSha256 === null ? null : createHash('sha256');
  const headerSum = options.headerChecksum === null ? null : runningChecksum(options.headerChecksum.algorithm);
  const decoder = options.masker === null ? null : new TextDecoder('utf-8', { fatal: true });
  let size = 0;
  let changed = false;
  const emit = async (data: Buffer | string) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.length === 0) return;
    size += bytes.length;
    sent.update(bytes);
    md5.update(bytes);
    forward?.update(bytes);
    await write(out, bytes);
  };
  try {
    for await (const piece of source) {
      if (options.signal.aborted) throw toGatewayError(options.signal.reason);
      received?.update(piece);
      headerSum?.update(piece);
      if (decoder === null) {
        await emit(piece);
        continue;
      }
      let text: string;
      try {
        text = decoder.decode(piece, { stream: true });
      } catch {
        throw new MaskingError('a masking profile applies, but the object body is not valid UTF-8 text, so it cannot be scanned; it was not stored');
      }
      const masked = options.masker!.push(text);
      await emit(masked);
      if (!changed && masked !== text) changed = true;
    }
    if (decoder !== null) {
      let rest: string;
      try {
        rest = decoder.decode();
      } catch {
        throw new MaskingError('a masking profile applies, but the object body ends inside a UTF-8 character; it was not stored');
      }
      const tail = options.masker!.push(rest) + (options.keepHeld ? '' : options.masker!.end());
      await emit(tail);
      // A masked stream never says whether it changed a held-back value: compare its findings instead.
      changed ||= options.masker!.findings.length > 0;
    }
    if (received !== null && !sameHex(received.digest('hex'), options.signedSha256!)) {
      throw new BadRequest('the body does not match the x-amz-content-sha256 it was signed with; it was not stored');
    }
    if (headerSum !== null && headerSum.digest() !== options.headerChecksum!.value) {
      throw new BadRequest(`the x-amz-checksum-${options.headerChecksum!.algorithm} header does not match the body; it was not stored`);
    }
    out.end();
    await once(out, 'close');
    if (failed) throw failed;
    return {
      path,
      size,
      sha256: sent.digest('hex'),
      md5: md5.digest('base64'),
      checksum: forward === null ? null : { algorithm: forward.algorithm, value: forward.digest() },
      changed,
    };
  } catch (err) {
    out.destroy();
    await discard(path);
    throw err;
  }
}

export async function discard(path: string | null | undefined): Promise<void> {
  if (path) await rm(path, { force: true }).catch(() => undefined);
}
