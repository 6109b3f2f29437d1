import { MaskingError } from '../errors.ts';
import { type BodyKind, bodyKindOf, isUtf8Charset, parseEncodings, parseMediaType } from './content-type.ts';
import { decodeCharset, encodeCharset } from './charset.ts';
import { canDecode, decodeBody } from './decode-body.ts';
import { maskForm } from './form.ts';
import { createOpenAiSseMasker, type OpenAiSseMasker, sseErrorEvent } from './openai-sse.ts';
import { SseTranscriber } from './sse-transcriber.ts';
import { PROVIDER_FRAMED_STREAMS, PROVIDER_RESPONSE_MASKERS } from './providers/index.ts';
import type { MaskProfile } from './types.ts';

export interface ResponseTarget {
  /** 'openai' | 'http' | 'postgres' | … (ConnectionType). */
  readonly connectionType: string;
  /** The upstream's content-type header value, '' when absent. */
  readonly contentType: string;
  /** The content-encoding header value, '' when absent or 'identity'. */
  readonly contentEncoding: string;
  /** How a provider's response streams when its content type does not say (Gemini's JSON array): providers/types.ts StreamFormat. */
  readonly streamFormat?: string;
}

export interface ResponseMaskerLimits {
  /** Largest body (after decoding) masked whole; beyond it MaskingError. */
  readonly maxBodyBytes: number;
  /** Bytes of text the transcript keeps. */
  readonly transcriptBytes: number;
}

/** Streamed through as it arrives (SSE, or pass-through when no profile applies). */
export interface StreamResponseMasker {
  readonly mode: 'stream';
  /** True when the output is no longer in the upstream's content-encoding (drop content-encoding/content-length). */
  readonly decodes: boolean;
  /** What may be sent to the client now. */
  push(chunk: Buffer): Buffer | string;
  /** The rest (held-back text) at end of stream. */
  end(): Buffer | string;
  /** After a MaskingError from push/end: what ends the stream in a protocol-correct way ('' for plain bodies; bytes for a binary event stream). */
  failure(error: Error): Buffer | string;
  /** What the recording keeps, built by the same parser as the masking (masked under a profile), bounded. */
  transcript(): string;
}

/** Read whole, then masked (JSON, text), decoded first when compressed. */
export interface BodyResponseMasker {
  readonly mode: 'body';
  readonly decodes: boolean;
  mask(body: Buffer): { readonly body: Buffer | string; readonly transcript: string };
}

export type ResponseMasker = StreamResponseMasker | BodyResponseMasker;

// An event may be large (a Responses `response.completed` repeats the whole answer), but not unbounded.
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

function headOf(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  return Buffer.from(text).subarray(0, bytes).toString('utf8').replace(/\uFFFD$/, '');
}

function wrap(err: unknown, what: string): MaskingError {
  return err instanceof MaskingError ? err : new MaskingError(`response masking failed (${what}); the response was withheld`, { cause: err });
}

/** No profile: every byte goes on as it came; the transcript is built on the side. */
class PassThrough implements StreamResponseMasker {
  readonly mode = 'stream';
  readonly decodes = false;
  private bytes = 0;
  private readonly captured: Buffer[] = [];
  private capturedBytes = 0;
  private readonly sse: SseTranscriber | null;

  constructor(
    private readonly kind: 'sse' | 'text' | 'opaque',
    private readonly description: string,
    private readonly compressed: boolean,
    private readonly limit: number,
  ) {
    this.sse = kind === 'sse' ? new SseTranscriber(limit, MAX_EVENT_CHARS) : null;
  }

  push(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    if (this.sse !== null) {
      this.sse.feed(chunk);
    } else if (this.kind === 'text' && this.capturedBytes < this.limit) {
      const part = chunk.subarray(0, this.limit - this.capturedBytes);
      this.captured.push(Buffer.from(part));
      this.capturedBytes += part.length;
    }
    return chunk;
  }

  end(): string {
    this.sse?.finish();
    return '';
  }

  failure(error: Error): string {
    return this.kind === 'sse' ? sseErrorEvent(error) : '';
  }

  transcript(): string {
    if (this.sse !== null) return this.sse.toString();
    if (this.kind === 'text') return Buffer.concat(this.captured).toString('utf8').replace(/\uFFFD$/, '');
    return `[${this.description}, ${this.bytes} bytes${this.compressed ? ', compressed' : ''}]`;
  }
}

/** A profile applies to an event stream: masked event by event as it flows. */
class SseStream implements StreamResponseMasker {
  readonly mode = 'stream';
  readonly decodes = false;
  private readonly masker: OpenAiSseMasker;

  constructor(profile: MaskProfile, limits: ResponseMaskerLimits) {
    this.masker = createOpenAiSseMasker(profile, { maxEventBytes: MAX_EVENT_CHARS, transcriptBytes: limits.transcriptBytes });
  }

  push(chunk: Buffer): string {
    try {
      return this.masker.push(chunk);
    } catch (err) {
      throw wrap(err, 'event stream');
    }
  }

  end(): string {
    try {
      return this.masker.end();
    } catch (err) {
      throw wrap(err, 'event stream');
    }
  }

  failure(error: Error): string {
    return this.masker.failure(error);
  }

  transcript(): string {
    return this.masker.transcript();
  }
}

/** A profile applies to a body read whole: decoded when compressed, masked by its kind. */
class BodyMasker implements BodyResponseMasker {
  readonly mode = 'body';
  readonly decodes: boolean;

  constructor(
    private readonly profile: MaskProfile,
    private readonly kind: BodyKind,
    private readonly codings: readonly string[],
    private readonly limits: ResponseMaskerLimits,
    /** A declared charset other than UTF-8 (decoded to scan, encoded back when masked), else null. */
    private readonly charset: string | null,
  ) {
    this.decodes = codings.length > 0;
  }

  mask(body: Buffer): { body: Buffer | string; transcript: string } {
    try {
      return this.maskBody(body);
    } catch (err) {
      throw wrap(err, this.kind);
    }
  }

  private maskBody(raw: Buffer): { body: Buffer | string; transcript: string } {
    const { maxBodyBytes, transcriptBytes } = this.limits;
    if (raw.length > maxBodyBytes) throw new MaskingError(`the response is larger than ${maxBodyBytes} bytes, so it cannot be scanned; it was withheld`);
    const body = this.codings.length > 0 ? decodeBody(raw, this.codings, maxBodyBytes) : raw;
    if (body.length === 0) return { body, transcript: '' };
    if (this.kind === 'binary') {
      throw new MaskingError('a masking profile applies, but the response has no content type, so it cannot be scanned; it was withheld');
    }
    if (this.kind === 'sse') {
      const sse = createOpenAiSseMasker(this.profile, { maxEventBytes: MAX_EVENT_CHARS, transcriptBytes });
      const out = sse.push(body) + sse.end();
      return { body: out, transcript: sse.transcript() };
    }
    const text = this.charset === null ? body.toString('utf8') : decodeCharset(body, this.charset);
    if (text === null) throw new MaskingError(`a masking profile applies, but the response is not valid "${this.charset}" text, so it cannot be scanned; it was withheld`);
    const masked = this.maskText(text);
    // Nothing masked: the bytes go on as they came (a charset decode would have altered them).
    if (masked === text) return { body, transcript: headOf(text, transcriptBytes) };
    if (this.charset === null) return { body: masked, transcript: headOf(masked, transcriptBytes) };
    // Sent in the charset its header names; a charset we cannot write is withheld, never relabelled.
    const encoded = encodeCharset(masked, this.charset);
    if (encoded === null) throw new MaskingError(`a masking profile applies and the response needed masking, but its charset "${this.charset}" cannot be written back; it was withheld`);
    return { body: encoded, transcript: headOf(masked, transcriptBytes) };
  }

  private maskText(text: string): string {
    switch (this.kind) {
      case 'json':
        return text.trim() === '' ? text : this.profile.maskJsonText(text).text;
      case 'ndjson':
        return this.maskLines(text);
      case 'form':
        return this.maskForm(text);
      default:
        return this.profile.maskText(text).text;
    }
  }

  private maskLines(text: string): string {
    const lines = text.split('\n');
    let changed = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '') continue;
      const masked = this.profile.maskJsonText(line).text;
      if (masked !== line) {
        lines[i] = masked;
        changed = true;
      }
    }
    return changed ? lines.join('\n') : text;
  }

  /** Form pairs are scanned as the reader decodes them, not percent-encoded. */
  private maskForm(text: string): string {
    return maskForm(this.profile, text);
  }
}

/**
 * The masker for one upstream response. Without a profile everything streams through byte for
 * byte. Under a profile: event streams are masked as they flow; JSON, NDJSON, forms and text
 * are read whole and masked (decoded first from gzip, deflate or br, up to maxBodyBytes, and
 * from a declared charset, written back in it when masked); a response that cannot be placed
 * (binary, an unknown encoding or charset, a masked body in a charset we cannot write) is refused with MaskingError, whose message says why and never contains the body.
 */
export function responseMaskerFor(profile: MaskProfile | null, target: ResponseTarget, limits: ResponseMaskerLimits): ResponseMasker {
  const media = parseMediaType(target.contentType);
  const kind = bodyKindOf(media.essence);
  const codings = parseEncodings(target.contentEncoding);
  const framed = codings.length === 0 ? PROVIDER_FRAMED_STREAMS[target.connectionType]?.(profile, target, limits) : null;
  if (framed) return framed;
  if (profile === null) {
    const shape = codings.length > 0 ? 'opaque' : kind === 'sse' ? 'sse' : kind === 'binary' ? 'opaque' : 'text';
    return new PassThrough(shape, target.contentType.trim() || 'body', codings.length > 0, limits.transcriptBytes);
  }
  for (const coding of codings) {
    if (!canDecode(coding)) {
      throw new MaskingError(`a masking profile applies, but the response is encoded with "${coding}", which the gateway cannot decode to scan; it was withheld`);
    }
  }
  if (kind === 'binary' && media.essence !== '') {
    throw new MaskingError(`a masking profile applies, but the response is ${media.essence}, which cannot be scanned; it was withheld (exempt this route from the rule's mask, or ask the upstream for JSON or text)`);
  }
  // Event streams are UTF-8 whatever they declare; other text is read in the charset it declares.
  const charset = kind === 'sse' || isUtf8Charset(media.charset) ? null : media.charset;
  if (charset !== null && decodeCharset(new Uint8Array(0), charset) === null) {
    throw new MaskingError(`a masking profile applies, but the response's charset "${charset}" is unknown to the gateway, so it cannot be scanned; it was withheld`);
  }
  const provider = codings.length === 0 ? PROVIDER_RESPONSE_MASKERS[target.connectionType]?.(profile, target, limits) : null;
  if (provider) return provider;
  if (kind === 'sse' && codings.length === 0) return new SseStream(profile, limits);
  return new BodyMasker(profile, kind, codings, limits, charset);
}
