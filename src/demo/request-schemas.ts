/**
 * The request fields the demo model reads, validated the way the real service rejects bad input:
 * a 400 naming the offending parameter. Objects stay loose because real clients send many
 * fields the demo ignores.
 */
import { z } from 'zod';
import { invalidParameter, missingParameter, type OpenAiApiError } from './openai-error.ts';

const textPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const content = z.union([z.string(), z.array(textPart), z.null()]).optional();
const streamOptions = z.looseObject({ include_usage: z.boolean().optional() }).nullish();

const chatMessage = z.looseObject({
  role: z.enum(['developer', 'system', 'user', 'assistant', 'tool', 'function']),
  content,
});

const chatTool = z.looseObject({
  type: z.string(),
  function: z.looseObject({ name: z.string() }).optional(),
});

const toolChoice = z.union([
  z.string(),
  z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() }),
]);

export const chatCompletionBody = z.looseObject({
  model: z.string(),
  messages: z.array(chatMessage).min(1),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  tools: z.array(chatTool).optional(),
  tool_choice: toolChoice.optional(),
});
export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;
export type ChatMessageBody = z.infer<typeof chatMessage>;

/** A prompt or embedding input: text, texts, token ids, or lists of token ids. */
const textOrTokens = z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]);

export const completionBody = z.looseObject({
  model: z.string(),
  prompt: textOrTokens,
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
});
export type CompletionBody = z.infer<typeof completionBody>;

export const embeddingBody = z.looseObject({
  model: z.string(),
  input: textOrTokens,
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).max(4096).optional(),
});
export type EmbeddingBody = z.infer<typeof embeddingBody>;

const responseInputItem = z.looseObject({
  type: z.string().optional(),
  role: z.string().optional(),
  content: content,
  output: z.unknown().optional(),
});

export const responseBody = z.looseObject({
  model: z.string(),
  input: z.union([z.string(), z.array(responseInputItem)]).optional(),
  instructions: z.string().nullish(),
  stream: z.boolean().nullish(),
});
export type ResponseBody = z.infer<typeof responseBody>;
export type ResponseInputItemBody = z.infer<typeof responseInputItem>;

/** Validates `json` against `schema`, throwing the 400 the real service would send for the first problem. */
export function parseBody<T>(schema: z.ZodType<T>, json: unknown): T {
  const result = schema.safeParse(json, { reportInput: true });
  if (result.success) return result.data;
  throw toApiError(result.error.issues[0]);
}

function toApiError(issue: z.core.$ZodIssue | undefined): OpenAiApiError {
  if (!issue) return invalidParameter('', 'Invalid request body.');
  const param = issue.path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
  if (issue.code === 'invalid_type' && issue.input === undefined) return missingParameter(param);
  return invalidParameter(param, `Invalid value for '${param}': ${issue.message}.`, issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value');
}
