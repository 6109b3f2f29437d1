/** `POST /v1/completions` (legacy): one choice per prompt, each echoing its prompt. */
import type { Completion, CompletionChoice, CompletionUsage } from 'openai/resources/completions';
import { echo, estimateTokens, inputTexts, replyPieces } from './echo-text.ts';
import { SYSTEM_FINGERPRINT, completionUsage, newId, unixSeconds } from './reply-meta.ts';
import type { CompletionBody } from './request-schemas.ts';
import { DONE_FRAME, dataFrame, type StreamPlan } from './sse.ts';

/** Streamed choices have no finish reason until their last chunk, which the SDK's type leaves out. */
type StreamedChoice = Omit<CompletionChoice, 'finish_reason'> & { finish_reason: CompletionChoice['finish_reason'] | null };
type CompletionChunk = Omit<Completion, 'choices' | 'usage'> & { choices: StreamedChoice[]; usage?: CompletionUsage | null };

export function completion(body: CompletionBody): Completion {
  const replies = plan(body);
  const text = replies.map((pieces) => pieces.join(''));
  return {
    id: newId('cmpl-'),
    object: 'text_completion',
    created: unixSeconds(),
    model: body.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: text.map((t, index) => ({ text: t, index, logprobs: null, finish_reason: 'stop' })),
    usage: usage(body, text),
  };
}

export function completionStream(body: CompletionBody): StreamPlan {
  const replies = plan(body);
  const includeUsage = body.stream_options?.include_usage === true;
  const id = newId('cmpl-');
  const created = unixSeconds();
  const chunk = (choices: StreamedChoice[], chunkUsage: CompletionUsage | null = null): string =>
    dataFrame({
      id,
      object: 'text_completion',
      created,
      model: body.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices,
      ...(includeUsage ? { usage: chunkUsage } : {}),
    } satisfies CompletionChunk);

  const frames: string[] = [];
  replies.forEach((pieces, index) => {
    for (const text of pieces) frames.push(chunk([{ text, index, logprobs: null, finish_reason: null }]));
    frames.push(chunk([{ text: '', index, logprobs: null, finish_reason: 'stop' }]));
  });
  if (includeUsage) frames.push(chunk([], usage(body, replies.map((pieces) => pieces.join('')))));
  frames.push(DONE_FRAME);
  return { frames, holdAfter: 1 };
}

function plan(body: CompletionBody): string[][] {
  return inputTexts(body.prompt).map((prompt) => replyPieces(body.model, echo(prompt)));
}

function usage(body: CompletionBody, replies: readonly string[]): CompletionUsage {
  const promptTokens = inputTexts(body.prompt).reduce((sum, p) => sum + estimateTokens(p), 0);
  const completionTokens = replies.reduce((sum, r) => sum + estimateTokens(r), 0);
  return completionUsage(promptTokens, completionTokens);
}
