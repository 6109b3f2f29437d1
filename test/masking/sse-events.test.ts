import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { type SseEvent, SseEventSplitter } from '../../src/masking/sse-events.ts';

const STREAM =
  ': keep-alive\n\n' +
  'data: {"a":"héllo 👋"}\n\n' +
  'event: response.output_text.delta\r\ndata: {"b":1}\r\n\r\n' +
  'id: 7\ndata: line one\ndata: line two\n\n' +
  'data: [DONE]\n\n';

const EXPECTED: SseEvent[] = [
  { raw: ': keep-alive', terminator: '\n\n' },
  { raw: 'data: {"a":"héllo 👋"}', terminator: '\n\n' },
  { raw: 'event: response.output_text.delta\r\ndata: {"b":1}', terminator: '\r\n\r\n' },
  { raw: 'id: 7\ndata: line one\ndata: line two', terminator: '\n\n' },
  { raw: 'data: [DONE]', terminator: '\n\n' },
];

test('events come out whole wherever the bytes are cut, UTF-8 included', () => {
  const bytes = Buffer.from(STREAM, 'utf8');
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 5)]) {
      const s = new SseEventSplitter(1 << 20);
      const events = [...s.push(bytes.subarray(0, i)), ...s.push(bytes.subarray(i, j)), ...s.push(bytes.subarray(j)), ...s.end()];
      assert.deepEqual(events, EXPECTED, `cut at ${i}/${j}`);
    }
  }
});

test('one byte at a time', () => {
  const s = new SseEventSplitter(1 << 20);
  const events: SseEvent[] = [];
  for (const b of Buffer.from(STREAM)) events.push(...s.push(Buffer.from([b])));
  events.push(...s.end());
  assert.deepEqual(events, EXPECTED);
});

test('an event without its blank line is returned at the end', () => {
  const s = new SseEventSplitter(1 << 20);
  assert.deepEqual(s.push('data: {"x":1}\n\ndata: tail'), [{ raw: 'data: {"x":1}', terminator: '\n\n' }]);
  assert.deepEqual(s.end(), [{ raw: 'data: tail', terminator: '' }]);
});

test('an event that never ends is refused once over the limit', () => {
  const s = new SseEventSplitter(100);
  assert.throws(() => s.push(`data: ${'x'.repeat(200)}`), (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed');
});
