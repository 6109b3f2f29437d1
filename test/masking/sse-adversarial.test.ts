/**
 * Streams an upstream (or whoever controls its output) might send to carry a secret past the
 * SSE masker. Each case states what the client may see: either the stream is masked and no
 * secret can be read or reassembled from it, or it fails closed with masking_failed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { createOpenAiSseMasker, reassembleSseTranscript } from '../../src/masking/index.ts';
import { chatEvent, completionEvent, pii, responsesEvent, runMasker, splitEvery, visibleText } from './sse-fixture.ts';

const KEY = 'AKIAIOSFODNN7EXAMPLE';
const MAIL = 'maria.garcia@example.com';
const CARD = '4242 4242 4242 4242';
const DONE = 'data: [DONE]\n\n';

interface Case {
  readonly name: string;
  readonly stream: string | readonly Buffer[];
  readonly secrets: readonly string[];
  readonly outcome: 'masked' | 'fails';
}

const logprob = (token: string): Record<string, unknown> => ({ token, logprob: -0.1, bytes: [...Buffer.from(token)], top_logprobs: [{ token, logprob: -0.1 }] });

const CASES: Case[] = [
  {
    name: 'split across content deltas with CR line endings',
    stream: (chatEvent({ content: 'key AKIAIOSF' }) + chatEvent({ content: 'ODNN7EXAMPLE' }) + DONE).replace(/\n/g, '\r'),
    secrets: [KEY],
    outcome: 'masked',
  },
  {
    name: 'finish_reason sent before the rest of the secret',
    stream: chatEvent({ content: 'mail maria.garcia@' }, 'stop') + chatEvent({ content: 'example.com' }) + DONE,
    secrets: [MAIL],
    outcome: 'masked',
  },
  {
    name: 'two choices interleaved, each carrying half of its own secret',
    stream: chatEvent({ content: 'AKIAIOSF' }, null, 0) + chatEvent({ content: '4242 4242 ' }, null, 1) + chatEvent({ content: 'ODNN7EXAMPLE' }, null, 0) + chatEvent({ content: '4242 4242' }, 'stop', 1) + DONE,
    secrets: [KEY, CARD],
    outcome: 'masked',
  },
  { name: 'secret in an event: name', stream: `event: ${KEY}\ndata: {"ok":1}\n\n`, secrets: [KEY], outcome: 'masked' },
  { name: 'secret in an id: field', stream: `id: ${MAIL}\ndata: {"ok":1}\n\n`, secrets: [MAIL], outcome: 'masked' },
  { name: 'secret in an id: on a block without data', stream: `id: ${KEY}\n\n`, secrets: [KEY], outcome: 'masked' },
  { name: 'secret in a comment', stream: `: ${KEY}\n\n${DONE}`, secrets: [KEY], outcome: 'masked' },
  { name: 'secret in an unknown field', stream: `x-token: ${KEY}\ndata: {"ok":1}\n\n`, secrets: [KEY], outcome: 'masked' },
  { name: 'secret as a retry value', stream: `retry: 4242424242424242\ndata: {"ok":1}\n\n`, secrets: ['4242424242424242'], outcome: 'masked' },
  { name: 'secret in plain-text data', stream: `data: the key is ${KEY}\n\n`, secrets: [KEY], outcome: 'fails' },
  { name: 'secret split across plain-text events', stream: 'data: AKIAIOSF\n\ndata: ODNN7EXAMPLE\n\n', secrets: [KEY], outcome: 'fails' },
  { name: '[DONE] followed by more text', stream: `data: [DONE] ${KEY}\n\n`, secrets: [KEY], outcome: 'fails' },
  { name: 'secret in a JSON key', stream: `data: {"${MAIL}":"x","choices":[]}\n\n`, secrets: [MAIL], outcome: 'masked' },
  {
    name: 'secret in a tool call name and id',
    stream: chatEvent({ tool_calls: [{ index: 0, id: `call_${KEY}`, type: 'function', function: { name: MAIL, arguments: '' } }] }) + DONE,
    secrets: [KEY, MAIL],
    outcome: 'masked',
  },
  {
    name: 'tool call arguments split without index fields',
    stream: chatEvent({ tool_calls: [{ function: { arguments: '{"k":"AKIAIOSF' } }] }) + chatEvent({ tool_calls: [{ function: { arguments: 'ODNN7EXAMPLE"}' } }] }) + DONE,
    secrets: [KEY],
    outcome: 'masked',
  },
  { name: 'legacy completion text split', stream: completionEvent('maria.gar') + completionEvent('cia@example.com') + DONE, secrets: [MAIL], outcome: 'masked' },
  {
    name: 'one JSON event spread over several data lines',
    stream: `data: {"choices":[{"index":0,\ndata: "delta":{"content":\ndata: "${KEY}"}}]}\n\n`,
    secrets: [KEY],
    outcome: 'masked',
  },
  { name: 'error event carrying a secret', stream: `data: {"error":{"message":"bad key ${KEY}"}}\n\n`, secrets: [KEY], outcome: 'masked' },
  { name: 'event: error carrying a secret', stream: `event: error\ndata: {"message":"${MAIL}"}\n\n`, secrets: [MAIL], outcome: 'masked' },
  { name: 'event: error with plain text', stream: `event: error\ndata: upstream said ${KEY}\n\n`, secrets: [KEY], outcome: 'fails' },
  {
    name: 'logprobs spelling the secret token by token',
    stream:
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'AKIAIOSF' }, logprobs: { content: [logprob('AKIAIOSF')] } }] })}\n\n` +
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'ODNN7EXAMPLE' }, logprobs: { content: [logprob('ODNN7EXAMPLE')] } }] })}\n\n` +
      DONE,
    secrets: [KEY, 'AKIAIOSF'],
    outcome: 'masked',
  },
  {
    name: 'Responses reasoning summary split, then repeated in done events',
    stream:
      responsesEvent('response.reasoning_summary_text.delta', { item_id: 'rs', output_index: 0, summary_index: 0, delta: 'mail maria.garcia@ex' }) +
      responsesEvent('response.reasoning_summary_text.delta', { item_id: 'rs', output_index: 0, summary_index: 0, delta: 'ample.com' }) +
      responsesEvent('response.reasoning_summary_text.done', { item_id: 'rs', output_index: 0, summary_index: 0, text: `mail ${MAIL}` }) +
      responsesEvent('response.completed', { response: { output: [{ summary: [{ text: `mail ${MAIL}` }] }] } }),
    secrets: [MAIL],
    outcome: 'masked',
  },
  {
    name: 'a Responses delta type the masker has never seen',
    stream:
      responsesEvent('response.future_thing.delta', { item_id: 'f', output_index: 0, delta: 'AKIAIOSF' }) +
      responsesEvent('response.future_thing.delta', { item_id: 'f', output_index: 0, delta: 'ODNN7EXAMPLE' }) +
      responsesEvent('response.completed', { response: {} }),
    secrets: [KEY],
    outcome: 'masked',
  },
  {
    name: 'a secret split across the stream end without [DONE] or a final blank line',
    stream: chatEvent({ content: 'key AKIAIOSF' }) + `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'ODNN7EXAMPLE' } }] })}\n`,
    secrets: [KEY],
    outcome: 'masked',
  },
  {
    name: 'deltas that keep coming after [DONE]',
    stream: chatEvent({ content: 'ok' }) + DONE + chatEvent({ content: 'AKIAIOSF' }) + chatEvent({ content: 'ODNN7EXAMPLE' }),
    secrets: [KEY],
    outcome: 'masked',
  },
  { name: 'a leading BOM before a secret event', stream: [Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chatEvent({ content: KEY }))], secrets: [KEY], outcome: 'masked' },
  { name: 'data: with no space and with two spaces', stream: `data:{"m":"${KEY}"}\n\ndata:  {"m":"${MAIL}"}\n\n`, secrets: [KEY, MAIL], outcome: 'masked' },
  { name: 'a JSON string as the whole event', stream: `data: "${KEY}"\n\n`, secrets: [KEY], outcome: 'masked' },
  { name: 'invalid UTF-8 inside the data', stream: [Buffer.from('data: {"m":"'), Buffer.from([0xff, 0xfe]), Buffer.from(`${KEY}"}\n\n`)], secrets: [KEY], outcome: 'masked' },
  { name: 'an event larger than the cap', stream: [Buffer.from(`data: {"m":"${'x'.repeat(9 * 1024 * 1024)}`)], secrets: [], outcome: 'fails' },
  {
    name: 'Anthropic partial JSON split across block deltas',
    stream:
      `data: ${JSON.stringify({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"to":"maria.garcia@' } })}\n\n` +
      `data: ${JSON.stringify({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'example.com"}' } })}\n\n` +
      'data: {"type":"message_stop"}\n\n',
    secrets: [MAIL],
    outcome: 'masked',
  },
  {
    name: 'content whose JSON escapes spell the secret',
    stream: `data: {"choices":[{"index":0,"delta":{"content":"key \\u0041KIAIOSFODNN7EXAMPLE"}}]}\n\n${DONE}`,
    secrets: [KEY],
    outcome: 'masked',
  },
];

function chunksOf(stream: Case['stream']): Buffer[] {
  return typeof stream === 'string' ? [Buffer.from(stream)] : [...stream];
}

for (const c of CASES) {
  test(`adversarial: ${c.name}`, () => {
    const splits = [chunksOf(c.stream)];
    if (typeof c.stream === 'string' && c.stream.length < 4096) splits.push(splitEvery(c.stream, 3).map((s) => Buffer.from(s)));
    for (const chunks of splits) {
      if (c.outcome === 'fails') {
        const { MaskingErrorSeen, out } = attempt(chunks);
        assert.ok(MaskingErrorSeen, 'the stream fails closed');
        for (const s of c.secrets) assert.ok(!visibleText(out).includes(s));
        continue;
      }
      const { out, masker } = runMasker(chunks);
      const readable = visibleText(out) + '\n' + reassembleSseTranscript(out);
      for (const s of c.secrets) {
        assert.ok(!readable.includes(s), `${s} readable in ${JSON.stringify(out)}`);
        assert.ok(!masker.transcript().includes(s), `${s} recorded`);
      }
    }
  });
}

function attempt(chunks: readonly Buffer[]): { MaskingErrorSeen: boolean; out: string } {
  const masker = createOpenAiSseMasker(pii);
  let out = '';
  try {
    for (const chunk of chunks) out += masker.push(chunk);
    out += masker.end();
    return { MaskingErrorSeen: false, out };
  } catch (err) {
    if (!(err instanceof MaskingError) || err.code !== 'masking_failed') throw err;
    // What the client got before the failure, and the event that ends its stream.
    return { MaskingErrorSeen: true, out: out + masker.failure(err) };
  }
}

test('at least twenty adversarial inputs are kept', () => {
  assert.ok(CASES.length >= 20);
});
