import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { createOpenAiSseMasker, reassembleSseTranscript } from '../../src/masking/index.ts';
import {
  chatEvent,
  clientEvents,
  completionEvent,
  ENVELOPE,
  pii,
  responsesEvent,
  runMasker,
  SECRETS,
  splitAcross,
  splitEvery,
  visibleText,
} from './sse-fixture.ts';

const isMasking = (err: unknown): boolean => err instanceof MaskingError && err.code === 'masking_failed';

/** One streaming channel: how an upstream carries a piece of its text, and what marks the end. */
interface ChannelShape {
  readonly name: string;
  readonly piece: (text: string) => string;
  readonly start?: string;
  readonly end: string;
  /** The label the transcript puts before this channel's text. */
  readonly label: string;
}

const respIds = { item_id: 'msg_1', output_index: 0, content_index: 0 };
const CHANNELS: readonly ChannelShape[] = [
  { name: 'chat content', piece: (t) => chatEvent({ content: t }), start: chatEvent({ role: 'assistant', content: '' }), end: chatEvent({}, 'stop') + 'data: [DONE]\n\n', label: '' },
  { name: 'chat refusal', piece: (t) => chatEvent({ refusal: t }), end: 'data: [DONE]\n\n', label: '[refusal] ' },
  { name: 'chat reasoning', piece: (t) => chatEvent({ reasoning: t }), end: 'data: [DONE]\n\n', label: '[reasoning] ' },
  { name: 'chat reasoning_content', piece: (t) => chatEvent({ reasoning_content: t }), end: 'data: [DONE]\n\n', label: '[reasoning] ' },
  {
    name: 'chat tool call arguments',
    start: chatEvent({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'send', arguments: '' } }] }),
    piece: (t) => chatEvent({ tool_calls: [{ index: 0, function: { arguments: t } }] }),
    end: chatEvent({}, 'tool_calls') + 'data: [DONE]\n\n',
    label: '[tool call] send(',
  },
  {
    name: 'legacy function_call arguments',
    start: chatEvent({ function_call: { name: 'send', arguments: '' } }),
    piece: (t) => chatEvent({ function_call: { arguments: t } }),
    end: 'data: [DONE]\n\n',
    label: '[tool call] send(',
  },
  { name: 'legacy completions text', piece: (t) => completionEvent(t), end: completionEvent('', 0, 'stop') + 'data: [DONE]\n\n', label: '' },
  {
    name: 'Responses output_text',
    piece: (t) => responsesEvent('response.output_text.delta', { ...respIds, delta: t }),
    end: responsesEvent('response.completed', { response: { id: 'resp_1', status: 'completed' } }),
    label: '',
  },
  {
    name: 'Responses refusal',
    piece: (t) => responsesEvent('response.refusal.delta', { ...respIds, delta: t }),
    end: responsesEvent('response.completed', { response: { id: 'resp_1' } }),
    label: '[refusal] ',
  },
  {
    name: 'Responses reasoning summary',
    piece: (t) => responsesEvent('response.reasoning_summary_text.delta', { item_id: 'rs_1', output_index: 0, summary_index: 0, delta: t }),
    end: responsesEvent('response.incomplete', { response: { id: 'resp_1' } }),
    label: '[reasoning] ',
  },
  {
    name: 'Responses reasoning text',
    piece: (t) => responsesEvent('response.reasoning_text.delta', { item_id: 'rs_1', output_index: 0, content_index: 0, delta: t }),
    end: responsesEvent('response.failed', { response: { id: 'resp_1' } }),
    label: '[reasoning] ',
  },
  {
    name: 'Responses function call arguments',
    piece: (t) => responsesEvent('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: t }),
    end: responsesEvent('response.completed', { response: { id: 'resp_1' } }),
    label: '[tool call] ',
  },
  {
    name: 'Anthropic text block',
    piece: (t) => `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })}\n\n`,
    end: 'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    label: '',
  },
  {
    name: 'Gemini candidate text',
    piece: (t) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: t }], role: 'model' }, index: 0 }], modelVersion: 'gemini-2.5-flash' })}\n\n`,
    end: `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, finishReason: 'STOP', index: 0 }] })}\n\n`,
    label: '',
  },
  {
    name: 'Gemini thought summary',
    piece: (t) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: t, thought: true }], role: 'model' }, index: 0 }] })}\n\n`,
    end: '',
    label: '[reasoning] ',
  },
];

for (const channel of CHANNELS) {
  test(`${channel.name}: a secret split across 2..N events never reaches the client whole`, () => {
    for (const secret of SECRETS) {
      const full = `Here it is: ${secret}. Anything else?`;
      const expected = channel.label + pii.maskText(full).text;
      for (const parts of [2, 3, 5, secret.length]) {
        const stream = (channel.start ?? '') + splitAcross(full, secret, parts).map(channel.piece).join('') + channel.end;
        for (const chunks of [[stream], splitEvery(stream, 7)]) {
          const { out, masker } = runMasker(chunks);
          assert.ok(!visibleText(out).includes(secret), `${secret} in ${parts} parts`);
          const client = reassembleSseTranscript(out);
          assert.ok(client.startsWith(expected), `${channel.name}: ${client}`);
          assert.ok(!masker.transcript().includes(secret));
          assert.ok(masker.transcript().startsWith(expected));
        }
      }
    }
  });
}

test('safe text flows at once; held text waits for [DONE], not for finish_reason', () => {
  const m = createOpenAiSseMasker(pii);
  const first = m.push(Buffer.from(chatEvent({ role: 'assistant', content: '' }) + chatEvent({ content: 'Hello there, the key is AKIA' })));
  assert.equal(reassembleSseTranscript(first), 'Hello there, the key is ');
  assert.equal(reassembleSseTranscript(m.push(Buffer.from(chatEvent({ content: 'IOSFODNN7EXAMPLE' })))), '');
  const finish = m.push(Buffer.from(chatEvent({}, 'stop')));
  assert.equal(clientEvents(finish).length, 1);
  assert.equal(reassembleSseTranscript(finish), '');
  const done = m.push(Buffer.from('data: [DONE]\n\n'));
  const events = clientEvents(done);
  assert.equal(events.length, 2);
  assert.deepEqual(JSON.parse(events[0]!.data!), { ...ENVELOPE, choices: [{ index: 0, delta: { content: '[AWS_ACCESS_KEY]' }, finish_reason: null }] });
  assert.equal(events[1]!.data, '[DONE]');
  assert.equal(m.end(), '');
  assert.deepEqual(
    m.findings.map((f) => f.type),
    ['aws_access_key'],
  );
});

test('a finish_reason that arrives early does not end the channel: text after it is still masked whole', () => {
  const stream = chatEvent({ content: 'key AKIAIOSF' }, 'stop') + chatEvent({ content: 'ODNN7EXAMPLE' }) + 'data: [DONE]\n\n';
  const { out } = runMasker([stream]);
  assert.equal(reassembleSseTranscript(out), 'key [AWS_ACCESS_KEY]');
});

test('held text is flushed at end() when the upstream sends no [DONE]', () => {
  const { out } = runMasker([chatEvent({ content: 'mail maria@example.com' })]);
  assert.equal(reassembleSseTranscript(out), 'mail [EMAIL]');
});

test('interleaved choices and tool calls each have their own channel', () => {
  const call = (choice: number, tool: number, args: string, extra: Record<string, unknown> = {}): string =>
    chatEvent({ tool_calls: [{ index: tool, ...extra, function: { ...(extra.function as object), arguments: args } }] }, null, choice);
  const stream =
    call(0, 0, '{"to":"maria.gar', { id: 'call_1', type: 'function', function: { name: 'send' } }) +
    call(0, 1, '{"card":"4242 4242', { id: 'call_2', type: 'function', function: { name: 'pay' } }) +
    chatEvent({ content: 'AKIAIOSF' }, null, 1) +
    call(0, 0, 'cia@example.com"}') +
    chatEvent({}, 'stop', 1) +
    call(0, 1, ' 4242 4242"}') +
    chatEvent({ content: 'ODNN7EXAMPLE' }, null, 1) +
    chatEvent({}, 'tool_calls', 0) +
    'data: [DONE]\n\n';
  for (const chunks of [[stream], splitEvery(stream, 1)]) {
    const { out, masker } = runMasker(chunks);
    const expected = ['[tool call] send({"to":"[EMAIL]"})', '[tool call] pay({"card":"****4242"})', '[choice 1] [AWS_ACCESS_KEY]'].join('\n');
    assert.equal(reassembleSseTranscript(out), expected);
    assert.equal(masker.transcript(), expected);
    assert.match(out, /"id":"call_1","type":"function","function":\{"name":"send"/);
  }
});

test('Responses done events and the final response repeat the full text: masked as whole strings', () => {
  const stream =
    responsesEvent('response.created', { response: { id: 'resp_1', output: [] } }) +
    responsesEvent('response.output_text.delta', { ...respIds, delta: 'key AKIAIOS' }) +
    responsesEvent('response.output_text.delta', { ...respIds, delta: 'FODNN7EXAMPLE' }) +
    responsesEvent('response.output_text.done', { ...respIds, text: 'key AKIAIOSFODNN7EXAMPLE' }) +
    responsesEvent('response.content_part.done', { ...respIds, part: { type: 'output_text', text: 'key AKIAIOSFODNN7EXAMPLE' } }) +
    responsesEvent('response.completed', { response: { id: 'resp_1', output: [{ content: [{ type: 'output_text', text: 'key AKIAIOSFODNN7EXAMPLE' }] }] } });
  for (const chunks of [[stream], splitEvery(stream, 3)]) {
    const { out } = runMasker(chunks);
    assert.ok(!visibleText(out).includes('AKIAIOSFODNN7EXAMPLE'));
    const events = clientEvents(out);
    const datas = events.map((e) => JSON.parse(e.data!) as Record<string, any>);
    assert.equal(datas.filter((d) => d.type === 'response.output_text.delta').map((d) => d.delta).join(''), 'key [AWS_ACCESS_KEY]');
    assert.equal(datas.find((d) => d.type === 'response.output_text.done')!.text, 'key [AWS_ACCESS_KEY]');
    assert.equal(datas.find((d) => d.type === 'response.completed')!.response.output[0].content[0].text, 'key [AWS_ACCESS_KEY]');
    // the flush event comes before the final event and names its item
    const flush = datas.map((d) => d.type).lastIndexOf('response.output_text.delta');
    assert.ok(flush < datas.findIndex((d) => d.type === 'response.completed'));
    assert.equal(datas[flush]!.item_id, 'msg_1');
    assert.ok(events.every((e) => e.type === datas[events.indexOf(e)]!.type), 'every event keeps its event: name');
  }
});

test('error events are masked as JSON, in either shape', () => {
  const stream =
    chatEvent({ content: 'partial answer ' }) +
    'data: {"error":{"message":"key AKIAIOSFODNN7EXAMPLE was rejected","type":"server_error","code":null}}\n\n' +
    'event: error\ndata: {"type":"error","message":"contact maria.garcia@example.com"}\n\n';
  const { out, masker } = runMasker([stream]);
  const datas = clientEvents(out).map((e) => JSON.parse(e.data!) as Record<string, any>);
  assert.equal(datas[1]!.error.message, 'key [AWS_ACCESS_KEY] was rejected');
  assert.equal(datas[2]!.message, 'contact [EMAIL]');
  assert.equal(clientEvents(out)[2]!.type, 'error');
  assert.ok(!masker.transcript().includes('AKIAIOSFODNN7EXAMPLE'));
  assert.match(masker.transcript(), /\[error\] .*\[AWS_ACCESS_KEY\] was rejected/);
});

test('event names, ids and comments are masked; retry passes; [DONE] passes', () => {
  const stream = ': token AKIAIOSFODNN7EXAMPLE\n\nevent: maria@example.com\nid: AKIAIOSFODNN7EXAMPLE\nretry: 3000\ndata: {"ok":true}\n\ndata: [DONE]\n\n';
  const { out } = runMasker(splitEvery(stream, 2));
  assert.equal(out, ':\nevent: [EMAIL]\nid: [AWS_ACCESS_KEY]\nretry: 3000\ndata: {"ok":true}\n\ndata: [DONE]\n\n');
});

test('data that is not JSON fails the stream; failure() ends it with an OpenAI-shaped error event', () => {
  const m = createOpenAiSseMasker(pii);
  const before = m.push(Buffer.from(chatEvent({ content: 'Hello ' })));
  let caught: unknown;
  try {
    m.push(Buffer.from('data: the key is AKIAIOSF\n\ndata: ODNN7EXAMPLE\n\n'));
  } catch (err) {
    caught = err;
  }
  assert.ok(isMasking(caught));
  assert.ok(!(caught as Error).message.includes('AKIA'));
  const tail = m.failure(caught as Error);
  const events = clientEvents(before + tail);
  const last = events[events.length - 1]!;
  assert.equal(last.type, 'error');
  assert.deepEqual(JSON.parse(last.data!).error.code, 'masking_failed');
  assert.throws(() => m.push(Buffer.from('data: [DONE]\n\n')), isMasking);
});

test('CRLF and CR streams keep their line breaks, also in flush events', () => {
  for (const eol of ['\r\n', '\r']) {
    const stream = `data: ${JSON.stringify({ ...ENVELOPE, choices: [{ index: 0, delta: { content: 'mail maria@example.com' }, finish_reason: null }] })}${eol}${eol}data: [DONE]${eol}${eol}`;
    const { out } = runMasker(splitEvery(stream, 5));
    assert.equal(out.split(eol).join('').includes(eol === '\r' ? '\n' : '\r'), false);
    assert.equal(reassembleSseTranscript(out), 'mail [EMAIL]');
  }
});

test('split at every byte offset, the masked output reassembles identically to the unsplit run', () => {
  const stream =
    ': hi\r\n\r\n' +
    chatEvent({ role: 'assistant', content: '' }) +
    chatEvent({ content: 'Grüße 👋, key AKIAIOS' }).replace(/\n/g, '\r') +
    chatEvent({ content: 'FODNN7EXAMPLE and 4242 4242 ' }).replace(/\n\n$/, '\r\n\r\n') +
    chatEvent({ reasoning_content: 'mail maria@exa' }, null, 1) +
    chatEvent({ content: '4242 4242 done' }, 'stop') +
    completionEvent('maria@example.com', 1) +
    responsesEvent('response.output_text.delta', { ...respIds, delta: 'AKIAIOSFODNN7EXAMPLE' }) +
    'data: [DONE]\n\n';
  const bytes = Buffer.from(stream);
  const whole = runMasker([bytes]).out;
  assert.ok(!visibleText(whole).includes('AKIAIOSFODNN7EXAMPLE'));
  const expected = clientEvents(whole);
  // Line breaks may differ where a CR ends a chunk (its kind is not known yet); what a client reads may not.
  for (let i = 0; i <= bytes.length; i++) {
    assert.deepEqual(clientEvents(runMasker([bytes.subarray(0, i), bytes.subarray(i)]).out), expected, `cut at ${i}`);
  }
  assert.deepEqual(clientEvents(runMasker([...bytes].map((b) => Buffer.from([b]))).out), expected);
});

test('an oversized event fails the stream instead of buffering without end', () => {
  const m = createOpenAiSseMasker(pii, { maxEventBytes: 1024 });
  assert.throws(() => m.push(Buffer.from(`data: ${'x'.repeat(2000)}`)), isMasking);
  assert.throws(() => m.push(Buffer.from('data: [DONE]\n\n')), isMasking);
});

test('an ordinary stream is unchanged apart from event framing', () => {
  const stream = chatStreamOf(['The weather ', 'in Paris is ', 'mild today.']);
  const { out } = runMasker([stream]);
  assert.equal(reassembleSseTranscript(out), 'The weather in Paris is mild today.');
  for (const e of clientEvents(out)) if (e.data !== '[DONE]') assert.deepEqual(Object.keys(JSON.parse(e.data!)), ['id', 'object', 'created', 'model', 'choices']);
});

function chatStreamOf(pieces: readonly string[]): string {
  return chatEvent({ role: 'assistant', content: '' }) + pieces.map((p) => chatEvent({ content: p })).join('') + chatEvent({}, 'stop') + 'data: [DONE]\n\n';
}
