/** How a response body is read for masking, by its media type. */
export type BodyKind = 'sse' | 'json' | 'ndjson' | 'form' | 'text' | 'binary';

export interface MediaType {
  /** `type/subtype`, lower case; '' when there is no content type. */
  readonly essence: string;
  /** The charset parameter, lower case and unquoted; null when absent. */
  readonly charset: string | null;
}

const NDJSON: ReadonlySet<string> = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines']);
const TEXT_APPS: ReadonlySet<string> = new Set([
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/yaml',
  'application/x-yaml',
  'application/graphql',
  'application/sql',
  'application/x-sh',
  'application/toml',
  'application/json-seq',
]);
const UTF8_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

export function parseMediaType(value: string): MediaType {
  const parts = value.split(';');
  const essence = parts[0]!.trim().toLowerCase();
  let charset: string | null = null;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i]!.indexOf('=');
    if (eq === -1 || parts[i]!.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    charset = parts[i]!.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { essence, charset };
}

export function bodyKindOf(essence: string): BodyKind {
  if (essence === 'text/event-stream') return 'sse';
  if (essence === 'application/json' || essence === 'text/json' || essence.endsWith('+json')) return 'json';
  if (NDJSON.has(essence)) return 'ndjson';
  if (essence === 'application/x-www-form-urlencoded') return 'form';
  if (essence.startsWith('text/') || essence.endsWith('+xml') || TEXT_APPS.has(essence)) return 'text';
  return 'binary';
}

/** A charset the masker reads correctly (as UTF-8); no charset means UTF-8. */
export function isUtf8Charset(charset: string | null): boolean {
  return charset === null || charset === '' || UTF8_CHARSETS.has(charset);
}

/** The codings of a Content-Encoding header in the order they were applied, `identity` left out. */
export function parseEncodings(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding !== '' && coding !== 'identity') out.push(coding);
  }
  return out;
}
