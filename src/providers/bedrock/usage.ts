/**
 * Token usage Bedrock reports, wherever it reports it: Converse's `usage`, ConverseStream's
 * `metadata` event, InvokeModel's `x-amzn-bedrock-input-token-count` / `-output-token-count`
 * headers, and the `amazon-bedrock-invocationMetrics` Bedrock adds to a streamed model's last
 * chunk; failing those, the model's own counts (Anthropic's `usage`, Titan's, Llama's).
 */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function pair(input: unknown, output: unknown): TokenUsage | null {
  const i = count(input);
  const o = count(output);
  return i === null && o === null ? null : { inputTokens: i ?? 0, outputTokens: o ?? 0 };
}

/** Converse's `usage` (and ConverseStream's `metadata.usage`). */
export function converseUsage(body: unknown): TokenUsage | null {
  return isObject(body) && isObject(body.usage) ? pair(body.usage.inputTokens, body.usage.outputTokens) : null;
}

/** What Bedrock adds to the last chunk of a streamed InvokeModel answer. */
export function invocationMetrics(chunk: Json): TokenUsage | null {
  const metrics = chunk['amazon-bedrock-invocationMetrics'];
  return isObject(metrics) ? pair(metrics.inputTokenCount, metrics.outputTokenCount) : null;
}

/** A native model body's own counts (Anthropic, Titan, Llama), for answers without Bedrock's headers. */
export function nativeUsage(body: unknown): TokenUsage | null {
  if (!isObject(body)) return null;
  if (isObject(body.usage)) return pair(body.usage.input_tokens ?? body.usage.inputTokens, body.usage.output_tokens ?? body.usage.outputTokens);
  if (body.inputTextTokenCount !== undefined && Array.isArray(body.results)) {
    const out = body.results.reduce((sum: number, r) => sum + (isObject(r) ? (count(r.tokenCount) ?? 0) : 0), 0);
    return pair(body.inputTextTokenCount, out);
  }
  if (body.prompt_token_count !== undefined || body.generation_token_count !== undefined) return pair(body.prompt_token_count, body.generation_token_count);
  return null;
}

/** InvokeModel's response headers, which Bedrock sets for every model family. */
export function headerUsage(headers: Readonly<Record<string, string | string[] | undefined>>): TokenUsage | null {
  const read = (name: string): number | null => {
    const v = headers[name];
    const text = Array.isArray(v) ? undefined : v;
    return text !== undefined && /^\d{1,12}$/.test(text) ? Number(text) : null;
  };
  return pair(read('x-amzn-bedrock-input-token-count'), read('x-amzn-bedrock-output-token-count'));
}

/** Later reports of one stream add to earlier ones of another kind: the last of each kind counts. */
export function mergeUsage(a: TokenUsage | null, b: TokenUsage | null): TokenUsage | null {
  if (a === null) return b;
  if (b === null) return a;
  return { inputTokens: Math.max(a.inputTokens, b.inputTokens), outputTokens: Math.max(a.outputTokens, b.outputTokens) };
}
