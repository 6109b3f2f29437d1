/**
 * Deliberately simple builders for expected wire bytes: no cleverness, so a bug in the codec
 * cannot hide behind the same bug here.
 */
import type { FrontendMessage, FrontendParser } from '../../../src/adapters/postgres/codec.ts';
import type { ProtocolError } from '../../../src/errors.ts';

export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);

export function i16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A typed message: type byte, int32 length (itself + body), body. */
export function msg(type: string, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(payload.length + 4), payload]);
}

/** A startup-phase packet: int32 length (itself + code + body), int32 code, body. */
export function packet(code: number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([i32(payload.length + 8), u32(code), payload]);
}

export function startupBytes(params: Record<string, string>): Buffer {
  const parts = Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]);
  return packet(196608, ...parts, Buffer.from([0]));
}

export interface Collected {
  readonly messages: FrontendMessage[];
  readonly errors: ProtocolError[];
}

/** Pushes chunks in order, collecting every message and every error returned. */
export function pushAll(parser: FrontendParser, chunks: readonly Buffer[]): Collected {
  const messages: FrontendMessage[] = [];
  const errors: ProtocolError[] = [];
  for (const chunk of chunks) {
    const err = parser.push(chunk, (m) => messages.push(m));
    if (err !== null) errors.push(err);
  }
  return { messages, errors };
}

/** The message without `raw`, with Buffers as strings, for deepEqual. */
export function fields(m: FrontendMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'raw') continue;
    if (Buffer.isBuffer(v)) out[k] = v.toString('latin1');
    else if (Array.isArray(v)) out[k] = v.map((x: unknown) => (Buffer.isBuffer(x) ? x.toString('latin1') : x));
    else if (k === 'parameters') out[k] = { ...(v as Record<string, string>) };
    else out[k] = v;
  }
  return out;
}
