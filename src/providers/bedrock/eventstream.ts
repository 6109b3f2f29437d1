/**
 * Bedrock's `application/vnd.amazon.eventstream` framing, read incrementally and written back.
 * A message is: total length (4), headers length (4), prelude CRC32 (4), headers, payload,
 * message CRC32 (4). The CRCs and the header encoding are checked and produced by
 * @smithy/eventstream-codec; what it leaves to its caller (finding message boundaries in a byte
 * stream, bounding lengths before buffering, refusing headers that do not read back as written)
 * is done here, so that the gateway reads exactly the messages the client's SDK will read.
 */
import { EventStreamCodec, type Message, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

export type { Message as EventMessage, MessageHeaders as EventHeaders };

const PRELUDE = 12;
const OVERHEAD = 16;
/** Bedrock's own bound on one event message (AWS event streams allow 16 MiB, headers 128 KiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const MAX_HEADER_BYTES = 128 * 1024;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** The stream cannot be read as event-stream messages; says why, never quotes the bytes. */
export class EventStreamFormatError extends Error {}

/** CRC-32 (IEEE), the checksum of the framing; a table built once. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Splits a byte stream into messages. Chunks may cut anywhere: a message is decoded once whole.
 * The prelude is checked as soon as its 12 bytes are in, so a corrupt or absurd length is refused
 * before anything is buffered for it.
 */
export class EventStreamDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(private readonly maxMessageBytes: number = MAX_MESSAGE_BYTES) {}

  /** Bytes received but not yet part of a whole message. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Every message completed by this chunk, in order. Throws EventStreamFormatError (and stays failed). */
  push(chunk: Uint8Array): Message[] {
    if (this.failed) throw new EventStreamFormatError('the event stream already failed');
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const out: Message[] = [];
    try {
      for (;;) {
        const message = this.next();
        if (message === null) return out;
        out.push(message);
      }
    } catch (err) {
      this.failed = true;
      throw err instanceof EventStreamFormatError ? err : new EventStreamFormatError('an event-stream message could not be decoded', { cause: err });
    }
  }

  /** The stream ended: bytes left over are a truncated message. */
  end(): void {
    if (!this.failed && this.buffer.length > 0) {
      this.failed = true;
      throw new EventStreamFormatError(`the event stream ended inside a message (${this.buffer.length} bytes left over)`);
    }
  }

  private next(): Message | null {
    const buf = this.buffer;
    if (buf.length < PRELUDE) return null;
    const total = buf.readUInt32BE(0);
    const headers = buf.readUInt32BE(4);
    if (crc32(buf.subarray(0, 8)) !== buf.readUInt32BE(8)) throw new EventStreamFormatError('an event-stream message has a corrupt prelude (its CRC does not match)');
    if (total < OVERHEAD || total > this.maxMessageBytes) throw new EventStreamFormatError(`an event-stream message claims ${total} bytes, outside 16..${this.maxMessageBytes}`);
    if (headers > total - OVERHEAD || headers > MAX_HEADER_BYTES) throw new EventStreamFormatError(`an event-stream message claims ${headers} bytes of headers, more than it can hold`);
    if (buf.length < total) return null;
    const bytes = buf.subarray(0, total);
    this.buffer = buf.subarray(total);
    let message: Message;
    try {
      message = codec.decode(bytes);
    } catch (err) {
      throw new EventStreamFormatError('an event-stream message failed its checksum or holds malformed headers', { cause: err });
    }
    // The codec keeps the last of two equal names and reads a header past its end into the payload;
    // either way the headers would not write back as they came, which is what is checked.
    if (codec.formatHeaders(message.headers).byteLength !== headers) {
      throw new EventStreamFormatError('an event-stream message holds a header twice, or a header that runs past the header block');
    }
    // Copied out: the buffer is reused for the next messages.
    return { headers: message.headers, body: Uint8Array.from(message.body) };
  }
}

/** One message as bytes, with fresh CRCs. */
export function encodeEvent(headers: MessageHeaders, body: Uint8Array): Buffer {
  const bytes = codec.encode({ headers, body });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A string header's value, or null (absent or of another type). */
export function stringHeader(headers: MessageHeaders, name: string): string | null {
  const header = headers[name];
  return header !== undefined && header.type === 'string' ? header.value : null;
}

/** The headers of an event of `eventType` carrying JSON. */
export function jsonEventHeaders(eventType: string): MessageHeaders {
  return {
    ':event-type': { type: 'string', value: eventType },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: 'event' },
  };
}

/** An exception message as Bedrock sends one mid-stream (`:exception-type` names the SDK's error class, camel-cased). */
export function exceptionEvent(exceptionType: string, message: string): Buffer {
  return encodeEvent(
    {
      ':exception-type': { type: 'string', value: exceptionType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    fromUtf8(JSON.stringify({ message })),
  );
}
