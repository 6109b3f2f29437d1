/**
 * A provider request as the pipeline's draft: the HTTP facts every request has, plus on the
 * provider's inference routes the same `request.llm.*` facts an OpenAI request has. The body of
 * such a route must be JSON and name none of its keys twice (the prompt checked must be the
 * prompt sent); elsewhere it is read like any proxied body.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest } from '../errors.ts';
import type { HttpFacts, LlmFacts } from '../interaction.ts';
import type { RequestDraft } from '../adapter-contract.ts';
import { bodyScanText, parseRequestBody } from '../masking/request-body.ts';
import { llmFacts } from './common.ts';
import type { LlmProvider, ProviderRoute } from './types.ts';

export interface ProviderDraftInput {
  readonly provider: LlmProvider;
  readonly http: HttpFacts;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer | null;
  readonly maxDecodedBytes: number;
  readonly bytesIn: number;
}

export function providerRoute(provider: LlmProvider, method: string, http: HttpFacts): ProviderRoute {
  return provider.route(method, http.path, new URLSearchParams(http.query));
}

export function providerDraft(input: ProviderDraftInput): RequestDraft {
  const { provider, http, method, headers } = input;
  const route = providerRoute(provider, method, http);
  const body = parseRequestBody(input.raw, { contentType: headers['content-type'], contentEncoding: headers['content-encoding'] }, { json: route.readsPrompt, maxDecodedBytes: input.maxDecodedBytes });
  let llm: LlmFacts | undefined;
  if (route.readsPrompt) {
    if (body.type !== 'json') throw new BadRequest(`${http.path} expects a JSON body`);
    if (body.duplicateKeys) throw new BadRequest(`${http.path}: the JSON body names a key twice in one object; readers disagree on which value counts, so it was not sent`);
    llm = provider.classify(route, body.value, body.text);
  } else if (route.pathModel !== null) {
    // No prompt to read, but the path names the model that runs: policy sees it.
    llm = llmFacts(route.pathModel, route.pathStreams, [], [], null);
  }
  return {
    kind: route.kind,
    summary: llm ? { http, llm } : { http },
    scanText: llm && route.readsPrompt ? llm.messageText : bodyScanText(body),
    body,
    method,
    target: http.path,
    model: body.type === 'json' || route.pathModel !== null ? provider.requestedModel(route, body.type === 'json' ? body.value : undefined) : null,
    bytesIn: input.bytesIn,
  };
}

