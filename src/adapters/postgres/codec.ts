/**
 * Bytes → frames for what a PostgreSQL client sends. The adapter pushes socket chunks in and
 * gets whole messages out; anything malformed becomes one ProtocolError, which the adapter
 * answers with a FATAL ErrorResponse and a closed socket, as PostgreSQL does.
 */
import { ProtocolError } from '../../errors.ts';
import { decodeStartupPacket, decodeTypedMessage, isFrontendCode } from './frontend-messages.ts';
import type { FrontendMessage } from './frontend-messages.ts';

export { readCleartextPassword, readSaslInitialResponse } from './frontend-messages.ts';
export type * from './frontend-messages.ts';

export interface FrontendParserOptions {
  /** Largest typed message accepted, measured as its length field (length field + body). Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /** Largest startup-phase packet. Default 10 000, PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
  readonly maxStartupBytes?: number;
}

export type FrontendMessageHandler = (msg: FrontendMessage) => void;

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_STARTUP_BYTES = 10_000;
const STARTUP_HEADER = 4; // int32 length; the request code is part of the counted body
const TYPED_HEADER = 5; // type byte + int32 length
/** A split message's buffer starts this small and doubles, so a peer that announces 64 MiB and sends 5 bytes costs 16 KiB. */
const MIN_PENDING_CAPACITY = 16 * 1024;

const enum Phase {
  Startup,
  Typed,
  /** A CancelRequest was read: PostgreSQL closes such connections, so more bytes are an error. */
  Cancelled,
  Failed,
  Ended,
}

/**
 * Incremental parser for client → server messages: startup phase (StartupMessage, SSLRequest,
 * GSSENCRequest, CancelRequest), then typed messages once a StartupMessage is read or the
 * caller calls startupDone().
 *
 * Lifetime of the Buffers in messages (`raw`, Bind `params`, CopyData `data`, `body`): each is a
 * view either of a chunk you pushed (a message wholly inside one chunk is never copied) or of a
 * buffer allocated for that one message (a message split across chunks is copied once). The
 * parser never writes to either again, so they stay valid for as long as you keep them,
 * provided you do not modify chunks after pushing them. A view keeps its whole chunk alive:
 * copy (Buffer.from) small pieces you keep for long.
 */
export class FrontendParser {
  private readonly maxMessageBytes: number;
  private readonly maxStartupBytes: number;
  private phase = Phase.Startup;
  private failure: ProtocolError | null = null;
  /** Owned buffer for the one message split across chunks, or null. */
  private pending: Buffer | null = null;
  private pendingLength = 0;
  /** Full frame length of the pending message; 0 while its header is incomplete. */
  private pendingFrame = 0;

  constructor(options: FrontendParserOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxStartupBytes = options.maxStartupBytes ?? DEFAULT_MAX_STARTUP_BYTES;
  }

  /** The error that stopped the parser, if any. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /** Bytes held for a message not yet complete (for backpressure and metrics). */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /** Switches to typed messages without a StartupMessage. Call it between messages, never with a partial one pending. */
  startupDone(): void {
    if (this.phase === Phase.Startup) this.phase = Phase.Typed;
  }

  /**
   * Feeds one chunk; calls onMessage for each complete message, in order. Returns the
   * ProtocolError that stopped the parser if this chunk caused it (messages before it were
   * delivered), otherwise null. After an error, or after end(), further chunks are ignored and
   * return null: the error is reported once and stays in `error`.
   *
   * push() itself never throws; an exception thrown by onMessage propagates, and leaves the
   * parser failed because the rest of that chunk was not read.
   */
  push(chunk: Buffer, onMessage: FrontendMessageHandler): ProtocolError | null {
    if (this.phase >= Phase.Failed || chunk.length === 0) return null;
    try {
      return this.consume(chunk, onMessage);
    } catch (err) {
      this.fail(new ProtocolError('frontend message handler failed', { cause: err }));
      throw err;
    }
  }

  /** The client closed its side. Returns an error if it did so inside a message. */
  end(): ProtocolError | null {
    if (this.phase >= Phase.Failed) return null;
    if (this.pendingLength > 0) return this.fail(new ProtocolError('connection closed inside a message'));
    this.phase = Phase.Ended;
    return null;
  }

  private consume(chunk: Buffer, onMessage: FrontendMessageHandler): ProtocolError | null {
    let pos = 0;
    if (this.pending !== null) {
      const taken = this.fillPending(chunk);
      if (typeof taken !== 'number') return taken;
      pos = taken;
      if (this.pendingFrame === 0 || this.pendingLength < this.pendingFrame) return null;
      const frame = this.pending.subarray(0, this.pendingFrame);
      this.pending = null;
      this.pendingLength = 0;
      this.pendingFrame = 0;
      const err = this.emit(frame, chunk.length - pos, onMessage);
      if (err !== null) return err;
    }
    while (pos < chunk.length) {
      if (this.phase === Phase.Cancelled) return this.fail(new ProtocolError('unexpected data after CancelRequest'));
      const header = this.phase === Phase.Startup ? STARTUP_HEADER : TYPED_HEADER;
      const available = chunk.length - pos;
      if (available < header) {
        this.startPending(chunk, pos, header, 0);
        return null;
      }
      const frameLength = this.frameLength(chunk, pos);
      if (typeof frameLength !== 'number') return frameLength;
      if (available < frameLength) {
        this.startPending(chunk, pos, Math.min(frameLength, Math.max(available, MIN_PENDING_CAPACITY)), frameLength);
        return null;
      }
      const frame = chunk.subarray(pos, pos + frameLength);
      pos += frameLength;
      const err = this.emit(frame, chunk.length - pos, onMessage);
      if (err !== null) return err;
    }
    return null;
  }

  /** Validates a header at buf[pos..] and returns the frame's full length in bytes. */
  private frameLength(buf: Buffer, pos: number): number | ProtocolError {
    if (this.phase === Phase.Startup) {
      const length = buf.readInt32BE(pos);
      if (length < 8 || length > this.maxStartupBytes) {
        return this.fail(new ProtocolError(`invalid length of startup packet: ${length}`));
      }
      return length;
    }
    const code = buf[pos]!;
    if (!isFrontendCode(code)) {
      return this.fail(new ProtocolError(`invalid frontend message type 0x${code.toString(16).padStart(2, '0')}`));
    }
    const length = buf.readInt32BE(pos + 1);
    if (length < 4 || length > this.maxMessageBytes) {
      return this.fail(new ProtocolError(`invalid frontend message length ${length} for type '${String.fromCharCode(code)}'`));
    }
    return length + 1;
  }

  private startPending(chunk: Buffer, pos: number, capacity: number, frameLength: number): void {
    this.pending = Buffer.allocUnsafe(capacity);
    this.pendingLength = chunk.copy(this.pending, 0, pos);
    this.pendingFrame = frameLength;
  }

  /** Copies what the pending message still needs from the chunk; returns the bytes taken. */
  private fillPending(chunk: Buffer): number | ProtocolError {
    let pos = 0;
    if (this.pendingFrame === 0) {
      const header = this.phase === Phase.Startup ? STARTUP_HEADER : TYPED_HEADER;
      pos = Math.min(header - this.pendingLength, chunk.length);
      chunk.copy(this.pending!, this.pendingLength, 0, pos);
      this.pendingLength += pos;
      if (this.pendingLength < header) return pos;
      const frameLength = this.frameLength(this.pending!, 0);
      if (typeof frameLength !== 'number') return frameLength;
      this.pendingFrame = frameLength;
    }
    const take = Math.min(this.pendingFrame - this.pendingLength, chunk.length - pos);
    this.ensurePendingCapacity(this.pendingLength + take);
    chunk.copy(this.pending!, this.pendingLength, pos, pos + take);
    this.pendingLength += take;
    return pos + take;
  }

  private ensurePendingCapacity(needed: number): void {
    const current = this.pending!;
    if (current.length >= needed) return;
    const capacity = Math.min(this.pendingFrame, Math.max(needed, current.length * 2, MIN_PENDING_CAPACITY));
    const grown = Buffer.allocUnsafe(capacity);
    current.copy(grown, 0, 0, this.pendingLength);
    this.pending = grown;
  }

  /** Decodes one complete frame and delivers it; `after` is how many bytes of the chunk follow it. */
  private emit(frame: Buffer, after: number, onMessage: FrontendMessageHandler): ProtocolError | null {
    if (this.phase !== Phase.Startup) {
      const msg = decodeTypedMessage(frame);
      if (msg instanceof ProtocolError) return this.fail(msg);
      onMessage(msg);
      return null;
    }
    const msg = decodeStartupPacket(frame);
    if (msg instanceof ProtocolError) return this.fail(msg);
    if (msg.type === 'startup') this.phase = Phase.Typed;
    else if (msg.type === 'cancelRequest') this.phase = Phase.Cancelled;
    else if (after > 0) {
      // A client must wait for the one-byte answer before sending more; bytes already queued
      // behind the request were sent before encryption began and could be a man-in-the-middle's
      // injection (CVE-2021-23214), so PostgreSQL refuses them and so do we.
      return this.fail(new ProtocolError('received unencrypted data after encryption request'));
    }
    onMessage(msg);
    return null;
  }

  private fail(err: ProtocolError): ProtocolError {
    this.phase = Phase.Failed;
    this.failure = err;
    this.pending = null;
    this.pendingLength = 0;
    this.pendingFrame = 0;
    return err;
  }
}
