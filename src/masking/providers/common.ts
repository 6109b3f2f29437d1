/** What the provider stream maskers share: one channel of text with its own hold-back, and JSON helpers. */
import { MaskingError } from '../../errors.ts';
import type { Finding, MaskProfile, TextStreamMasker } from '../types.ts';

export type Json = Record<string, unknown>;

/**
 * The stream masker shape response-maskers.ts declares (StreamResponseMasker), restated here so
 * that the registry can import these maskers without an import cycle.
 */
export interface ProviderStreamMasker {
  readonly mode: 'stream';
  readonly decodes: boolean;
  push(chunk: Buffer): Buffer | string;
  end(): Buffer | string;
  failure(error: Error): Buffer | string;
  transcript(): string;
}

/** The limits a provider masker reads (response-maskers.ts ResponseMaskerLimits). */
export interface ProviderLimits {
  readonly transcriptBytes: number;
}

/** What a provider masker factory reads of the response (response-maskers.ts ResponseTarget). */
export interface ProviderResponse {
  readonly connectionType: string;
  readonly contentType: string;
  readonly streamFormat?: string;
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An event's data as JSON; anything else cannot be checked across events, so the stream ends. */
export function parseEventJson(data: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new MaskingError(`the upstream sent ${what} that is not JSON; under a masking profile it cannot be checked, so the stream was ended`);
  }
  if (!isObject(value)) throw new MaskingError(`the upstream sent ${what} that is not a JSON object; under a masking profile it cannot be checked, so the stream was ended`);
  return value;
}

/**
 * The text streams of one response, keyed by where they continue (a content block, a
 * candidate's part), each masked with its own hold-back until its end.
 */
export class Channels<C extends { readonly masker: TextStreamMasker }> {
  private readonly open = new Map<string, C>();
  readonly findings: Finding[] = [];

  constructor(private readonly profile: MaskProfile) {}

  get(key: string, make: (masker: TextStreamMasker) => C): C {
    let channel = this.open.get(key);
    if (channel === undefined) {
      channel = make(this.profile.createTextStream());
      this.open.set(key, channel);
    }
    return channel;
  }

  /** Ends the channels `select` picks (all when omitted); `emit` gets each one's held text. */
  close(emit: (channel: C, rest: string) => void, select?: (channel: C) => boolean): void {
    for (const [key, channel] of this.open) {
      if (select !== undefined && !select(channel)) continue;
      this.open.delete(key);
      const rest = channel.masker.end();
      for (const f of channel.masker.findings) this.findings.push({ ...f, path: key });
      if (rest !== '') emit(channel, rest);
    }
  }

  /** Masks the rest of an event (its channel strings already taken out); keeps the findings. */
  maskJson<T>(value: T): T {
    const result = this.profile.maskJson(value);
    for (const f of result.findings) this.findings.push(f);
    return result.value as T;
  }
}

export function wrapMasking(err: unknown): MaskingError {
  return err instanceof MaskingError ? err : new MaskingError('response masking failed; the stream was ended', { cause: err });
}
