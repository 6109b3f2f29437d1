/**
 * Multipart uploads under a masking profile: one text masker runs across all parts of an
 * upload, so a value split between part N and N+1 is seen whole. What the masker still holds
 * at the end of part N goes out at the start of part N+1; at completion the rest is appended
 * to the last part, which is sent again (S3 keeps the latest upload of a part number) and its
 * ETag and checksum replaced in the completion request. The state lives in memory on the
 * replica that saw CreateMultipartUpload: route an upload's requests to one replica (docs/s3.md).
 */
import { BadRequest } from '../../errors.ts';
import type { TextStreamMasker } from '../../masking/index.ts';
import { discard } from './spool.ts';

export interface SentPart {
  readonly number: number;
  /** The spooled (masked) bytes as sent, kept until the next part or the completion. */
  readonly path: string;
  readonly etag: string;
}

export interface MaskedUpload {
  readonly uploadId: string;
  readonly bucket: string;
  readonly key: string;
  readonly masker: TextStreamMasker;
  last: SentPart | null;
  busy: boolean;
  /** Parts re-sent at completion: part number → the ETag and checksum that replace the client's. */
  readonly replaced: Map<number, { etag: string; checksum: { name: string; value: string } | null }>;
  /** Checksums the gateway computed per part, replacing the client's (which were over unmasked bytes). */
  readonly checksums: Map<number, { name: string; value: string }>;
}

const MAX_UPLOADS = 10_000;

export class MaskedUploads {
  private readonly uploads = new Map<string, MaskedUpload>();

  start(uploadId: string, bucket: string, key: string, masker: TextStreamMasker): void {
    if (this.uploads.size >= MAX_UPLOADS) throw new BadRequest('too many masked multipart uploads are open on this gateway; complete or abort some');
    this.uploads.set(uploadId, { uploadId, bucket, key, masker, last: null, busy: false, replaced: new Map(), checksums: new Map() });
  }

  /** The upload a part or completion belongs to; refused when this replica did not start it. */
  take(uploadId: string, bucket: string, key: string): MaskedUpload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      throw new BadRequest('this multipart upload was not started through this gateway replica under the current masking profile (or it restarted): start the upload again');
    }
    if (upload.busy) throw new BadRequest('under a masking profile, the parts of one upload are sent one at a time, in order');
    upload.busy = true;
    return upload;
  }

  release(upload: MaskedUpload): void {
    upload.busy = false;
  }

  async end(uploadId: string): Promise<void> {
    const upload = this.uploads.get(uploadId);
    this.uploads.delete(uploadId);
    await discard(upload?.last?.path);
  }

  async close(): Promise<void> {
    for (const id of [...this.uploads.keys()]) await this.end(id);
  }
}

/**
 * The completion request with the re-sent parts' ETags and the gateway's part checksums in
 * place of the client's. Rewritten by PartNumber; anything else in the document is kept.
 */
export function rewriteCompletion(xml: string, upload: MaskedUpload): string {
  return xml.replace(/<Part>([\s\S]*?)<\/Part>/g, (whole, inner: string) => {
    const number = Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(inner)?.[1]);
    if (!Number.isInteger(number)) throw new BadRequest('a Part in CompleteMultipartUpload has no PartNumber');
    let out = inner.replace(/<Checksum(CRC32C?|CRC64NVME|SHA1|SHA256)>[^<]*<\/Checksum\1>/g, '');
    const replaced = upload.replaced.get(number);
    const checksum = replaced?.checksum ?? upload.checksums.get(number) ?? null;
    if (replaced) out = out.replace(/<ETag>[^<]*<\/ETag>/, `<ETag>${replaced.etag.replace(/[<&]/g, '')}</ETag>`);
    if (checksum) out += `<${checksum.name}>${checksum.value}</${checksum.name}>`;
    return whole.length > 0 ? `<Part>${out}</Part>` : whole;
  });
}
