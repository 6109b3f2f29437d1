/**
 * A request body as the upstream will read it, and its masking. The body is read the way its
 * headers say (Content-Encoding undone, a declared charset decoded, forms percent-decoded) so
 * that what is scanned is what the upstream sees; the bytes as sent are kept, so a body that
 * nothing masked goes on byte for byte.
 */
import { BadRequest, MaskingError } from '../errors.ts';
import { bodyKindOf, isUtf8Charset, parseEncodings, parseMediaType } from './content-type.ts';
import { decodeBody } from './decode-body.ts';
import { formPairs, maskForm } from './form.ts';
import { parseJsonStrict } from './json-strict.ts';
import type { MaskProfile } from './types.ts';

/** How the body's text was read from its bytes, when not simply as UTF-8. */
export interface BodyWire {
  /** Content codings undone to read it, in the order they were applied. */
  readonly codings: readonly string[];
  /** The declared (or, for invalid UTF-8, assumed) charset it was decoded from, when not UTF-8. */
  readonly charset: string | null;
}

export type RequestBody =
  | { readonly type: 'none' }
  /**
   * `text` is the body as read (decoded), `raw` the bytes as sent. A masked body is a new
   * object without `raw`: the adapter forwards `raw` when it is there, and the text otherwise.
   */
  | {
      readonly type: 'json';
      readonly value: unknown;
      readonly text?: string;
      readonly raw?: Buffer;
      readonly wire?: BodyWire;
      /** Some object names a key twice: refused under a profile (readers disagree on which value counts). */
      readonly duplicateKeys?: boolean;
    }
  | { readonly type: 'text'; readonly text: string; readonly raw?: Buffer; readonly wire?: BodyWire; readonly form?: boolean }
  /** Bytes we do not read (binary uploads, unknown encodings): never masked, so refused whenever a profile applies. */
  | { readonly type: 'opaque'; readonly description: string; readonly raw?: Buffer };

export interface BodyHeaders {
  readonly contentType?: string | undefined;
  readonly contentEncoding?: string | undefined;
}

export interface ParseOptions {
  /** The route expects JSON (an LLM API): anything else is a bad request. */
  readonly json: boolean;
  /** Most bytes a compressed body may decode to. */
  readonly maxDecodedBytes: number;
}

// Top-level keys that decide how an LLM request is classified: named twice, refused always.
const CLASSIFYING_KEYS: ReadonlySet<string> = new Set(['model', 'messages', 'stream', 'input', 'prompt', 'tools']);

function isJsonType(essence: string): boolean {
  return /^application\/([\w.+-]*\+)?json$/.test(essence);
}

function utf16FromBom(bytes: Buffer): string | null {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  return null;
}

/** Text in the declared charset; null when it cannot be decoded. Invalid UTF-8 reads as windows-1252, as browsers read it. */
function decodeText(bytes: Buffer, declared: string | null): { text: string; charset: string | null } | null {
  const charset = declared !== null && !isUtf8Charset(declared) ? declared : utf16FromBom(bytes);
  if (charset === null) {
    try {
      return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes), charset: null };
    } catch {
      return { text: new TextDecoder('windows-1252').decode(bytes), charset: 'windows-1252' };
    }
  }
  try {
    return { text: new TextDecoder(charset, { fatal: true }).decode(bytes), charset };
  } catch {
    return null;
  }
}

/**
 * Reads one request body. Throws BadRequest for JSON that does not parse, for an LLM body that
 * cannot be read, and for JSON that names a classifying top-level key (`model`, `messages`,
 * `stream`…) twice, whatever the profile. What cannot be read is `opaque` (with its bytes).
 */
export function parseRequestBody(raw: Buffer | null, headers: BodyHeaders, options: ParseOptions): RequestBody {
  if (raw === null) return { type: 'opaque', description: `${headers.contentType ?? 'binary'} body` };
  if (raw.length === 0) return { type: 'none' };
  const media = parseMediaType(headers.contentType ?? '');
  const json = options.json || isJsonType(media.essence);
  const unreadable = (why: string): RequestBody => {
    if (json) throw new BadRequest(`the request body ${why}`);
    return { type: 'opaque', description: `body that ${why}`, raw };
  };

  const codings = parseEncodings(headers.contentEncoding ?? '');
  let bytes = raw;
  if (codings.length > 0) {
    try {
      bytes = decodeBody(raw, codings, options.maxDecodedBytes);
    } catch {
      return unreadable(`is encoded with "${codings.join(', ')}", which the gateway cannot decode (unknown, corrupt, or over ${options.maxDecodedBytes} bytes decoded)`);
    }
  }
  const decoded = decodeText(bytes, media.charset);
  if (decoded === null) return unreadable(`is in charset "${media.charset}", which the gateway cannot decode`);
  const wire: BodyWire | undefined = codings.length > 0 || decoded.charset !== null ? { codings, charset: decoded.charset } : undefined;
  const text = decoded.text;

  if (json) {
    let parsed;
    try {
      parsed = parseJsonStrict(text);
    } catch (err) {
      throw new BadRequest(`request body is not valid JSON: ${(err as Error).message}`);
    }
    const classifying = parsed.duplicateTopLevel.filter((k) => CLASSIFYING_KEYS.has(k));
    if (classifying.length > 0) {
      throw new BadRequest(`the JSON body names "${classifying.join('", "')}" more than once; readers disagree on which counts, so it was not sent`);
    }
    return { type: 'json', value: parsed.value, text, raw, ...(wire ? { wire } : {}), ...(parsed.duplicateKeys ? { duplicateKeys: true } : {}) };
  }
  if (bodyKindOf(media.essence) === 'form') return { type: 'text', text, raw, form: true, ...(wire ? { wire } : {}) };
  return { type: 'text', text, raw, ...(wire ? { wire } : {}) };
}

/** What policy scans for entities: the body as the upstream reads it. */
export function bodyScanText(body: RequestBody): string {
  switch (body.type) {
    case 'json': {
      const values = JSON.stringify(body.value);
      // With a key named twice, both values are what some reader sees.
      return body.duplicateKeys && body.text !== undefined ? `${values}\n${body.text}` : values;
    }
    case 'text':
      return body.form ? formPairs(body.text).map((p) => (p.value === null ? p.key : `${p.key}=${p.value}`)).join('\n') : body.text;
    default:
      return '';
  }
}

/**
 * Masks a request body under a profile. Returns `body` itself when nothing was masked (the
 * adapter then forwards its `raw` bytes); otherwise a new body without `raw`, whose text the
 * adapter sends as UTF-8 (see `outgoingRequestBody`). Throws BadRequest for JSON with a key
 * named twice and MaskingError for a body that cannot be read.
 */
export function maskRequestBody(profile: MaskProfile, body: RequestBody): RequestBody {
  switch (body.type) {
    case 'none':
      return body;
    case 'json': {
      if (body.duplicateKeys) {
        throw new BadRequest('a masking profile applies, but the JSON body names a key twice in one object; readers disagree on which value counts, so it cannot be masked reliably and was not sent');
      }
      // maskJson keeps the identity of what it did not change, so an untouched body is sent as it came.
      const value = profile.maskJson(body.value).value;
      return value === body.value ? body : { type: 'json', value, text: JSON.stringify(value), ...(body.wire ? { wire: body.wire } : {}) };
    }
    case 'text': {
      const text = body.form ? maskForm(profile, body.text) : profile.maskText(body.text).text;
      return text === body.text ? body : { type: 'text', text, ...(body.form ? { form: true } : {}), ...(body.wire ? { wire: body.wire } : {}) };
    }
    case 'opaque':
      throw new MaskingError(`a masking profile applies but the request body (${body.description}) cannot be scanned; it was not sent`);
  }
}

/** What an adapter sends for a body, and the header changes that go with it. */
export interface OutgoingBody {
  readonly bytes: Buffer;
  /** The bytes are no longer in the request's Content-Encoding: drop that header. */
  readonly dropContentEncoding: boolean;
  /** The Content-Type to send instead (charset now UTF-8), or null to keep the client's. */
  readonly contentType: string | null;
}

/**
 * The bytes to forward for a (masked) body, or null when there are none (no body) or the
 * original request stream should be piped (opaque, unread). A body as read goes on byte for
 * byte; a masked one goes as UTF-8, decoded from any Content-Encoding, charset set to UTF-8.
 */
export function outgoingRequestBody(body: RequestBody, contentType: string | undefined): OutgoingBody | null {
  if (body.type === 'none') return null;
  if (body.raw !== undefined) return { bytes: body.raw, dropContentEncoding: false, contentType: null };
  if (body.type === 'opaque') return null;
  const text = body.type === 'json' ? (body.text ?? JSON.stringify(body.value)) : body.text;
  const wire = body.wire;
  const recharset = wire?.charset != null && contentType !== undefined;
  return {
    bytes: Buffer.from(text, 'utf8'),
    dropContentEncoding: wire !== undefined && wire.codings.length > 0,
    contentType: recharset ? withUtf8Charset(contentType) : null,
  };
}

function withUtf8Charset(contentType: string): string {
  const params = contentType.split(';').filter((p, i) => i === 0 || !/^\s*charset\s*=/i.test(p));
  return [...params, ' charset=utf-8'].join(';');
}
