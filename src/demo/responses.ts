/**
 * `POST /v1/responses` (the Responses API): one assistant message echoing the last user input
 * (or the last function call output), streamed as the real service's typed events.
 */
import type {
  Response,
  ResponseOutputMessage,
  ResponseOutputText,
  ResponseStreamEvent,
  ResponseUsage,
} from 'openai/resources/responses/responses';
import { echo, estimateTokens, replyPieces, textOf } from './echo-text.ts';
import { newId, unixSeconds } from './reply-meta.ts';
import type { ResponseBody, ResponseInputItemBody } from './request-schemas.ts';
import { eventFrame, type StreamPlan } from './sse.ts';

/** `output_text` is computed by the SDK; the service does not send it, but does send `store`. */
type WireResponse = Omit<Response, 'output_text'> & { store: boolean };
/** A stream event before it is numbered, with the wire form of any response it carries. */
type WireEvent<E = ResponseStreamEvent> = E extends { response: Response }
  ? Omit<E, 'response' | 'sequence_number'> & { response: WireResponse }
  : E extends ResponseStreamEvent
    ? Omit<E, 'sequence_number'>
    : never;

interface Draft {
  readonly id: string;
  readonly createdAt: number;
  readonly itemId: string;
  readonly pieces: readonly string[];
  readonly usage: ResponseUsage;
}

export function response(body: ResponseBody): WireResponse {
  const draft = draftOf(body);
  return snapshot(body, draft, 'completed', [message(draft, 'completed')]);
}

export function responseStream(body: ResponseBody): StreamPlan {
  const draft = draftOf(body);
  const frames: string[] = [];
  const emit = (event: WireEvent): void => {
    frames.push(eventFrame(event.type, { ...event, sequence_number: frames.length }));
  };
  const at = { item_id: draft.itemId, output_index: 0, content_index: 0 } as const;
  const inProgress = snapshot(body, draft, 'in_progress', []);

  emit({ type: 'response.created', response: inProgress });
  emit({ type: 'response.in_progress', response: inProgress });
  emit({ type: 'response.output_item.added', output_index: 0, item: { ...message(draft, 'in_progress'), content: [] } });
  emit({ type: 'response.content_part.added', ...at, part: outputText('') });
  for (const delta of draft.pieces) emit({ type: 'response.output_text.delta', ...at, delta, logprobs: [] });
  const text = draft.pieces.join('');
  emit({ type: 'response.output_text.done', ...at, text, logprobs: [] });
  emit({ type: 'response.content_part.done', ...at, part: outputText(text) });
  const done = message(draft, 'completed');
  emit({ type: 'response.output_item.done', output_index: 0, item: done });
  emit({ type: 'response.completed', response: snapshot(body, draft, 'completed', [done]) });
  // A held stream pauses after the first text delta (created, in_progress, item, part, delta).
  return { frames, holdAfter: 5 };
}

function draftOf(body: ResponseBody): Draft {
  const input = inputText(body.input);
  const pieces = replyPieces(body.model, echo(input));
  const inputTokens = estimateTokens(input) + (body.instructions ? estimateTokens(body.instructions) : 0);
  const outputTokens = estimateTokens(pieces.join(''));
  return {
    id: newId('resp_', 48),
    createdAt: unixSeconds(),
    itemId: newId('msg_', 48),
    pieces,
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

/** The text the model answers: the last function call output, else the last user message. */
function inputText(input: ResponseBody['input']): string {
  if (input === undefined) return '';
  if (typeof input === 'string') return input;
  const last = input.at(-1);
  if (last?.type === 'function_call_output') return outputOf(last);
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i];
    if (item?.role === 'user') return textOf(item.content);
  }
  return '';
}

function outputOf(item: ResponseInputItemBody): string {
  const output = item.output;
  if (typeof output === 'string') return output;
  return JSON.stringify(output ?? '');
}

function outputText(text: string): ResponseOutputText {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

function message(draft: Draft, status: 'in_progress' | 'completed'): ResponseOutputMessage {
  return {
    id: draft.itemId,
    type: 'message',
    status,
    role: 'assistant',
    content: [outputText(draft.pieces.join(''))],
  };
}

function snapshot(
  body: ResponseBody,
  draft: Draft,
  status: 'in_progress' | 'completed',
  output: ResponseOutputMessage[],
): WireResponse {
  const completed = status === 'completed';
  return {
    id: draft.id,
    object: 'response',
    created_at: draft.createdAt,
    status,
    background: false,
    completed_at: completed ? unixSeconds() : null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: null,
    model: body.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: true,
    temperature: 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    metadata: {},
    ...(completed ? { usage: draft.usage } : {}),
  };
}
