/**
 * An upstream that echoes the credential the gateway sent it (an error saying "invalid key
 * sk-…", an echo service returning the request's headers) must not show that credential to the
 * agent or to the recording. The credential is known exactly, so it is found by its literal
 * value and the encodings an echo plausibly uses, not by a detector: that works whatever the
 * credential looks like and whatever masking profile applies, including none.
 *
 * Byte-level and content-type blind. What it cannot see: a body still compressed (the caller asks
 * the upstream for identity encoding), and an upstream that transforms the value on purpose
 * (hex, reversed, split by markup): that upstream can always send the secret somehow.
 */
import type { UpstreamCredential } from '../config/schema.ts';
import type { ResponseMasker } from '../masking/index.ts';

/** What an echoed credential is replaced with: plain ASCII, so JSON, SSE and form text stay well formed. */
export const CREDENTIAL_REPLACEMENT = '[UPSTREAM_CREDENTIAL]';

/**
 * Forms shorter than this are not searched for: a value this short would be found in ordinary
 * text by chance, and a credential this short protects nothing anyway.
 */
export const MIN_FORM_LENGTH = 8;

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Every byte outside RFC 3986's unreserved set as %XX (what strict encoders do). */
function percentEncodeAll(value: string, lower: boolean): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (byte < 0x80 && UNRESERVED.test(c)) out += c;
    else {
      const hex = byte.toString(16).padStart(2, '0');
      out += `%${lower ? hex : hex.toUpperCase()}`;
    }
  }
  return out;
}

/** The value inside a JSON string, as JavaScript, PHP (`\/`) and Python (ASCII-only `\uXXXX`) write it. */
function jsonForms(value: string): string[] {
  const plain = JSON.stringify(value).slice(1, -1);
  const ascii = plain.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [plain, plain.replaceAll('/', '\\/'), ascii];
}

/**
 * The base64 characters that depend only on `value`, for each of the three alignments it can
 * have inside a longer encoded string (`Basic dXNlcjpwYXNz`, a base64 of a whole header block):
 * whatever precedes or follows it, these characters appear in the encoding.
 */
function base64Cores(value: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  const cores: string[] = [];
  const bits = value.length * 8;
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString(alphabet);
    const first = Math.ceil((shift * 8) / 6);
    const last = Math.floor((shift * 8 + bits) / 6);
    cores.push(encoded.slice(first, last));
  }
  return cores;
}

function formsOf(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  return [
    secret,
    ...jsonForms(secret),
    encodeURIComponent(secret),
    percentEncodeAll(secret, false),
    percentEncodeAll(secret, true),
    ...base64Cores(bytes, 'base64'),
    ...base64Cores(bytes, 'base64url'),
  ];
}

const cache = new WeakMap<UpstreamCredential, readonly string[]>();

/**
 * Every form in which the credential could come back, longest first (so the longest is replaced
 * when two overlap). Empty when there is no credential. Computed once per credential object.
 */
export function credentialValues(credential: UpstreamCredential | undefined): readonly string[] {
  if (credential === undefined) return [];
  let values = cache.get(credential);
  if (values === undefined) {
    const secrets = [credential.type === 'entra' ? credential.clientSecret : credential.type === 'aws' ? credential.secretAccessKey : credential.value];
    // A temporary AWS key's session token is sent upstream as it is (x-amz-security-token): it can come back.
    if (credential.type === 'aws' && credential.sessionToken !== undefined) secrets.push(credential.sessionToken);
    // The password alone is covered by its own forms; the pair as Basic sends it is covered too,
    // so the username next to it goes with it.
    if (credential.type === 'basic') secrets.push(`${credential.username}:${credential.value}`);
    const forms = new Set<string>();
    for (const secret of secrets) for (const form of formsOf(secret)) if (form.length >= MIN_FORM_LENGTH) forms.add(form);
    values = Object.freeze([...forms].sort((a, b) => b.length - a.length));
    cache.set(credential, values);
  }
  return values;
}

/** Replaces every form in a whole string (a header value, a transcript). */
export function redactLiterals(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) if (out.includes(value)) out = out.replaceAll(value, CREDENTIAL_REPLACEMENT);
  return out;
}

/** Finds and replaces forms in a byte stream pushed in pieces; a form split across pieces is still found. */
export interface LiteralRedactor {
  /** What may be sent now; a tail that could begin a form (at most the longest form − 1 bytes) waits for the next push or end. */
  push(chunk: Buffer): Buffer;
  /** Everything still held back, redacted. */
  end(): Buffer;
}

const EMPTY = Buffer.alloc(0);
const REPLACEMENT = Buffer.from(CREDENTIAL_REPLACEMENT);

interface Patterns {
  /** Longest first. */
  readonly forms: readonly Buffer[];
  /** Each form's first byte: a quick test before comparing a tail with the forms. */
  readonly firsts: ReadonlySet<number>;
}

const compiled = new WeakMap<readonly string[], Patterns>();

/** Compiled once per list: credentialValues returns one list per credential, so this is once per connection. */
function compile(values: readonly string[]): Patterns {
  let patterns = compiled.get(values);
  if (patterns === undefined) {
    patterns = compileForms(values);
    compiled.set(values, patterns);
  }
  return patterns;
}

function compileForms(values: readonly string[]): Patterns {
  const forms = values.map((v) => Buffer.from(v, 'utf8'));
  return { forms, firsts: new Set(forms.map((f) => f[0]!)) };
}

/**
 * Replaces every whole match in `buf`, earliest first (longest at one position, since the forms
 * are sorted longest first). Unless `final`, a tail of `buf` that is the start of some form is
 * returned as `rest` to be completed by the next chunk; only such a tail is held, so an event
 * stream's events are not delayed by text that could not be the credential.
 */
function scan(buf: Buffer, patterns: Patterns, final: boolean): { out: Buffer; rest: Buffer } {
  const { forms, firsts } = patterns;
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    let start = -1;
    let match: Buffer | null = null;
    for (const form of forms) {
      const at = buf.indexOf(form, pos);
      if (at !== -1 && (start === -1 || at < start)) {
        start = at;
        match = form;
      }
    }
    if (match === null) break;
    parts.push(buf.subarray(pos, start), REPLACEMENT);
    pos = start + match.length;
  }
  let keep = buf.length;
  if (!final) {
    // A form that starts before the longest form's length from the end would have matched whole.
    for (let i = Math.max(pos, buf.length - forms[0]!.length + 1); i < buf.length; i++) {
      if (!firsts.has(buf[i]!)) continue;
      const tail = buf.length - i;
      if (forms.some((f) => f.length > tail && buf.compare(f, 0, tail, i) === 0)) {
        keep = i;
        break;
      }
    }
  }
  parts.push(buf.subarray(pos, keep));
  // The held bytes are copied: the caller may reuse the buffer it pushed.
  const rest = keep < buf.length ? Buffer.from(buf.subarray(keep)) : EMPTY;
  return { out: parts.length === 1 ? parts[0]! : Buffer.concat(parts), rest };
}

class StreamRedactor implements LiteralRedactor {
  private pending: Buffer = EMPTY;

  constructor(private readonly patterns: Patterns) {}

  push(chunk: Buffer): Buffer {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const { out, rest } = scan(buf, this.patterns, false);
    this.pending = rest;
    return out;
  }

  end(): Buffer {
    const { out } = scan(this.pending, this.patterns, true);
    this.pending = EMPTY;
    return out;
  }
}

const NOTHING: LiteralRedactor = { push: (chunk) => chunk, end: () => EMPTY };

/** A streaming redactor for these forms; with none it passes every chunk on untouched, holding nothing. */
export function createLiteralRedactor(values: readonly string[]): LiteralRedactor {
  return values.length === 0 ? NOTHING : new StreamRedactor(compile(values));
}

/** Redacts a whole buffer at once (a body read whole); the same buffer when nothing matched. */
export function redactBuffer(body: Buffer, values: readonly string[]): Buffer {
  if (!values.some((v) => body.includes(v))) return body;
  return scan(body, compile(values), true).out;
}

function toBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}

/**
 * Wraps a response masker so that the credential is replaced in what it reads (so its transcript
 * never holds it), in what it sends (a stream masker joins split text back together), and in the
 * transcript (which joins a stream's deltas). The same masker when there is nothing to look for.
 */
export function guardResponseMasker(masker: ResponseMasker, values: readonly string[]): ResponseMasker {
  if (values.length === 0) return masker;
  if (masker.mode === 'body') {
    return {
      mode: 'body',
      decodes: masker.decodes,
      mask(body) {
        const masked = masker.mask(redactBuffer(body, values));
        // Searched again: a compressed body is readable only once the masker decoded it.
        return { body: redactBuffer(toBuffer(masked.body), values), transcript: redactLiterals(masked.transcript, values) };
      },
    };
  }
  const before = createLiteralRedactor(values);
  const after = createLiteralRedactor(values);
  return {
    mode: 'stream',
    decodes: masker.decodes,
    push(chunk) {
      const clean = before.push(chunk);
      return clean.length === 0 ? EMPTY : after.push(toBuffer(masker.push(clean)));
    },
    end() {
      const rest = before.end();
      const held = rest.length === 0 ? EMPTY : after.push(toBuffer(masker.push(rest)));
      return Buffer.concat([held, after.push(toBuffer(masker.end())), after.end()]);
    },
    // What the redactors still hold is dropped with the failed stream: never sent unsearched.
    failure: (error) => masker.failure(error),
    transcript: () => redactLiterals(masker.transcript(), values),
  };
}
