/**
 * The flexible checksums S3 clients send (x-amz-checksum-*): verified on what the client sent,
 * and computed again on what the gateway forwards after masking. CRC32 comes from node:zlib,
 * SHA-1 and SHA-256 from node:crypto; CRC32C and CRC64NVME have no implementation in Node 20 or
 * among this project's dependencies, so a request using them is refused (docs/s3.md).
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BadRequest } from '../../errors.ts';

export type ChecksumAlgorithm = 'crc32' | 'sha1' | 'sha256';
const SUPPORTED: ReadonlySet<string> = new Set(['crc32', 'sha1', 'sha256']);
const KNOWN: ReadonlySet<string> = new Set(['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256']);

export interface RunningChecksum {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Buffer): void;
  /** Base64, as the header carries it. */
  digest(): string;
}

export function checksumHeader(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm}`;
}

/** The algorithm a header or trailer name (x-amz-checksum-crc32) names; refused when unsupported. */
export function algorithmOf(name: string): ChecksumAlgorithm {
  const algorithm = name.toLowerCase().replace(/^x-amz-checksum-/, '');
  if (!KNOWN.has(algorithm)) throw new BadRequest(`unknown checksum ${name}`);
  if (!SUPPORTED.has(algorithm)) {
    throw new BadRequest(`the gateway cannot verify ${algorithm.toUpperCase()} checksums; configure the client to use CRC32 or SHA256 (e.g. ChecksumAlgorithm: 'CRC32')`);
  }
  return algorithm as ChecksumAlgorithm;
}

export function runningChecksum(algorithm: ChecksumAlgorithm): RunningChecksum {
  if (algorithm === 'crc32') {
    let value = 0;
    return {
      algorithm,
      update: (data) => void (value = crc32(data, value)),
      digest: () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(value >>> 0);
        return out.toString('base64');
      },
    };
  }
  const hash: Hash = createHash(algorithm);
  return { algorithm, update: (data) => void hash.update(data), digest: () => hash.digest('base64') };
}
