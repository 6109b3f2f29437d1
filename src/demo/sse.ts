/**
 * Server-sent events as OpenAI sends them: Chat and legacy Completions send bare `data:` frames
 * ending with `data: [DONE]`; the Responses API names each frame with `event:`.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** A streamed reply, serialised up front so sending it costs nothing but writes. */
export interface StreamPlan {
  readonly frames: readonly string[];
  /** How many frames a held stream sends before it waits: enough to carry the first content. */
  readonly holdAfter: number;
}

export const DONE_FRAME = 'data: [DONE]\n\n';

export function dataFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export function eventFrame(type: string, payload: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

export interface StreamOptions {
  /** Pause between frames; 0 writes them back to back. */
  readonly delayMs: number;
  /** When set, awaited after `plan.holdAfter` frames; it must settle when `signal` aborts. */
  readonly hold?: (() => Promise<void>) | undefined;
  /** Aborts when the client goes away; the stream then stops quietly. */
  readonly signal: AbortSignal;
}

export async function writeStream(res: ServerResponse, plan: StreamPlan, options: StreamOptions): Promise<void> {
  const { delayMs, hold, signal } = options;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  try {
    for (let i = 0; i < plan.frames.length; i++) {
      if (hold && i === plan.holdAfter) await hold();
      else if (delayMs > 0 && i > 0) await sleep(delayMs, undefined, { signal });
      if (signal.aborted) return;
      if (!res.write(plan.frames[i])) await once(res, 'drain', { signal });
    }
    res.end();
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
