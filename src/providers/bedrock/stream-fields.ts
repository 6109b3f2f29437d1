/**
 * What the stream handlers (stream-converse.ts, stream-chunks.ts) ask of the stream masker: one
 * text channel per block and field that continues across events, held back and masked as one
 * text; every other string masked in place; usage noted. A handler blanks a channel's field
 * before the event is masked as JSON (so its raw text is neither scanned piecemeal nor masked
 * twice) and puts the channel's output back into the masked copy by the same path.
 */
import { MaskingError } from '../../errors.ts';
import type { ChannelKind } from '../../masking/stream-events.ts';
import type { TokenUsage } from './usage.ts';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface ChannelSpec {
  /** Unique within the stream: block index and field. */
  readonly key: string;
  /** The content block it belongs to: ended when that block stops. */
  readonly block: number;
  /** How the transcript labels it (text, reasoning, tool call). */
  readonly kind: ChannelKind;
  readonly prop: string;
  /** Carries `name` for a tool call's transcript label. */
  readonly holder: Json;
  /** The event or chunk that carries `rest`, the text held when the channel ends. */
  flushPayload(rest: string): Json;
}

export interface StreamContext {
  /** Masks every string of a value (the same value without a profile). */
  maskJson(value: unknown): unknown;
  /** Passes a piece of a channel's text; returns what may be sent now. */
  channel(spec: ChannelSpec, raw: string): string;
  /** Ends the channels of one block (every channel when null), sending what they held first. */
  flush(block: number | null): void;
  /** Ends one channel and returns what it held, for a family whose last chunk carries the rest itself. */
  finish(spec: ChannelSpec): string;
  noteUsage(usage: TokenUsage | null): void;
}

export type Path = readonly (string | number)[];

export interface Spot {
  readonly path: Path;
  readonly out: string;
}

function holderAt(root: unknown, path: Path): Record<string | number, unknown> | null {
  let at: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof at !== 'object' || at === null) return null;
    at = (at as Record<string | number, unknown>)[path[i]!];
  }
  return typeof at === 'object' && at !== null ? (at as Record<string | number, unknown>) : null;
}

/** Takes the string at `path` out of `root` (blanked there) into the channel; returns where its output goes. */
export function take(ctx: StreamContext, root: Json, path: Path, spec: ChannelSpec): Spot {
  const holder = holderAt(root, path)!;
  const last = path[path.length - 1]!;
  const raw = holder[last] as string;
  holder[last] = '';
  return { path, out: raw.length === 0 ? '' : ctx.channel(spec, raw) };
}

/** `take`, then the channel ends: its held text joins this piece's output. */
export function takeLast(ctx: StreamContext, root: Json, path: Path, spec: ChannelSpec): Spot {
  const spot = take(ctx, root, path, spec);
  return { path, out: spot.out + ctx.finish(spec) };
}

/** Puts channel output back into the masked copy; a copy whose shape changed fails the stream. */
export function restore(masked: unknown, spots: readonly Spot[]): void {
  for (const spot of spots) {
    const holder = holderAt(masked, spot.path);
    const last = spot.path[spot.path.length - 1]!;
    if (holder === null || typeof holder[last] !== 'string') throw new MaskingError('an event changed shape while it was masked; the stream was ended');
    holder[last] = spot.out;
  }
}

/** A content block index as Bedrock and Anthropic send it; anything else cannot be tracked. */
export function blockIndex(v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v < 1_000_000) return v;
  throw new MaskingError('an event names its content block with something other than a small non-negative integer; under a masking profile it cannot be tracked, so the stream was ended');
}

export function unknownShape(what: string): MaskingError {
  return new MaskingError(`the upstream sent ${what}, which the gateway does not know; under a masking profile it cannot be checked, so the stream was ended`);
}
