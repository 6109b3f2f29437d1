import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { MaskingError } from '../errors.ts';

const DECODABLE: ReadonlySet<string> = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

export function canDecode(coding: string): boolean {
  return DECODABLE.has(coding);
}

function isTooLarge(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
}

function decodeOne(body: Buffer, coding: string, maxBytes: number): Buffer {
  const options = { maxOutputLength: maxBytes };
  if (coding === 'gzip' || coding === 'x-gzip') return gunzipSync(body, options);
  if (coding === 'br') return brotliDecompressSync(body, options);
  try {
    return inflateSync(body, options);
  } catch (err) {
    if (isTooLarge(err)) throw err;
    // Some servers send raw deflate under "deflate", without the zlib wrapper the spec asks for.
    return inflateRawSync(body, options);
  }
}

/**
 * Undoes a Content-Encoding list (last applied, first undone), never producing more than
 * `maxBytes`: a small body that would expand beyond it is refused, not decompressed.
 */
export function decodeBody(body: Buffer, codings: readonly string[], maxBytes: number): Buffer {
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    if (!canDecode(coding)) throw new MaskingError(`the response is encoded with "${coding}", which the gateway cannot decode to scan; it was withheld`);
    try {
      out = decodeOne(out, coding, maxBytes);
    } catch (err) {
      if (isTooLarge(err)) {
        throw new MaskingError(`the response decompresses to more than ${maxBytes} bytes, so it cannot be scanned; it was withheld`, { cause: err });
      }
      throw new MaskingError(`the response's ${coding} encoding is corrupt, so it cannot be scanned; it was withheld`, { cause: err });
    }
  }
  return out;
}
