/**
 * What one inference provider (Anthropic, Gemini, Azure OpenAI, Bedrock) tells the gateway about
 * its own API, so that the HTTP adapter stays one adapter and policy, limits, masking and the
 * recording treat every provider's conversation like an OpenAI one. A new provider is one module
 * implementing `LlmProvider` plus its entry in registry.ts (and, when its stream is not an event
 * stream the generic maskers know, a masker under masking/providers/).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamCredential } from '../config/schema.ts';
import type { GatewayError } from '../errors.ts';
import type { InteractionKind, LlmFacts } from '../interaction.ts';

export type ProviderType = 'anthropic' | 'gemini' | 'azure-openai' | 'bedrock';

/**
 * How a provider's stream reaches the client, which picks its masker (masking/providers/):
 * `sse` (text/event-stream), `json-array` (Gemini's streamGenerateContent without alt=sse:
 * one JSON array whose elements arrive one by one), `aws-eventstream` (Bedrock's binary
 * framing), or `none` for a response read whole.
 */
export type StreamFormat = 'sse' | 'json-array' | 'aws-eventstream' | 'none';

/** What the method, path and query of a request name, before its body is read. */
export interface ProviderRoute {
  /** `llm.chat` (and the other llm.* kinds) for the provider's inference APIs; `llm.other` for the rest. */
  readonly kind: InteractionKind;
  /** The body is a prompt (JSON required, classified into `request.llm.*`): every llm.* kind but llm.other, and llm.other routes such as count_tokens. */
  readonly readsPrompt: boolean;
  /** The model the path names (Gemini's models/{model}, Azure's deployment, Bedrock's modelId), as sent; null when the path names none. */
  readonly pathModel: string | null;
  /** True when the path alone says the answer streams (streamGenerateContent, …-with-response-stream). */
  readonly pathStreams: boolean;
  /** The response's stream format when it streams. */
  readonly streamFormat: StreamFormat;
}

/** Input and output tokens a response reported (its `usage`, `usageMetadata`, …). */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * Reads token usage off the raw upstream response as it passes (before masking, which may
 * rewrite the figures' neighbours but never the figures). One per response.
 */
export interface UsageMeter {
  push(chunk: Buffer): void;
  /** What the response reported, or null when it reported nothing readable. */
  end(): TokenUsage | null;
}

/** Headers for the upstream, written in place: the gateway-held credential in the provider's form. */
export type UpstreamHeaders = Record<string, string | string[]>;

export interface CredentialContext {
  /** The connection's name (token caches are per connection). */
  readonly connection: string;
  readonly signal: AbortSignal;
  /** The request as it will be sent (Bedrock signs it). */
  readonly method: string;
  readonly url: URL;
  readonly body: Buffer | null;
}

/** An error in the provider's own shape, so its SDK raises the matching exception. */
export interface ProviderErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface LlmProvider {
  readonly type: ProviderType;
  /**
   * The Gatehouse token the client sent, read from where this provider's SDK puts its key
   * (x-api-key, x-goog-api-key or ?key=, api-key), or Authorization: Bearer. Throws BadRequest
   * when the request names two different ones.
   */
  clientSecret(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined;
  /** The path and query to forward: the client's own key (a `key` query parameter) removed. */
  upstreamTarget(target: string): string;
  /** Which API the request names. Throws BadRequest for a path it cannot read unambiguously. */
  route(method: string, path: string, query: URLSearchParams): ProviderRoute;
  /**
   * Policy facts of a parsed JSON request body on an llm.* route: the same `request.llm.*` an
   * OpenAI request has (model folded, every prompt text joined, tool names, stream flag,
   * estimated tokens). `text` is the body as sent (to find keys given twice).
   */
  classify(route: ProviderRoute, body: unknown, text: string | undefined): LlmFacts;
  /** The model as sent, for the record (policy reads the folded one in the facts). */
  requestedModel(route: ProviderRoute, body: unknown): string | null;
  /** Whether the response to this request streams (path or body says so). */
  streams(route: ProviderRoute, facts: LlmFacts | undefined): boolean;
  /** A meter for this response's token usage; null when the provider reports none on this route. */
  usageMeter(route: ProviderRoute, streaming: boolean, contentType: string): UsageMeter | null;
  /**
   * Sets the gateway-held credential on the upstream headers (after the client's credentials
   * were removed). May fetch a token (Azure Entra ID) or sign the request (Bedrock).
   */
  applyCredential(headers: UpstreamHeaders, credential: UpstreamCredential | undefined, ctx: CredentialContext): void | Promise<void>;
  /** A gateway error (refusal, limit, upstream failure) in the provider's error shape. */
  errorResponse(error: GatewayError): ProviderErrorResponse;
}

/** The headers a provider's SDK carries its key in (removed before forwarding, never recorded). */
export const PROVIDER_KEY_HEADERS: readonly string[] = ['x-api-key', 'x-goog-api-key', 'api-key'];
