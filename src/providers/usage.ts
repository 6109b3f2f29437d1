/**
 * Token usage read off a raw response as it passes. Providers report cumulative figures (a
 * stream's last usage is its total), so the largest seen of each wins. Only events that
 * mention usage are parsed, and a body is kept (bounded) only to be parsed once at its end.
 */
import { SseParser, type SseSink } from '../masking/sse-parser.ts';
import type { TokenUsage, UsageMeter } from './types.ts';

/** Reads the figures one JSON value (a body, an event, an array element) reports; null when none. */
export type UsageReader = (value: unknown) => Partial<TokenUsage> | null;

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

class Tally {
  input = -1;
  output = -1;
  constructor(private readonly read: UsageReader) {}

  take(value: unknown): void {
    let usage: Partial<TokenUsage> | null;
    try {
      usage = this.read(value);
    } catch {
      return;
    }
    if (usage === null) return;
    if (typeof usage.inputTokens === 'number' && usage.inputTokens > this.input) this.input = usage.inputTokens;
    if (typeof usage.outputTokens === 'number' && usage.outputTokens > this.output) this.output = usage.outputTokens;
  }

  result(): TokenUsage | null {
    if (this.input < 0 && this.output < 0) return null;
    return { inputTokens: Math.max(0, this.input), outputTokens: Math.max(0, this.output) };
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

class SseUsage implements UsageMeter, SseSink {
  private readonly parser = new SseParser(this, MAX_EVENT_CHARS);
  private broken = false;
  constructor(private readonly tally: Tally) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    try {
      this.parser.push(chunk);
    } catch {
      // An event too large to read is the masker's business; the usage is then unknown.
      this.broken = true;
    }
  }

  onEvent(_type: string | null, data: string | null): void {
    if (data !== null && data.includes('sage')) this.tally.take(parse(data));
  }

  onComment(): void {}

  end(): TokenUsage | null {
    if (!this.broken) this.parser.end();
    return this.tally.result();
  }
}

/** A JSON body (or Gemini's JSON array of chunks), parsed once at its end. */
class BodyUsage implements UsageMeter {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly tally: Tally) {}

  push(chunk: Buffer): void {
    if (this.size > MAX_BODY_BYTES) return;
    this.size += chunk.length;
    this.chunks.push(chunk);
  }

  end(): TokenUsage | null {
    if (this.size > MAX_BODY_BYTES) return null;
    const value = parse(Buffer.concat(this.chunks).toString('utf8'));
    if (Array.isArray(value)) for (const item of value) this.tally.take(item);
    else this.tally.take(value);
    return this.tally.result();
  }
}

export function createUsageMeter(format: 'sse' | 'json', read: UsageReader): UsageMeter {
  const tally = new Tally(read);
  return format === 'sse' ? new SseUsage(tally) : new BodyUsage(tally);
}

export function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
