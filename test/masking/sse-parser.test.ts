import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { SseParser, type SseSink } from '../../src/masking/sse-parser.ts';

type Got = ['event', string | null, string | null, string | null, string | null] | ['comment', string];

class Recorder implements SseSink {
  readonly got: Got[] = [];
  onEvent(type: string | null, data: string | null, id: string | null, retry: string | null): void {
    this.got.push(['event', type, data, id, retry]);
  }
  onComment(text: string): void {
    this.got.push(['comment', text]);
  }
}

function parse(chunks: readonly (string | Buffer)[], max = 1 << 20): Got[] {
  const r = new Recorder();
  const p = new SseParser(r, max);
  for (const c of chunks) p.push(typeof c === 'string' ? Buffer.from(c) : c);
  p.end();
  return r.got;
}

const SAMPLE_LINES = [
  ': keep-alive',
  '',
  'data: {"a":"héllo 👋"}',
  '',
  'event: response.output_text.delta',
  'data: {"b":1}',
  '',
  'id: 7',
  'data: line one',
  'data:line two',
  'data:  two spaces',
  '',
  'retry: 1500',
  '',
  'data: [DONE]',
  '',
];

const EXPECTED: Got[] = [
  ['comment', ' keep-alive'],
  ['event', null, '{"a":"héllo 👋"}', null, null],
  ['event', 'response.output_text.delta', '{"b":1}', null, null],
  ['event', null, 'line one\nline two\n two spaces', '7', null],
  ['event', null, null, null, '1500'],
  ['event', null, '[DONE]', null, null],
];

for (const [name, eol] of [
  ['LF', '\n'],
  ['CRLF', '\r\n'],
  ['CR', '\r'],
] as const) {
  test(`lines ended by ${name} give the same events`, () => {
    assert.deepEqual(parse([SAMPLE_LINES.join(eol) + eol]), EXPECTED);
  });
}

test('a mix of CRLF, LF and CR in one stream', () => {
  const eols = ['\r\n', '\n', '\r'];
  const text = SAMPLE_LINES.map((l, i) => l + eols[i % 3]).join('');
  assert.deepEqual(parse([text]), EXPECTED);
});

test('split at every byte offset, and at every pair of offsets, the events are identical', () => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const bytes = Buffer.from(SAMPLE_LINES.join(eol) + eol);
    for (let i = 0; i <= bytes.length; i++) {
      assert.deepEqual(parse([bytes.subarray(0, i), bytes.subarray(i)]), EXPECTED, `${JSON.stringify(eol)} cut at ${i}`);
      for (const j of [i + 1, i + 2, i + 7]) {
        if (j > bytes.length) continue;
        assert.deepEqual(parse([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]), EXPECTED, `cut at ${i}/${j}`);
      }
    }
    assert.deepEqual(parse([...bytes].map((b) => Buffer.from([b]))), EXPECTED, 'one byte at a time');
  }
});

test('a CR ending one chunk and an LF starting the next are one line break, not a blank line', () => {
  assert.deepEqual(parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']), [['event', null, 'a\nb', null, null]]);
});

test('a leading BOM is dropped, even split across chunks; a later one is data', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const body = Buffer.from('data: x\n\n');
  assert.deepEqual(parse([Buffer.concat([bom, body])]), [['event', null, 'x', null, null]]);
  assert.deepEqual(parse([bom.subarray(0, 1), Buffer.concat([bom.subarray(1), body])]), [['event', null, 'x', null, null]]);
  assert.deepEqual(parse([Buffer.concat([body, bom, body])]), [
    ['event', null, 'x', null, null],
    // "\uFEFFdata" is a field name the spec ignores
  ]);
});

test('fields as the spec reads them', () => {
  const cases: [string, Got[]][] = [
    ['data\n\n', [['event', null, '', null, null]]],
    ['data:\n\n', [['event', null, '', null, null]]],
    ['data:x\n\n', [['event', null, 'x', null, null]]],
    ['data: x:y: z\n\n', [['event', null, 'x:y: z', null, null]]],
    ['data\t: x\n\n', []],
    ['Data: x\n\n', []],
    ['event: a\nevent: b\ndata: x\n\n', [['event', 'b', 'x', null, null]]],
    ['event: only\n\n', []],
    ['id: a\u0000b\ndata: x\n\n', [['event', null, 'x', null, null]]],
    ['id\n\n', [['event', null, null, '', null]]],
    ['retry: 12a\ndata: x\n\n', [['event', null, 'x', null, null]]],
    ['foo: bar\ndata: x\n\n', [['event', null, 'x', null, null]]],
    [':\n', [['comment', '']]],
    ['data: x\n\n\n\n', [['event', null, 'x', null, null]]],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parse([input]), expected, JSON.stringify(input));
});

test('an event without its blank line at end of stream is discarded, as a browser discards it', () => {
  assert.deepEqual(parse(['data: one\n\ndata: two\n']), [['event', null, 'one', null, null]]);
  assert.deepEqual(parse(['data: one\n\ndata: tw']), [['event', null, 'one', null, null]]);
});

test('an event that outgrows the cap is refused, split or not', () => {
  const isMasking = (err: unknown): boolean => err instanceof MaskingError && err.code === 'masking_failed';
  assert.throws(() => parse([`data: ${'x'.repeat(200)}`], 100), isMasking);
  assert.throws(() => parse([`data: ${'x'.repeat(60)}\n`, `data: ${'x'.repeat(60)}\n`], 100), isMasking);
  // comments between events are not part of any event
  assert.doesNotThrow(() => parse([`: ${'x'.repeat(60)}\n`.repeat(5)], 100));
});

test('invalid UTF-8 becomes U+FFFD, as the spec decodes', () => {
  assert.deepEqual(parse([Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a])]), [['event', null, '\uFFFD', null, null]]);
});
