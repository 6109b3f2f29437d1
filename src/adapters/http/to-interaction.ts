import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import { classifyHttpRequest } from '../../classify/http.ts';
import { classifyLlmRequest, llmKind } from '../../classify/llm.ts';
import type { RequestBody, RequestDraft } from '../../pipeline.ts';

const TEXT_TYPES = /^(application\/(json|[\w.+-]*\+json|x-www-form-urlencoded|xml|[\w.+-]*\+xml|graphql|x-ndjson)|text\/)/i;

/**
 * Whether a request body is read into memory (so it can be classified, masked and recorded) or
 * streamed through untouched. Text is read; binary uploads (files, images, multipart) stream.
 */
export function isBufferedBody(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type === undefined || TEXT_TYPES.test(type);
}

function isJson(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type !== undefined && /^application\/([\w.+-]*\+)?json/i.test(type);
}

function parseBody(raw: Buffer | null, headers: IncomingHttpHeaders, mustBeJson: boolean): RequestBody {
  if (raw === null) return { type: 'opaque', description: `${headers['content-type'] ?? 'binary'} body` };
  if (raw.length === 0) return { type: 'none' };
  const text = raw.toString('utf8');
  if (isJson(headers) || mustBeJson) {
    try {
      return { type: 'json', value: JSON.parse(text), text };
    } catch (err) {
      throw new BadRequest(`request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  return { type: 'text', text };
}

/** Turns one proxied HTTP request into the pipeline's neutral draft. */
export function toRequestDraft(
  connection: Connection,
  method: string,
  restWithQuery: string,
  headers: IncomingHttpHeaders,
  raw: Buffer | null,
): RequestDraft {
  const http = classifyHttpRequest(method, restWithQuery, headers);
  const bytesIn = raw?.length ?? Number(headers['content-length'] ?? 0);
  if (connection.type === 'openai') {
    const kind = llmKind(method, http.path);
    const body = parseBody(raw, headers, kind !== 'llm.other');
    if (kind !== 'llm.other' && body.type !== 'json') {
      throw new BadRequest(`${http.path} expects a JSON body`);
    }
    const llm = body.type === 'json' ? classifyLlmRequest(body.value) : undefined;
    return {
      kind,
      summary: llm ? { http, llm } : { http },
      scanText: llm?.messageText ?? (body.type === 'text' ? body.text : ''),
      body,
      method,
      target: http.path,
      model: llm?.model ?? null,
      bytesIn,
    };
  }
  const body = parseBody(raw, headers, false);
  return {
    kind: 'http.request',
    summary: { http },
    scanText: body.type === 'text' ? body.text : body.type === 'json' ? JSON.stringify(body.value) : '',
    body,
    method,
    target: http.path,
    model: null,
    bytesIn,
  };
}
