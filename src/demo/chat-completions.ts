/**
 * `POST /v1/chat/completions`: echoes the last user message (or the last tool result), or calls
 * the first tool when the user asks about the weather or `tool_choice` forces a call.
 */
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { echo, estimateTokens, replyPieces, splitPieces, textOf } from './echo-text.ts';
import { SYSTEM_FINGERPRINT, completionUsage, newId, unixSeconds } from './reply-meta.ts';
import type { ChatCompletionBody } from './request-schemas.ts';
import { DONE_FRAME, dataFrame, type StreamPlan } from './sse.ts';

const WEATHER = /\bweather\b/i;
/** "weather in New York?" → "New York": lets a test see its own words in the tool arguments. */
const CITY = /\bin\s+(\p{Lu}[\p{L}'-]*(?:\s+\p{Lu}[\p{L}'-]*)*)/u;
const DEFAULT_CITY = 'Paris';

type Reply =
  | { readonly kind: 'text'; readonly pieces: readonly string[] }
  | { readonly kind: 'tool_call'; readonly id: string; readonly name: string; readonly argumentPieces: readonly string[] };

interface Envelope {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly promptTokens: number;
}

export function chatCompletion(body: ChatCompletionBody): ChatCompletion {
  const reply = planReply(body);
  const env = envelope(body);
  const toolCall = reply.kind === 'tool_call';
  const completion = toolCall ? reply.argumentPieces.join('') : reply.pieces.join('');
  return {
    id: env.id,
    object: 'chat.completion',
    created: env.created,
    model: env.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: toolCall ? null : completion,
          refusal: null,
          annotations: [],
          ...(toolCall
            ? { tool_calls: [{ id: reply.id, type: 'function', function: { name: reply.name, arguments: completion } }] }
            : {}),
        },
        logprobs: null,
        finish_reason: toolCall ? 'tool_calls' : 'stop',
      },
    ],
    usage: completionUsage(env.promptTokens, estimateTokens(completion)),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

export function chatCompletionStream(body: ChatCompletionBody): StreamPlan {
  const reply = planReply(body);
  const env = envelope(body);
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices: ChatCompletionChunk['choices'], usage: CompletionUsage | null = null): string =>
    dataFrame({
      id: env.id,
      object: 'chat.completion.chunk',
      created: env.created,
      model: env.model,
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices,
      ...(includeUsage ? { usage } : {}),
    } satisfies ChatCompletionChunk);
  const delta = (d: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice['finish_reason'] = null) =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  const frames: string[] = [];
  let completion = '';
  if (reply.kind === 'tool_call') {
    // The first chunk names the call; the arguments follow in fragments, as the real service sends them.
    frames.push(
      delta({
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ index: 0, id: reply.id, type: 'function', function: { name: reply.name, arguments: '' } }],
      }),
    );
    for (const piece of reply.argumentPieces) frames.push(delta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
    frames.push(delta({}, 'tool_calls'));
    completion = reply.argumentPieces.join('');
  } else {
    frames.push(delta({ role: 'assistant', content: '', refusal: null }));
    for (const piece of reply.pieces) frames.push(delta({ content: piece }));
    frames.push(delta({}, 'stop'));
    completion = reply.pieces.join('');
  }
  // With include_usage every chunk carries `usage: null` and one last chunk without choices carries the figures.
  if (includeUsage) frames.push(chunk([], completionUsage(env.promptTokens, estimateTokens(completion))));
  frames.push(DONE_FRAME);
  // A held stream pauses after the role (or call name) chunk and the first fragment of content.
  return { frames, holdAfter: 2 };
}

function envelope(body: ChatCompletionBody): Envelope {
  let promptTokens = 0;
  for (const message of body.messages) promptTokens += estimateTokens(textOf(message.content));
  return { id: newId('chatcmpl-'), created: unixSeconds(), model: body.model, promptTokens };
}

function planReply(body: ChatCompletionBody): Reply {
  const last = body.messages.at(-1);
  // After a tool result the model answers in text; calling again would loop a tool runner forever.
  if (last?.role === 'tool') return { kind: 'text', pieces: replyPieces(body.model, echo(textOf(last.content))) };
  const userText = lastUserText(body);
  const tool = toolToCall(body, userText);
  if (tool === undefined) return { kind: 'text', pieces: replyPieces(body.model, echo(userText)) };
  const location = CITY.exec(userText)?.[1] ?? DEFAULT_CITY;
  return {
    kind: 'tool_call',
    id: newId('call_', 24),
    name: tool,
    argumentPieces: splitPieces(JSON.stringify({ location })),
  };
}

function lastUserText(body: ChatCompletionBody): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const message = body.messages[i];
    if (message?.role === 'user') return textOf(message.content);
  }
  return '';
}

/** The function to call, or undefined for a text reply. */
function toolToCall(body: ChatCompletionBody, userText: string): string | undefined {
  const functions = (body.tools ?? []).flatMap((tool) => (tool.type === 'function' && tool.function ? [tool.function.name] : []));
  const choice = body.tool_choice;
  if (functions.length === 0 || choice === 'none') return undefined;
  if (typeof choice === 'object' && choice.type === 'function' && choice.function) return choice.function.name;
  if (choice === 'required' || WEATHER.test(userText)) return functions[0];
  return undefined;
}
