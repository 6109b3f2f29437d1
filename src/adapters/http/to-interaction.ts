import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import { classifyHttpRequest } from '../../classify/http.ts';
import { classifyLlmRequest, llmKind, requestedModel } from '../../classify/llm.ts';
import { bodyScanText, parseRequestBody, type RequestBody as ReadBody } from '../../masking/request-body.ts';
import { formPairs } from '../../masking/form.ts';
import type { RequestBody, RequestDraft } from '../../pipeline.ts';
import { isOverrideParameter, normalizeProxyTarget, refuseOverrideHeaders } from './path.ts';
import { providerFor } from '../../providers/registry.ts';
import { providerDraft } from '../../providers/draft.ts';

const TEXT_TYPES = /^(application\/(json|[\w.+-]*\+json|x-www-form-urlencoded|xml|[\w.+-]*\+xml|graphql|x-ndjson)|text\/)/i;

/**
 * Whether a request body is read into memory (so it can be classified, masked and recorded) or
 * streamed through untouched. Text is read; binary uploads (files, images, multipart) stream.
 */
export function isBufferedBody(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type === undefined || TEXT_TYPES.test(type);
}

// Decoding a compressed body stops here unless the adapter passes its own limit (http.bodyLimit).
const MAX_DECODED_BYTES = 16 * 1024 * 1024;

/** Read as the upstream will read it (decoded, in its charset); the bytes as sent are kept to forward. */
function parseBody(raw: Buffer | null, headers: IncomingHttpHeaders, mustBeJson: boolean, maxDecodedBytes: number): ReadBody {
  const contentEncoding = headers['content-encoding'];
  return parseRequestBody(raw, { contentType: headers['content-type'], contentEncoding }, { json: mustBeJson, maxDecodedBytes });
}

/**
 * A method-override parameter in a body frameworks read parameters from (forms, and JSON for
 * Laravel's `input()`): refused like the header (path.ts), since the body is forwarded as sent.
 */
function refuseBodyOverride(body: RequestBody, headers: IncomingHttpHeaders): void {
  if (body.type === 'json' && typeof body.value === 'object' && body.value !== null && !Array.isArray(body.value)) {
    if (Object.keys(body.value).some(isOverrideParameter)) throw new BadRequest('a method-override field (`_method`) is not accepted: send the request with its real method');
  } else if (body.type === 'text' && /^application\/x-www-form-urlencoded/i.test(headers['content-type'] ?? '')) {
    // Read as the upstream's form parser reads it: percent-decoded, so `%5Fmethod` is `_method`.
    if (formPairs(body.text).some((pair) => isOverrideParameter(pair.key))) {
      throw new BadRequest('a method-override field (`_method`) is not accepted: send the request with its real method');
    }
  }
}

/**
 * Turns one proxied HTTP request into the pipeline's neutral draft. `restWithQuery` must be the
 * target normalizeProxyTarget returned, the one the adapter forwards: a target that normalises to
 * something else is refused, so the gateway never classifies one path and forwards another.
 */
export function toRequestDraft(
  connection: Connection,
  method: string,
  restWithQuery: string,
  headers: IncomingHttpHeaders,
  raw: Buffer | null,
  maxDecodedBytes: number = MAX_DECODED_BYTES,
): RequestDraft {
  if (normalizeProxyTarget(restWithQuery).target !== restWithQuery) {
    throw new BadRequest('the request path is not in the normal form the gateway forwards; it was not forwarded');
  }
  refuseOverrideHeaders(headers);
  const http = classifyHttpRequest(method, restWithQuery, headers);
  const bytesIn = raw?.length ?? Number(headers['content-length'] ?? 0);
  const provider = providerFor(connection.type);
  if (provider !== null) {
    const draft = providerDraft({ provider, http, method, headers, raw, maxDecodedBytes, bytesIn });
    refuseBodyOverride(draft.body, headers);
    return draft;
  }
  if (connection.type === 'openai') {
    const kind = llmKind(method, http.path);
    const body = parseBody(raw, headers, kind !== 'llm.other', maxDecodedBytes);
    if (kind !== 'llm.other' && body.type !== 'json') {
      throw new BadRequest(`${http.path} expects a JSON body`);
    }
    // Which of two equal keys an LLM API reads is its own choice: the prompt checked must be the prompt sent.
    if (kind !== 'llm.other' && body.type === 'json' && body.duplicateKeys) {
      throw new BadRequest(`${http.path}: the JSON body names a key twice in one object; readers disagree on which value counts, so it was not sent`);
    }
    refuseBodyOverride(body, headers);
    const llm = body.type === 'json' ? classifyLlmRequest(body.value, body.text) : undefined;
    return {
      kind,
      summary: llm ? { http, llm } : { http },
      scanText: llm?.messageText ?? bodyScanText(body),
      body,
      method,
      target: http.path,
      // Recorded as sent; policy reads the folded name (llm.model).
      model: body.type === 'json' ? requestedModel(body.value) : null,
      bytesIn,
    };
  }
  const body = parseBody(raw, headers, false, maxDecodedBytes);
  refuseBodyOverride(body, headers);
  return {
    kind: 'http.request',
    summary: { http },
    scanText: bodyScanText(body),
    body,
    method,
    target: http.path,
    model: null,
    bytesIn,
  };
}
