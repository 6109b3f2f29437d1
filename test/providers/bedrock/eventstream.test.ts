import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEvent, EventStreamDecoder, EventStreamFormatError, exceptionEvent, jsonEventHeaders } from '../../../src/providers/bedrock/eventstream.ts';
import { codec, event, frame, readEvents } from './support/wire.ts';

const a = event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'hello ' } });
const b = event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'world' } });
const stream = Buffer.concat([a, b]);

const isFormat = (err: unknown) => err instanceof EventStreamFormatError;

/** A CRC-32 the test computes itself, to forge frames that pass the prelude check. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A message with the given raw header block and payload, both CRCs correct. */
function rawFrame(headerBlock: Buffer, payload: Buffer, claimedHeaders = headerBlock.length): Buffer {
  const total = 16 + headerBlock.length + payload.length;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(claimedHeaders, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  headerBlock.copy(out, 12);
  payload.copy(out, 12 + headerBlock.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

function stringHeader(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  const out = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  out[0] = n.length;
  n.copy(out, 1);
  out[1 + n.length] = 7;
  out.writeUInt16BE(v.length, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

test('messages come out whole wherever the stream is cut, at every byte', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new EventStreamDecoder();
    const messages = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
    decoder.end();
    assert.equal(messages.length, 2, `cut at ${cut}`);
    assert.equal(Buffer.from(messages[1]!.body).toString(), JSON.stringify({ contentBlockIndex: 0, delta: { text: 'world' } }));
  }
});

test('byte by byte', () => {
  const decoder = new EventStreamDecoder();
  const messages = [];
  for (const byte of stream) messages.push(...decoder.push(Buffer.from([byte])));
  decoder.end();
  assert.equal(messages.length, 2);
});

test('what the gateway encodes, the SDK codec reads back (headers, payload, CRCs)', () => {
  const bytes = encodeEvent(jsonEventHeaders('metadata'), Buffer.from('{"usage":{"inputTokens":1}}'));
  const [read] = readEvents(bytes);
  assert.equal(read!.headers[':event-type'], 'metadata');
  assert.deepEqual(read!.json, { usage: { inputTokens: 1 } });
  const [ex] = readEvents(exceptionEvent('throttlingException', 'slow down'));
  assert.equal(ex!.headers[':message-type'], 'exception');
  assert.equal(ex!.headers[':exception-type'], 'throttlingException');
  assert.deepEqual(ex!.json, { message: 'slow down' });
});

// Hostile framing: each one must be refused, never read as something else.

test('hostile: a corrupt prelude CRC is refused as soon as the prelude is in', () => {
  const bad = Buffer.from(a);
  bad[9]! ^= 0xff;
  assert.throws(() => new EventStreamDecoder().push(bad.subarray(0, 12)), isFormat);
});

test('hostile: a corrupt message CRC is refused', () => {
  const bad = Buffer.from(a);
  bad[bad.length - 1]! ^= 0x01;
  assert.throws(() => new EventStreamDecoder().push(bad), isFormat);
});

test('hostile: a flipped payload byte fails the message CRC', () => {
  const bad = Buffer.from(a);
  bad[bad.length - 10]! ^= 0x20;
  assert.throws(() => new EventStreamDecoder().push(bad), isFormat);
});

test('hostile: a stream that ends inside the prelude is truncated', () => {
  const decoder = new EventStreamDecoder();
  assert.deepEqual(decoder.push(a.subarray(0, 7)), []);
  assert.throws(() => decoder.end(), isFormat);
});

test('hostile: a stream that ends inside a payload is truncated', () => {
  const decoder = new EventStreamDecoder();
  decoder.push(a.subarray(0, a.length - 3));
  assert.throws(() => decoder.end(), isFormat);
});

test('hostile: a huge claimed length is refused before anything is buffered for it', () => {
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(0xfffffff0, 0);
  prelude.writeUInt32BE(0, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const decoder = new EventStreamDecoder();
  assert.throws(() => decoder.push(prelude), isFormat);
});

test('hostile: a length below the framing overhead is refused', () => {
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(8, 0);
  prelude.writeUInt32BE(0, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  assert.throws(() => new EventStreamDecoder().push(prelude), isFormat);
});

test('hostile: a header length larger than the message is refused', () => {
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(100, 0);
  prelude.writeUInt32BE(90, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  assert.throws(() => new EventStreamDecoder().push(prelude), isFormat);
});

test('hostile: a message over the configured bound is refused', () => {
  assert.throws(() => new EventStreamDecoder(64).push(event('x', { text: 'y'.repeat(100) })), isFormat);
});

test('hostile: a header named twice is refused (the codec would keep only the last)', () => {
  const headers = Buffer.concat([stringHeader(':event-type', 'metadata'), stringHeader(':event-type', 'contentBlockDelta'), stringHeader(':message-type', 'event')]);
  assert.throws(() => new EventStreamDecoder().push(rawFrame(headers, Buffer.from('{}'))), isFormat);
});

test('hostile: a header whose value runs past the header block into the payload is refused', () => {
  const header = stringHeader(':event-type', 'metadata');
  header.writeUInt16BE(40, 1 + ':event-type'.length + 1);
  assert.throws(() => new EventStreamDecoder().push(rawFrame(header, Buffer.from('{"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'))), isFormat);
});

test('hostile: an unknown header type tag is refused', () => {
  const header = stringHeader(':event-type', 'metadata');
  header[1 + ':event-type'.length] = 42;
  assert.throws(() => new EventStreamDecoder().push(rawFrame(header, Buffer.from('{}'))), isFormat);
});

test('hostile: after a failure the decoder stays failed', () => {
  const bad = Buffer.from(a);
  bad[bad.length - 1]! ^= 0x01;
  const decoder = new EventStreamDecoder();
  assert.throws(() => decoder.push(bad), isFormat);
  assert.throws(() => decoder.push(b), isFormat);
});

test('a header-less, payload-less message is valid framing', () => {
  const empty = Buffer.from(codec.encode({ headers: {}, body: new Uint8Array(0) }));
  const [message] = new EventStreamDecoder().push(empty);
  assert.deepEqual(message!.headers, {});
  assert.equal(message!.body.length, 0);
  assert.equal(frame({}, new Uint8Array(0)).length, 16);
});
