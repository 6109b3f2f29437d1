/**
 * A tool server's result on its way to the agent, through the masker masking/ picks for an MCP
 * connection's JSON: text content, structured content and embedded resources are masked as one
 * JSON document. Under a profile, content the masker cannot read (images, audio, binary
 * resources) fails closed: the whole result is withheld, never passed on half-scanned.
 */
import { MaskingError } from '../../errors.ts';
import type { Admission } from '../../adapter-contract.ts';
import { guardResponseMasker } from '../../connections/credential-echo.ts';

const JSON_TARGET = Object.freeze({ connectionType: 'mcp', contentType: 'application/json', contentEncoding: '' });

export interface MaskedResult {
  readonly value: unknown;
  /** What the recording keeps: the result as the agent receives it, bounded. */
  readonly transcript: string;
  readonly bytes: number;
}

const UNREADABLE_CONTENT: ReadonlySet<string> = new Set(['image', 'audio']);

/** The first part of a result that no masker can read, or null. */
function unreadablePart(result: unknown): string | null {
  if (typeof result !== 'object' || result === null) return null;
  const record = result as Record<string, unknown>;
  const lists = [record.content, record.contents, (record.messages as unknown[] | undefined)?.map((m) => (m as Record<string, unknown> | null)?.content)];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const item of list.flat()) {
      if (typeof item !== 'object' || item === null) continue;
      const part = item as Record<string, unknown>;
      if (typeof part.type === 'string' && UNREADABLE_CONTENT.has(part.type)) return `${part.type} content`;
      if ('blob' in part) return 'a binary resource';
      const resource = part.resource as Record<string, unknown> | undefined;
      if (typeof resource === 'object' && resource !== null && 'blob' in resource) return 'an embedded binary resource';
    }
  }
  return null;
}

/**
 * Masks one result under the admission's profile (and always replaces the gateway's own upstream
 * credential, should the tool server echo it). Throws MaskingError when it must be withheld.
 */
export function maskResult(admission: Admission, result: unknown, credentialForms: readonly string[]): MaskedResult {
  if (admission.masked) {
    const part = unreadablePart(result);
    if (part !== null) throw new MaskingError(`a masking profile applies, but the result holds ${part}, which cannot be scanned; it was withheld`);
  }
  const text = JSON.stringify(result ?? {});
  const masker = guardResponseMasker(admission.responseMasker(JSON_TARGET), credentialForms);
  let out: string;
  let transcript: string;
  if (masker.mode === 'body') {
    const masked = masker.mask(Buffer.from(text, 'utf8'));
    out = typeof masked.body === 'string' ? masked.body : masked.body.toString('utf8');
    transcript = masked.transcript;
  } else {
    const head = masker.push(Buffer.from(text, 'utf8'));
    const tail = masker.end();
    out = `${head.toString()}${tail.toString()}`;
    transcript = masker.transcript();
  }
  if (out === text) return { value: result, transcript, bytes: Buffer.byteLength(out) };
  try {
    return { value: JSON.parse(out) as unknown, transcript, bytes: Buffer.byteLength(out) };
  } catch (err) {
    throw new MaskingError('the masked result is not valid JSON; it was withheld', { cause: err });
  }
}
