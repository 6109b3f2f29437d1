/**
 * Google's Gemini API (generativelanguage): POST /v1beta/models/{model}:generateContent,
 * :streamGenerateContent (with ?alt=sse an event stream, without it one JSON array streamed
 * element by element), :countTokens, :embedContent. The gateway holds the key and sends it as
 * x-goog-api-key; the client's own key (x-goog-api-key or ?key=) is its Gatehouse token, and a
 * `key` query parameter never goes upstream.
 */
import { BadRequest, type GatewayError } from '../errors.ts';
import { foldModel } from '../classify/llm.ts';
import type { InteractionKind } from '../interaction.ts';
import { isObject, jsonError, llmFacts, pathModel, tokenFrom, type Json } from './common.ts';
import { count, createUsageMeter } from './usage.ts';
import type { LlmProvider, ProviderRoute } from './types.ts';

const METHODS: Readonly<Record<string, InteractionKind>> = {
  generatecontent: 'llm.chat',
  streamgeneratecontent: 'llm.chat',
  embedcontent: 'llm.embeddings',
  batchembedcontents: 'llm.embeddings',
  counttokens: 'llm.other',
};

// `/v1beta/models/gemini-2.5-flash:generateContent`, `/v1/tunedModels/x:generateContent`.
const MODEL_PATH = /^\/(v1|v1beta|v1alpha)\/(models|tunedmodels)\/([^/]+):([a-z]+)$/i;

/** Whether a query parameter's name is the API key's (decoded and case-folded: a server may read either). */
function isKeyName(rawName: string): boolean {
  let name: string;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '));
  } catch {
    return true;
  }
  return name.trim().toLowerCase() === 'key';
}

function keyValues(query: URLSearchParams): string[] {
  const values: string[] = [];
  for (const [name, value] of query) if (name.trim().toLowerCase() === 'key' && value.trim() !== '') values.push(value.trim());
  return values;
}

function partsText(parts: unknown, out: string[]): void {
  if (!Array.isArray(parts)) return;
  for (const part of parts) {
    if (!isObject(part)) continue;
    if (typeof part.text === 'string') out.push(part.text);
    if (isObject(part.functionCall) && part.functionCall.args !== undefined) out.push(JSON.stringify(part.functionCall.args));
    if (isObject(part.functionResponse) && part.functionResponse.response !== undefined) out.push(JSON.stringify(part.functionResponse.response));
  }
}

function contentsText(contents: unknown, out: string[]): void {
  if (typeof contents === 'string') out.push(contents);
  else if (isObject(contents)) partsText(contents.parts, out);
  else if (Array.isArray(contents)) for (const c of contents) contentsText(c, out);
}

function collect(body: Json): { texts: string[]; tools: string[] } {
  const texts: string[] = [];
  contentsText(body.systemInstruction, texts);
  contentsText(body.contents, texts);
  contentsText(body.content, texts);
  if (Array.isArray(body.requests)) for (const r of body.requests) if (isObject(r)) contentsText(r.content, texts);
  const tools: string[] = [];
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools) {
      if (!isObject(tool)) continue;
      const declarations = tool.functionDeclarations ?? tool.function_declarations;
      if (Array.isArray(declarations)) for (const d of declarations) if (isObject(d) && typeof d.name === 'string') tools.push(d.name);
      // Built-in tools (googleSearch, codeExecution …) are named by their key.
      for (const key of Object.keys(tool)) if (key !== 'functionDeclarations' && key !== 'function_declarations') tools.push(key);
    }
  }
  return { texts, tools };
}

const STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error body ({error: {code, message, status}}), which @google/genai raises as ApiError. */
export function geminiErrorBody(status: number, message: string, extra: Json = {}): Json {
  return { error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN', ...extra } };
}

function readUsage(value: unknown): { inputTokens?: number; outputTokens?: number } | null {
  if (!isObject(value) || !isObject(value.usageMetadata)) return null;
  const u = value.usageMetadata;
  const prompt = count(u.promptTokenCount);
  const output = count(u.candidatesTokenCount);
  const thoughts = count(u.thoughtsTokenCount);
  return {
    ...(prompt !== undefined ? { inputTokens: prompt + (count(u.toolUsePromptTokenCount) ?? 0) } : {}),
    ...(output !== undefined || thoughts !== undefined ? { outputTokens: (output ?? 0) + (thoughts ?? 0) } : {}),
  };
}

export const geminiProvider: LlmProvider = {
  type: 'gemini',

  clientSecret(headers, query) {
    return tokenFrom(headers, ['x-goog-api-key'], keyValues(query));
  },

  upstreamTarget(target) {
    const q = target.indexOf('?');
    if (q === -1) return target;
    const kept = target
      .slice(q + 1)
      .split('&')
      .filter((pair) => pair !== '' && !isKeyName(pair.split('=', 1)[0]!));
    return kept.length === 0 ? target.slice(0, q) : `${target.slice(0, q)}?${kept.join('&')}`;
  },

  route(method, path, query): ProviderRoute {
    if (/%2f|%3a/i.test(path)) throw new BadRequest('the path holds an encoded "/" or ":", which upstreams read differently; send it unencoded');
    const match = MODEL_PATH.exec(path.replace(/\/+$/, ''));
    const post = method.toUpperCase() === 'POST';
    if (!match || !post) return { kind: 'llm.other', readsPrompt: false, pathModel: null, pathStreams: false, streamFormat: 'none' };
    const verb = match[4]!.toLowerCase();
    const model = pathModel(match[3]!);
    const kind = METHODS[verb] ?? 'llm.other';
    const streams = verb === 'streamgeneratecontent';
    const alt = query.getAll('alt');
    if (alt.length > 1) throw new BadRequest('the alt query parameter is given more than once');
    return { kind, readsPrompt: verb in METHODS, pathModel: model, pathStreams: streams, streamFormat: streams ? (alt[0] === 'sse' ? 'sse' : 'json-array') : 'none' };
  },

  classify(route, body) {
    const model = route.pathModel;
    if (!isObject(body)) return llmFacts(model, route.pathStreams, [], [], null);
    // The path names the model; a body naming another would make policy and upstream disagree.
    if (Object.hasOwn(body, 'model')) {
      const named = typeof body.model === 'string' ? body.model.replace(/^models\//, '') : null;
      if (named === null || model === null || foldModel(named) !== foldModel(model)) {
        throw new BadRequest('the body names a model other than the one in the path; name it once, in the path');
      }
    }
    const { texts, tools } = collect(body);
    const config = isObject(body.generationConfig) ? body.generationConfig : {};
    const max = typeof config.maxOutputTokens === 'number' ? config.maxOutputTokens : null;
    return llmFacts(model, route.pathStreams, texts, tools, max);
  },

  requestedModel(route) {
    return route.pathModel;
  },

  streams(route) {
    return route.pathStreams;
  },

  usageMeter(route, streaming) {
    if (route.kind === 'llm.other') return null;
    return createUsageMeter(streaming && route.streamFormat === 'sse' ? 'sse' : 'json', readUsage);
  },

  applyCredential(headers, credential) {
    if (credential === undefined) return;
    if (credential.type === 'bearer') headers['x-goog-api-key'] = credential.value;
    else if (credential.type === 'header') headers[credential.header.toLowerCase()] = credential.value;
  },

  errorResponse(error: GatewayError) {
    return jsonError(error, geminiErrorBody(error.status, error.message, { gatehouse: { code: error.code, ...error.details } }));
  },
};
