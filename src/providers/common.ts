/** What the provider modules share: facts built the OpenAI way, key headers, error bodies. */
import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest, type GatewayError } from '../errors.ts';
import { foldModel } from '../classify/llm.ts';
import type { LlmFacts } from '../interaction.ts';
import type { ProviderErrorResponse } from './types.ts';

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The facts policy reads, from the pieces a provider module found; tokens estimated as for OpenAI (4 characters a token). */
export function llmFacts(model: string | null, stream: boolean, texts: readonly string[], toolNames: readonly string[], maxTokens: number | null): LlmFacts {
  const messageText = texts.join('\n');
  return {
    model: model === null ? null : foldModel(model),
    stream,
    messageText,
    toolNames,
    maxTokens,
    estimatedInputTokens: Math.ceil(messageText.length / 4),
  };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) {
    if (value.length > 1) throw new BadRequest(`the ${name} header is given more than once`);
    return value[0]?.trim() || undefined;
  }
  return typeof value === 'string' ? value.trim() || undefined : undefined;
}

/**
 * The Gatehouse token from Authorization: Bearer or from the headers (and query values) a
 * provider's SDK sends its key in. Two different ones are refused: which one counts would be
 * a guess, and the other would be left in the request.
 */
export function tokenFrom(headers: IncomingHttpHeaders, keyHeaders: readonly string[], queryKeys: readonly string[] = []): string | undefined {
  const found: string[] = [];
  const auth = headerValue(headers, 'authorization');
  if (auth !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!match) throw new BadRequest('the Authorization header must be "Bearer <token>"');
    found.push(match[1]!);
  }
  for (const name of keyHeaders) {
    const value = headerValue(headers, name);
    if (value !== undefined) found.push(value);
  }
  found.push(...queryKeys);
  const distinct = new Set(found);
  if (distinct.size > 1) throw new BadRequest('the request carries two different keys (headers or query); send the Gatehouse token once');
  return found[0];
}

/** A JSON error body with the gateway's code beside the provider's fields. */
export function jsonError(error: GatewayError, body: unknown): ProviderErrorResponse {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-gatehouse-error': error.code, 'content-length': String(Buffer.byteLength(text)) };
  const retry = error.details.retryAfterSeconds;
  if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry)));
  return { status: error.status, headers, body: text };
}

export function maxOf(body: Json, keys: readonly string[]): number | null {
  for (const key of keys) if (typeof body[key] === 'number') return body[key] as number;
  return null;
}

/** A model named in a path segment: what the upstream decodes, refused when it could be read two ways. */
export function pathModel(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new BadRequest('the model in the path is not valid percent-encoding');
  }
  // An encoded separator or a control character makes the name mean different things to different readers.
  if (decoded === '' || /[/\\:?#\u0000-\u001f\u007f]/.test(decoded) || decoded !== decoded.trim()) {
    throw new BadRequest('the model or deployment in the path is not a plain name');
  }
  return decoded;
}
