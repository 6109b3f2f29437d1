import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../../src/errors.ts';
import { BedrockStreamMasker } from '../../../src/providers/bedrock/stream-masker.ts';
import { profileOf } from '../../masking/profile-fixture.ts';
import { anthropicStream, chunk, converseStream, converseTexts, event, exception, frame, inner, readEvents, splitEvery } from './support/wire.ts';

const pii = profileOf({ entities: { secret: 'redact', pii: 'redact' } });
const SECRET = 'AKIAIOSFODNN7EXAMPLE';
const EMAIL = 'maria.garcia@example.com';
const isMasking = (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed';

function run(chunks: readonly Buffer[], profile = pii): { out: Buffer; masker: BedrockStreamMasker } {
  const masker = new BedrockStreamMasker({ profile, transcriptBytes: 64 * 1024 });
  const parts = chunks.map((c) => masker.push(c));
  parts.push(masker.end());
  return { out: Buffer.concat(parts), masker };
}

/** Cuts `text` in two inside `secret`. */
function splitInside(text: string, secret: string): [string, string] {
  const at = text.indexOf(secret) + Math.floor(secret.length / 2);
  return [text.slice(0, at), text.slice(at)];
}

test('ConverseStream: a secret split across two text deltas never reaches the client', () => {
  const [one, two] = splitInside(`my key is ${SECRET} ok`, SECRET);
  const { out, masker } = run(converseStream([one, two]));
  const events = readEvents(out);
  const text = converseTexts(events).get('0:text')!;
  assert.ok(!out.includes(SECRET.slice(0, 10)) && !out.includes(SECRET.slice(10)), 'no half of the secret in the bytes');
  assert.ok(!text.includes(SECRET));
  assert.match(text, /my key is .+ ok/);
  assert.ok(!masker.transcript().includes(SECRET));
  // Held text goes out before its block stops, and the stream keeps its event order.
  const types = events.map((e) => e.headers[':event-type']);
  assert.equal(types[0], 'messageStart');
  assert.ok(types.lastIndexOf('contentBlockDelta') < types.indexOf('contentBlockStop'));
  assert.deepEqual(types.slice(-2), ['messageStop', 'metadata']);
  assert.deepEqual(masker.usage, { inputTokens: 11, outputTokens: 7 });
});

test('ConverseStream: the secret split at every character position is masked', () => {
  const text = `contact ${EMAIL} today`;
  const at = text.indexOf(EMAIL);
  for (let cut = at + 1; cut < at + EMAIL.length; cut++) {
    const { out } = run(converseStream([text.slice(0, cut), text.slice(cut)]));
    assert.ok(!converseTexts(readEvents(out)).get('0:text')!.includes(EMAIL), `cut at ${cut}`);
  }
});

test('ConverseStream: the bytes themselves split anywhere give the same masked answer', () => {
  const whole = Buffer.concat(converseStream(['key ', SECRET.slice(0, 7), SECRET.slice(7), ' done']));
  const reference = converseTexts(readEvents(run([whole]).out)).get('0:text');
  for (const size of [1, 3, 17, 64]) {
    assert.equal(converseTexts(readEvents(run(splitEvery(whole, size)).out)).get('0:text'), reference, `chunks of ${size}`);
  }
  assert.ok(!reference!.includes(SECRET));
});

test('ConverseStream: tool input JSON split across deltas is masked, and the transcript names the tool', () => {
  const input = JSON.stringify({ to: EMAIL, note: 'hi' });
  const [one, two] = splitInside(input, EMAIL);
  const { out, masker } = run(converseStream(['calling'], { name: 'send_mail', input: [one, two] }));
  const tool = converseTexts(readEvents(out)).get('1:tool')!;
  assert.ok(!tool.includes(EMAIL));
  assert.ok(!out.includes(EMAIL.slice(0, 8)) || !out.includes(EMAIL.slice(8)));
  assert.match(masker.transcript(), /\[tool call\] send_mail\(/);
  assert.ok(!masker.transcript().includes(EMAIL));
});

test('ConverseStream: reasoning text is a channel too', () => {
  const [one, two] = splitInside(`thinking about ${SECRET}`, SECRET);
  const chunks = [
    event('messageStart', { role: 'assistant' }),
    event('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: one } } }),
    event('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: two } } }),
    event('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { signature: 'c2lnbmF0dXJl' } } }),
    event('contentBlockStop', { contentBlockIndex: 0 }),
    event('messageStop', { stopReason: 'end_turn' }),
  ];
  const { out, masker } = run(chunks);
  assert.ok(!converseTexts(readEvents(out)).get('0:reasoning')!.includes(SECRET));
  assert.match(masker.transcript(), /\[reasoning\]/);
});

test('InvokeModelWithResponseStream (Anthropic): a secret split across chunks is masked inside the base64', () => {
  const [one, two] = splitInside(`the key: ${SECRET}.`, SECRET);
  const { out, masker } = run(anthropicStream([one, two]));
  const chunks = readEvents(out).map(inner);
  const text = chunks.filter((c) => c.type === 'content_block_delta').map((c) => c.delta.text).join('');
  assert.ok(!text.includes(SECRET));
  assert.match(text, /^the key: .+\.$/);
  assert.equal(chunks.at(-1).type, 'message_stop', 'the metrics chunk stays last');
  const types = chunks.map((c) => c.type as string);
  assert.ok(types.indexOf('content_block_stop') > types.lastIndexOf('content_block_delta'));
  assert.deepEqual(masker.usage, { inputTokens: 9, outputTokens: 6 });
  assert.ok(!masker.transcript().includes(SECRET));
});

test('InvokeModelWithResponseStream (Anthropic): tool input JSON deltas are held back too', () => {
  const input = JSON.stringify({ email: EMAIL });
  const [one, two] = splitInside(input, EMAIL);
  const chunks = [
    chunk({ type: 'message_start', message: { usage: { input_tokens: 3 } } }),
    chunk({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't1', name: 'lookup', input: {} } }),
    chunk({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: one } }),
    chunk({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: two } }),
    chunk({ type: 'content_block_stop', index: 0 }),
    chunk({ type: 'message_stop' }),
  ];
  const { out, masker } = run(chunks);
  const json = readEvents(out).map(inner).filter((c) => c.type === 'content_block_delta').map((c) => c.delta.partial_json).join('');
  assert.ok(!json.includes(EMAIL));
  assert.match(masker.transcript(), /\[tool call\] lookup\(/);
});

test('InvokeModelWithResponseStream: Titan, Llama, Mistral and Nova chunks are understood', () => {
  const [one, two] = splitInside(`x ${SECRET} y`, SECRET);
  const families: [string, unknown[], (c: any) => string][] = [
    ['titan', [{ outputText: one, index: 0 }, { outputText: two, index: 0, completionReason: 'FINISH' }], (c) => c.outputText ?? ''],
    ['llama', [{ generation: one }, { generation: two, stop_reason: 'stop', prompt_token_count: 4, generation_token_count: 5 }], (c) => c.generation ?? ''],
    ['mistral', [{ outputs: [{ text: one, stop_reason: null }] }, { outputs: [{ text: two, stop_reason: 'stop' }] }], (c) => c.outputs?.[0]?.text ?? ''],
    [
      'nova',
      [
        { messageStart: { role: 'assistant' } },
        { contentBlockDelta: { delta: { text: one }, contentBlockIndex: 0 } },
        { contentBlockDelta: { delta: { text: two }, contentBlockIndex: 0 } },
        { contentBlockStop: { contentBlockIndex: 0 } },
        { messageStop: { stopReason: 'end_turn' } },
      ],
      (c) => c.contentBlockDelta?.delta?.text ?? '',
    ],
  ];
  for (const [name, inners, textOf] of families) {
    const { out, masker } = run(inners.map(chunk));
    const text = readEvents(out).map(inner).map(textOf).join('');
    assert.ok(!text.includes(SECRET), name);
    assert.match(text, /^x .+ y$/, name);
    assert.ok(!masker.transcript().includes(SECRET), name);
  }
});

test('an exception event is passed on masked, and noted in the transcript', () => {
  const { out, masker } = run([event('messageStart', { role: 'assistant' }), exception('throttlingException', `slow down ${EMAIL}`)]);
  const events = readEvents(out);
  assert.equal(events[1]!.headers[':message-type'], 'exception');
  assert.equal(events[1]!.headers[':exception-type'], 'throttlingException');
  assert.ok(!events[1]!.json.message.includes(EMAIL));
  assert.match(masker.transcript(), /\[error\] throttlingException: slow down/);
});

test('without a profile the bytes pass untouched, read on the side for transcript and usage', () => {
  const chunks = converseStream([`plain ${EMAIL}`, ' text']);
  const masker = new BedrockStreamMasker({ profile: null, transcriptBytes: 4096 });
  for (const c of chunks) assert.equal(masker.push(c), c);
  assert.equal(masker.end().length, 0);
  assert.equal(masker.transcript(), `plain ${EMAIL} text`);
  assert.deepEqual(masker.usage, { inputTokens: 11, outputTokens: 7 });
});

test('without a profile a stream the gateway cannot read still passes, and says so in the transcript', () => {
  const masker = new BedrockStreamMasker({ profile: null, transcriptBytes: 4096 });
  const garbage = Buffer.from('this is not an event stream at all, just bytes');
  assert.equal(masker.push(garbage), garbage);
  masker.end();
  assert.match(masker.transcript(), /event stream not readable/);
});

test('failure() ends the stream with an exception message the SDK can decode', () => {
  const masker = new BedrockStreamMasker({ profile: pii, transcriptBytes: 1024 });
  const [e] = readEvents(masker.failure(new MaskingError('withheld')));
  assert.equal(e!.headers[':message-type'], 'exception');
  assert.equal(e!.headers[':exception-type'], 'internalServerException');
  assert.match(e!.json.message, /withheld/);
});

// Hostile upstreams under a profile: each fails the stream (MaskingError), never passes unchecked.

function refuses(name: string, chunks: readonly Buffer[]): void {
  test(`hostile under a profile: ${name}`, () => {
    assert.throws(() => run(chunks), isMasking);
  });
}

const start = event('messageStart', { role: 'assistant' });
refuses('an unknown ConverseStream event type', [start, event('secretSideChannel', { text: SECRET })]);
refuses('an unknown delta kind', [start, event('contentBlockDelta', { contentBlockIndex: 0, delta: { audio: SECRET } })]);
refuses('a delta without a delta', [start, event('contentBlockDelta', { contentBlockIndex: 0 })]);
refuses('a block index that is not an integer', [start, event('contentBlockDelta', { contentBlockIndex: '0', delta: { text: 'x' } })]);
refuses('a negative block index', [start, event('contentBlockDelta', { contentBlockIndex: -1, delta: { text: 'x' } })]);
refuses('a payload that is not JSON', [frame({ ':event-type': 'contentBlockDelta', ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from(`text ${SECRET}`))]);
refuses('a payload that is JSON but not an object', [frame({ ':event-type': 'metadata', ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from(`["${SECRET}"]`))]);
refuses('a payload of another content type', [frame({ ':event-type': 'contentBlockDelta', ':content-type': 'text/plain', ':message-type': 'event' }, Buffer.from(SECRET))]);
refuses('a payload that is not UTF-8', [frame({ ':event-type': 'metadata', ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))]);
refuses('an unknown message type', [frame({ ':message-type': 'surprise', ':event-type': 'metadata' }, {})]);
refuses('an event without an event type', [frame({ ':message-type': 'event', ':content-type': 'application/json' }, {})]);
refuses('an exception type that is not a plain name', [frame({ ':message-type': 'exception', ':exception-type': 'x y/../z' }, { message: 'm' })]);
refuses('an InvokeModel chunk whose bytes are not base64', [event('chunk', { bytes: `${SECRET}!!` })]);
refuses('an InvokeModel chunk whose bytes are not JSON', [event('chunk', { bytes: Buffer.from(`plain ${SECRET}`).toString('base64') })]);
refuses('an InvokeModel chunk of a family the gateway does not know', [chunk({ completion: `text ${SECRET}` })]);
refuses('an Anthropic chunk of an unknown type', [chunk({ type: 'content_block_surprise', text: SECRET })]);
refuses('an Anthropic delta of an unknown kind', [chunk({ type: 'content_block_delta', index: 0, delta: { type: 'audio_delta', data: SECRET } })]);
refuses('ConverseStream events after an InvokeModel chunk', [chunk({ type: 'ping' }), event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'x' } })]);
refuses('a chunk event inside a ConverseStream', [start, chunk({ type: 'ping' })]);
refuses('a corrupt CRC', [(() => {
  const bad = Buffer.from(start);
  bad[bad.length - 2]! ^= 0x10;
  return bad;
})()]);
refuses('a truncated stream', [start.subarray(0, start.length - 1)]);
refuses('a stream cut inside the prelude', [start.subarray(0, 5)]);
refuses(
  'more than 1024 open blocks',
  Array.from({ length: 1100 }, (_, i) => event('contentBlockDelta', { contentBlockIndex: i, delta: { text: 'X' } })),
);
