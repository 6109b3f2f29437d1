import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BackendScanner, type FrameHandler } from '../../../src/adapters/postgres/backend-scanner.ts';
import { cstr, i16, i32, msg } from './wire-bytes.ts';

const dataRow = (...values: string[]) => msg('D', i16(values.length), ...values.flatMap((v) => [i32(Buffer.byteLength(v)), Buffer.from(v)]));
const stream = Buffer.concat([
  msg('T', i16(1), cstr('name'), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)),
  dataRow('alice'),
  dataRow('x'.repeat(300)),
  msg('C', cstr('SELECT 2')),
  msg('Z', Buffer.from('I')),
]);

/** Replaces every DataRow with an upper-cased copy when `rewrite` is on; records what it saw. */
function handler(rewrite: boolean) {
  const seen: string[] = [];
  const h: FrameHandler = {
    wantsWhole: (type) => rewrite || type !== 0x44,
    onHeader: (type, length) => void seen.push(`${String.fromCharCode(type)}${length}`),
    onFrame: (type, buf, start, end) => {
      if (type !== 0x44 || !rewrite) return undefined;
      const copy = Buffer.from(buf.subarray(start, end));
      for (let i = 11; i < copy.length; i++) copy[i] = String.fromCharCode(copy[i]!).toUpperCase().charCodeAt(0);
      return copy;
    },
  };
  return { h, seen };
}

function run(rewrite: boolean, chunks: Buffer[]): { out: Buffer; seen: string[]; midFrame: boolean[] } {
  const { h, seen } = handler(rewrite);
  const scanner = new BackendScanner(h);
  const out: Buffer[] = [];
  const midFrame: boolean[] = [];
  for (const chunk of chunks) {
    assert.equal(scanner.push(chunk, out), null);
    midFrame.push(scanner.midFrame);
  }
  return { out: Buffer.concat(out), seen, midFrame };
}

describe('BackendScanner', () => {
  it('passes a stream through unchanged, split at every position', () => {
    const whole = run(false, [stream]);
    assert.deepEqual(whole.out, stream);
    assert.deepEqual(whole.seen, ['T30', 'D16', 'D311', 'C14', 'Z6']);
    for (let cut = 0; cut <= stream.length; cut++) {
      const split = run(false, [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(split.out, stream, `cut at ${cut}`);
      assert.deepEqual(split.seen, whole.seen, `cut at ${cut}`);
    }
  });

  it('passes a stream through byte by byte, and says when it is inside a frame', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    const result = run(false, bytes);
    assert.deepEqual(result.out, stream);
    assert.equal(result.midFrame.at(-1), false);
    assert.ok(result.midFrame.some((m) => m));
  });

  it('replaces frames it wants whole, wherever the chunk boundaries fall', () => {
    const expected = Buffer.concat([
      msg('T', i16(1), cstr('name'), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)),
      dataRow('ALICE'),
      dataRow('X'.repeat(300)),
      msg('C', cstr('SELECT 2')),
      msg('Z', Buffer.from('I')),
    ]);
    for (let a = 0; a <= stream.length; a += 7) {
      for (let b = a; b <= stream.length; b += 13) {
        const result = run(true, [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        assert.deepEqual(result.out, expected, `cuts at ${a}, ${b}`);
      }
    }
  });

  it('refuses a stream that is not PostgreSQL (bad lengths)', () => {
    const { h } = handler(false);
    for (const bad of [Buffer.from([0x44, 0, 0, 0, 2]), Buffer.from([0x44, 0x7f, 0xff, 0xff, 0xff])]) {
      assert.equal(new BackendScanner(h).push(bad, [])?.code, 'protocol_error');
    }
  });
});
