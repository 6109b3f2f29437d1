/**
 * Random and mutated client traffic in random splits. Reproduce a failure with
 * GATEHOUSE_FUZZ_SEED=<seed printed in the output> node --import tsx --test test/adapters/postgres/codec-fuzz.test.ts
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { FrontendParser } from '../../../src/adapters/postgres/codec.ts';
import type { FrontendMessage } from '../../../src/adapters/postgres/codec.ts';
import type { ProtocolError } from '../../../src/errors.ts';
import { cstr, i16, i32, msg, packet, startupBytes, u32 } from './wire-bytes.ts';
import { seededRandom } from '../../support/prng.ts';

const SEED = Number(process.env['GATEHOUSE_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const STREAMS = 3000;
const MAX_MESSAGE_BYTES = 8 * 1024;


const rand = seededRandom(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
const text = (n: number): string => Array.from({ length: n }, () => pick(['a', 'Z', ' ', ';', "'", 'é', '\u{1F600}', '$'])).join('');

const typedMessages: (() => Buffer)[] = [
  () => msg('Q', cstr(text(int(40)))),
  () => msg('P', cstr(text(int(5))), cstr(text(int(30))), ...withCount(int(4), () => u32(int(2 ** 32)))),
  () => {
    const n = int(4);
    const params = Array.from({ length: n }, () => (rand() < 0.2 ? i32(-1) : (() => { const v = bytes(int(20)); return Buffer.concat([i32(v.length), v]); })()));
    return msg('B', cstr(text(int(4))), cstr(text(int(4))), ...withCount(int(3), () => i16(int(2))), i16(n), ...params, ...withCount(int(3), () => i16(int(2))));
  },
  () => msg('D', Buffer.from(pick(['S', 'P'])), cstr(text(int(8)))),
  () => msg('E', cstr(text(int(8))), i32(int(1000))),
  () => msg('C', Buffer.from(pick(['S', 'P'])), cstr(text(int(8)))),
  () => msg('S'),
  () => msg('H'),
  () => msg('d', bytes(int(200))),
  () => msg('c'),
  () => msg('f', cstr(text(int(20)))),
  () => msg('p', cstr(text(int(20)))),
  () => msg('F', bytes(int(30))),
];

function withCount(n: number, item: () => Buffer): Buffer[] {
  return [i16(n), ...Array.from({ length: n }, item)];
}

const startupMessages: (() => Buffer)[] = [
  () => startupBytes({ user: text(int(10)), database: text(int(10)) }),
  () => packet(80877103),
  () => packet(80877104),
];

function mutate(b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (int(7)) {
    case 0:
      if (out.length > 0) { const at = int(out.length); out[at] = out[at]! ^ (1 << int(8)); }
      return out;
    case 1:
      if (out.length > 0) out[int(out.length)] = int(256);
      return out;
    case 2:
      return out.subarray(0, int(out.length));
    case 3: {
      const at = int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), bytes(1 + int(8)), out.subarray(at)]);
    }
    case 4: {
      // lengths are where parsers die: random, negative, huge, off by a little
      const at = out.length >= 5 && out[0]! >= 0x41 ? 1 : 0;
      if (out.length >= at + 4) out.writeInt32BE(pick([int(2 ** 31), -int(2 ** 31), out.readInt32BE(at) + int(9) - 4, 0, 3, 2 ** 31 - 1]), at);
      return out;
    }
    case 5:
      return Buffer.concat([out, out.subarray(int(out.length))]);
    default:
      return bytes(int(64));
  }
}

interface Outcome {
  readonly messages: FrontendMessage[];
  readonly errors: ProtocolError[];
}

function run(parser: FrontendParser, stream: Buffer, context: string): Outcome {
  const messages: FrontendMessage[] = [];
  const errors: ProtocolError[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const size = rand() < 0.1 ? 1 + int(stream.length) : 1 + int(16);
    const chunk = stream.subarray(pos, pos + size);
    pos += size;
    const before = messages.length;
    let err: ProtocolError | null = null;
    assert.doesNotThrow(() => {
      err = parser.push(chunk, (m) => messages.push(m));
    }, context);
    if (err !== null) errors.push(err);
    if (errors.length > 0 && err === null) assert.equal(messages.length, before, `${context}: messages after an error`);
    assert.ok(parser.pendingBytes <= MAX_MESSAGE_BYTES + 1, `${context}: holds ${parser.pendingBytes} bytes`);
  }
  const endErr = parser.end();
  if (endErr !== null) errors.push(endErr);
  return { messages, errors };
}

it(`survives ${STREAMS} random and mutated streams (seed ${SEED})`, (t) => {
  t.diagnostic(`GATEHOUSE_FUZZ_SEED=${SEED}`);
  const started = Date.now();
  let messagesSeen = 0;
  let failures = 0;
  for (let s = 0; s < STREAMS; s++) {
    const context = `seed ${SEED}, stream ${s}`;
    const startup = rand() < 0.5;
    const mutating = rand() < 0.7;
    const parts: Buffer[] = [];
    if (startup) parts.push(pick(startupMessages)());
    for (let n = int(8); n >= 0; n--) parts.push(pick(typedMessages)());
    const stream = Buffer.concat(mutating ? parts.map((p) => (rand() < 0.3 ? mutate(p) : p)) : parts);
    // SSLRequest/GSSENCRequest must be answered before more is sent; a clean stream sends only what may follow
    const clean = !mutating && !(startup && parts[0]!.length === 8);

    const parser = new FrontendParser({ maxMessageBytes: MAX_MESSAGE_BYTES });
    if (!startup) parser.startupDone();
    const { messages, errors } = run(parser, stream, context);
    messagesSeen += messages.length;
    failures += errors.length;

    assert.ok(errors.length <= 1, `${context}: ${errors.length} errors reported`);
    assert.equal(parser.error, errors[0] ?? null, context);
    const delivered = Buffer.concat(messages.map((m) => m.raw));
    assert.deepEqual(delivered, stream.subarray(0, delivered.length), `${context}: delivered frames are not the stream's prefix`);
    if (clean) {
      assert.deepEqual(errors, [], context);
      assert.equal(messages.length, parts.length, context);
      assert.equal(delivered.length, stream.length, context);
    }
  }
  t.diagnostic(`${messagesSeen} messages delivered, ${failures} streams rejected, ${Date.now() - started} ms`);
  assert.ok(messagesSeen > 1000 && failures > 100, 'the fuzzer exercised both paths');
});
