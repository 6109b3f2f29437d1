/**
 * Azure OpenAI: OpenAI's wire format behind deployment paths
 * (/openai/deployments/{deployment}/chat/completions?api-version=…) and the newer /openai/v1/
 * paths (the model in the body). The deployment is the model policy reads: it is what runs.
 * The gateway holds either the resource's key (sent as api-key) or an Entra ID app registration
 * whose token it obtains and refreshes itself; the client sends its Gatehouse token as api-key
 * (what AzureOpenAI sends) or as a bearer token.
 */
import { BadRequest, type GatewayError } from '../errors.ts';
import { classifyLlmRequest, foldModel, llmKind, requestedModel } from '../classify/llm.ts';
import { isObject, jsonError, pathModel, tokenFrom } from './common.ts';
import { count, createUsageMeter } from './usage.ts';
import { EntraTokens } from './entra-token.ts';
import type { LlmProvider, ProviderRoute } from './types.ts';

const DEPLOYMENT_PATH = /^\/openai\/deployments\/([^/]+)(\/.*)?$/i;
const V1_PATH = /^\/openai(\/v1)?(\/.*)$/i;

const OPENAI_TYPE: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

function readUsage(value: unknown): { inputTokens?: number; outputTokens?: number } | null {
  if (!isObject(value)) return null;
  // Chat and completions bodies and chunks ({usage}), Responses bodies ({usage}) and events ({response: {usage}}).
  const usage = isObject(value.usage) ? value.usage : isObject(value.response) && isObject(value.response.usage) ? value.response.usage : null;
  if (usage === null) return null;
  const input = count(usage.prompt_tokens) ?? count(usage.input_tokens);
  const output = count(usage.completion_tokens) ?? count(usage.output_tokens);
  return { ...(input !== undefined ? { inputTokens: input } : {}), ...(output !== undefined ? { outputTokens: output } : {}) };
}

export function createAzureOpenAiProvider(tokens: EntraTokens = new EntraTokens()): LlmProvider {
  return {
    type: 'azure-openai',

    clientSecret(headers) {
      return tokenFrom(headers, ['api-key']);
    },

    upstreamTarget(target) {
      return target;
    },

    route(method, path): ProviderRoute {
      if (/%2f|%3a/i.test(path)) throw new BadRequest('the path holds an encoded "/" or ":", which upstreams read differently; send it unencoded');
      const deployment = DEPLOYMENT_PATH.exec(path);
      if (deployment) {
        const kind = llmKind(method, deployment[2] ?? '/');
        return { kind, readsPrompt: kind !== 'llm.other', pathModel: pathModel(deployment[1]!), pathStreams: false, streamFormat: 'sse' };
      }
      const v1 = V1_PATH.exec(path);
      const kind = v1 ? llmKind(method, v1[2]!) : 'llm.other';
      return { kind, readsPrompt: kind !== 'llm.other', pathModel: null, pathStreams: false, streamFormat: 'sse' };
    },

    classify(route, body, text) {
      const facts = classifyLlmRequest(body, text);
      if (route.pathModel === null) return facts;
      // Azure runs the deployment the path names and ignores the body's model (SDKs send one anyway): policy reads what runs.
      return { ...facts, model: foldModel(route.pathModel) };
    },

    requestedModel(route, body) {
      return route.pathModel ?? requestedModel(body);
    },

    streams(_route, facts) {
      return facts?.stream === true;
    },

    usageMeter(route, streaming) {
      if (route.kind === 'llm.other') return null;
      return createUsageMeter(streaming ? 'sse' : 'json', readUsage);
    },

    async applyCredential(headers, credential) {
      if (credential === undefined) return;
      switch (credential.type) {
        case 'bearer':
          headers['api-key'] = credential.value;
          break;
        case 'header':
          headers[credential.header.toLowerCase()] = credential.value;
          break;
        case 'entra':
          headers.authorization = `Bearer ${await tokens.token(credential)}`;
          break;
        default:
          break;
      }
    },

    errorResponse(error: GatewayError) {
      return jsonError(error, { error: { message: error.message, type: OPENAI_TYPE[error.status] ?? 'api_error', param: null, code: error.code, gatehouse: { ...error.details } } });
    },
  };
}

export const azureOpenAiProvider = createAzureOpenAiProvider();

