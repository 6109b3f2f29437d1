import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { createOpenAiSseMasker } from '../../src/masking/index.ts';
import { profileOf } from './profile-fixture.ts';

const pii = profileOf({ entities: { secret: 'redact', pii: 'redact', credit_card: 'partial' } });
const ENVELOPE = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1715678000, model: 'gpt-4o-mini' };

function chatEvent(delta: Record<string, unknown>, finish: string | null = null, index = 0): string {
  return `data: ${JSON.stringify({ ...ENVELOPE, choices: [{ index, delta, finish_reason: finish }] })}\n\n`;
}

function chatStream(pieces: readonly string[]): string {
  return (
    chatEvent({ role: 'assistant', content: '' }) +
    pieces.map((p) => chatEvent({ content: p })).join('') +
    chatEvent({}, 'stop') +
    'data: [DONE]\n\n'
  );
}

interface Parsed {
  content: Map<number, string>;
  args: Map<string, string>;
  events: unknown[];
}

/** Parses masked SSE output back into per-choice content and per-tool-call arguments. */
function parse(sse: string): Parsed {
  const content = new Map<number, string>();
  const args = new Map<string, string>();
  const events: unknown[] = [];
  for (const block of sse.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).find((l) => l.startsWith('data: '))?.slice(6);
    if (data === undefined || data === '[DONE]') continue;
    const e = JSON.parse(data) as { choices?: { index: number; delta: { content?: string; tool_calls?: { index: number; function: { arguments?: string } }[] } }[] };
    events.push(e);
    for (const c of e.choices ?? []) {
      if (typeof c.delta.content === 'string') content.set(c.index, (content.get(c.index) ?? '') + c.delta.content);
      for (const t of c.delta.tool_calls ?? []) {
        const key = `${c.index}:${t.index}`;
        if (typeof t.function.arguments === 'string') args.set(key, (args.get(key) ?? '') + t.function.arguments);
      }
    }
  }
  return { content, args, events };
}

function run(chunks: readonly (string | Buffer)[]): { out: string; pushed: string[] } {
  const m = createOpenAiSseMasker(pii);
  const pushed = chunks.map((c) => m.push(c));
  return { out: pushed.join('') + m.end(), pushed };
}

function splitEvery(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

const SECRETS = ['AKIAIOSFODNN7EXAMPLE', '4242 4242 4242 4242', 'maria.garcia@example.com'];

for (const secret of SECRETS) {
  test(`${secret} split over 2, 3 and one-char deltas is masked in the SSE stream`, () => {
    const full = `Here it is: ${secret}. Anything else?`;
    const expected = pii.maskText(full).text;
    const at = full.indexOf(secret);
    const splits = [
      [full.slice(0, at + 4), full.slice(at + 4)],
      [full.slice(0, at + 3), full.slice(at + 3, at + 9), full.slice(at + 9)],
      splitEvery(full, 1),
    ];
    for (const pieces of splits) {
      const stream = chatStream(pieces);
      // and the raw bytes themselves cut at odd places, including inside the secret's event
      for (const chunks of [[stream], splitEvery(stream, 7), splitEvery(stream, 1)]) {
        const { out } = run(chunks);
        assert.ok(!out.includes(secret));
        assert.equal(parse(out).content.get(0), expected);
        assert.ok(out.endsWith('data: [DONE]\n\n'));
      }
    }
  });
}

test('safe text flows before the upstream finishes; held text is flushed before the finishing event', () => {
  const m = createOpenAiSseMasker(pii);
  const first = m.push(chatEvent({ role: 'assistant', content: '' }) + chatEvent({ content: 'Hello there, the key is AKIA' }));
  assert.equal(parse(first).content.get(0), 'Hello there, the key is ');
  const second = m.push(chatEvent({ content: 'IOSFODNN7EXAMPLE' }));
  assert.equal(parse(second).content.get(0) ?? '', '');
  const finish = m.push(chatEvent({}, 'stop'));
  const events = parse(finish).events as { choices: { delta: { content?: string }; finish_reason: string | null }[] }[];
  assert.equal(events.length, 2);
  assert.deepEqual(events[0]!.choices[0], { index: 0, delta: { content: '[AWS_ACCESS_KEY]' }, finish_reason: null });
  assert.equal(events[1]!.choices[0]!.finish_reason, 'stop');
  assert.deepEqual(Object.keys(events[0]!).sort(), ['choices', 'created', 'id', 'model', 'object']);
  assert.equal(m.push('data: [DONE]\n\n'), 'data: [DONE]\n\n');
  assert.equal(m.end(), '');
  assert.deepEqual(m.findings.map((f) => [f.type, f.path]), [['aws_access_key', 'choices[0].delta.content']]);
});

test('a finishing chunk that carries content gets the held text in place', () => {
  const { out } = run([chatEvent({ content: 'card 4242 4242 ' }), chatEvent({ content: '4242 4242' }, 'stop'), 'data: [DONE]\n\n']);
  const events = parse(out).events as { choices: { delta: { content?: string }; finish_reason: string | null }[] }[];
  assert.equal(events.length, 2);
  assert.equal(events[1]!.choices[0]!.delta.content, '****4242');
  assert.equal(events[1]!.choices[0]!.finish_reason, 'stop');
});

test('held text is flushed before [DONE], and at end() when there is no [DONE]', () => {
  const withDone = run([chatEvent({ content: 'mail maria@example.com' }), 'data: [DONE]\n\n']).out;
  assert.match(withDone, /"content":"\[EMAIL\]"[^]*data: \[DONE\]\n\n$/);
  const cut = run([chatEvent({ content: 'mail maria@example.com' })]).out;
  assert.equal(parse(cut).content.get(0), 'mail [EMAIL]');
});

test('each choice and each tool call has its own masker', () => {
  const call = (choice: number, tool: number, args: string, extra: Record<string, unknown> = {}): string =>
    chatEvent({ tool_calls: [{ index: tool, ...extra, function: { ...(extra.function as object), arguments: args } }] }, null, choice);
  const stream =
    call(0, 0, '{"to":"maria.gar', { id: 'call_1', type: 'function', function: { name: 'send' } }) +
    call(0, 1, '{"card":"4242 4242', { id: 'call_2', type: 'function', function: { name: 'pay' } }) +
    chatEvent({ content: 'AKIAIOSF' }, null, 1) +
    call(0, 0, 'cia@example.com"}') +
    call(0, 1, ' 4242 4242"}') +
    chatEvent({ content: 'ODNN7EXAMPLE' }, null, 1) +
    chatEvent({}, 'tool_calls', 0) +
    chatEvent({}, 'stop', 1) +
    'data: [DONE]\n\n';
  for (const chunks of [[stream], splitEvery(stream, 1)]) {
    const { out } = run(chunks);
    const p = parse(out);
    assert.equal(p.args.get('0:0'), '{"to":"[EMAIL]"}');
    assert.equal(p.args.get('0:1'), '{"card":"****4242"}');
    assert.equal(p.content.get(1), '[AWS_ACCESS_KEY]');
    // tool call names and ids pass through
    assert.match(out, /"id":"call_1","type":"function","function":\{"name":"send"/);
  }
});

test('Responses API deltas are masked; done events repeat the masked text', () => {
  const ev = (type: string, body: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  const ids = { item_id: 'msg_1', output_index: 0, content_index: 0 };
  const stream =
    ev('response.created', { response: { id: 'resp_1', output: [] } }) +
    ev('response.output_text.delta', { ...ids, delta: 'key AKIAIOS' }) +
    ev('response.output_text.delta', { ...ids, delta: 'FODNN7EXAMPLE' }) +
    ev('response.output_text.done', { ...ids, text: 'key AKIAIOSFODNN7EXAMPLE' }) +
    ev('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: '{"email":"maria@exa' }) +
    ev('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: 'mple.com"}' }) +
    ev('response.function_call_arguments.done', { item_id: 'fc_1', output_index: 1, arguments: '{"email":"maria@example.com"}' }) +
    ev('response.completed', { response: { id: 'resp_1', output: [{ content: [{ type: 'output_text', text: 'key AKIAIOSFODNN7EXAMPLE' }] }] } });
  for (const chunks of [[stream], splitEvery(stream, 3)]) {
    const { out } = run(chunks);
    assert.ok(!out.includes('AKIAIOSFODNN7EXAMPLE') && !out.includes('maria@example.com'));
    const datas = out
      .split('\n\n')
      .filter(Boolean)
      .map((b) => JSON.parse(b.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as Record<string, any>);
    const text = datas.filter((d) => d.type === 'response.output_text.delta').map((d) => d.delta).join('');
    const args = datas.filter((d) => d.type === 'response.function_call_arguments.delta').map((d) => d.delta).join('');
    assert.equal(text, 'key [AWS_ACCESS_KEY]');
    assert.equal(args, '{"email":"[EMAIL]"}');
    assert.equal(datas.find((d) => d.type === 'response.output_text.done')!.text, 'key [AWS_ACCESS_KEY]');
    assert.equal(datas.find((d) => d.type === 'response.completed')!.response.output[0].content[0].text, 'key [AWS_ACCESS_KEY]');
    // every event keeps its event: line
    assert.equal(out.split('\n\n').filter(Boolean).every((b) => b.startsWith('event: ')), true);
  }
});

test('comments, non-JSON data and unknown events pass through byte for byte', () => {
  const stream = ': keep-alive\n\nretry: 1000\n\ndata: not json at all\n\nevent: ping\ndata: {"ok":true}\n\n';
  assert.equal(run(splitEvery(stream, 2)).out, stream);
});

test('CRLF streams stay CRLF, also in flush events', () => {
  const stream = `data: ${JSON.stringify({ ...ENVELOPE, choices: [{ index: 0, delta: { content: 'mail maria@example.com' }, finish_reason: null }] })}\r\n\r\ndata: [DONE]\r\n\r\n`;
  const { out } = run(splitEvery(stream, 5));
  assert.equal(out.replace(/\r\n/g, '').includes('\n'), false);
  assert.equal(parse(out).content.get(0), 'mail [EMAIL]');
});

test('multi-byte characters split across chunks survive', () => {
  const stream = chatStream(['Grüße 👋 ', 'und schöne Tage']);
  const bytes = Buffer.from(stream);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
  assert.equal(parse(run(chunks).out).content.get(0), 'Grüße 👋 und schöne Tage');
});

test('an oversized event fails the stream instead of buffering without end', () => {
  const m = createOpenAiSseMasker(pii, { maxEventBytes: 1024 });
  assert.throws(() => m.push(`data: ${'x'.repeat(2000)}`), (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed');
  assert.throws(() => m.push('data: [DONE]\n\n'), MaskingError);
});
