/**
 * Streams (issue 11, class 3): a hostile OpenAI-compatible upstream answers `text/event-stream`
 * with a secret it spreads over events, channels, fields and TCP writes, in front of a connection
 * masked with the `secrets` profile. Each case asserts what reached the upstream (the client's
 * request, byte for byte: it held no secret), what the client could reassemble from the stream
 * (its raw bytes, every event parsed as the SSE specification says, and the text of every channel
 * joined), and what was recorded (the transcript and the rest of the row): the secret in none.
 * One case carries no secret and must come through with the text the upstream sent.
 *
 * Adversarial inputs are tests, not benchmarks: writes are spaced with setImmediate, never timers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';
import type { InteractionRow } from '../../src/store/types.ts';

// Both verified against the built-in `secrets` profile (aws_access_key, openai_key).
const AWS = 'AKIAQ7XZ4M2P9WLK3TRB';
const OPENAI = 'sk-proj-Zq8Xw3Lk9Vb2Nm4Pt7Rs1Yc6Hd0Gf5Ja';
const SECRETS = [AWS, OPENAI] as const;
const AWS_MASK = '[AWS_ACCESS_KEY]';
const OPENAI_MASK = '[OPENAI_KEY]';

// ---------------------------------------------------------------------------------------------
// The hostile upstream: the request's `model` names the canned stream it answers with.

type Piece = string | Buffer;

interface Logged {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

const next = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Cuts bytes into pieces of `size`, and also right after every CR, so a CRLF may straddle two writes. */
function byteRanges(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text);
  const cuts = new Set<number>();
  for (let i = size; i < bytes.length; i += size) cuts.add(i);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 13) cuts.add(i + 1);
  const sorted = [...cuts].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Splits `s` into `n` pieces of near-equal length. */
function splitInto(s: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(s.slice(Math.floor((i * s.length) / n), Math.floor(((i + 1) * s.length) / n)));
  assert.equal(out.join(''), s);
  assert.ok(out.every((p) => p.length > 0));
  return out;
}

const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'hostile', choices: [{ index: 0, finish_reason: null, ...choice }], ...extra });
const data = (json: string, eol = '\n') => `data: ${json}${eol}${eol}`;
const contentEvents = (parts: readonly string[]) => parts.map((p) => data(chunk({ delta: { content: p } })));
const DONE = 'data: [DONE]\n\n';

/** Each stream is the list of writes the upstream makes, one setImmediate apart. */
const STREAMS: Record<string, () => Piece[]> = {
  'split-2': () => [data(chunk({ delta: { role: 'assistant', content: '' } })), ...contentEvents(['The key is ', ...splitInto(AWS, 2), ' - keep it safe.']), data(chunk({ delta: {}, finish_reason: 'stop' })), DONE],
  'split-3': () => [...contentEvents(['Use ', ...splitInto(OPENAI, 3), ' for the API.']), DONE],
  'split-10': () => [...contentEvents([`Keys: `, ...splitInto(AWS, 10), ' and ', ...splitInto(OPENAI, 10), '.']), DONE],
  'finish-first': () => {
    const [a, b] = splitInto(AWS, 2);
    // The first half's event says the choice is finished; the second half still arrives after it.
    return [data(chunk({ delta: { content: `key ${a}` }, finish_reason: 'stop' })), data(chunk({ delta: { content: `${b} end` }, finish_reason: null })), DONE];
  },
  completions: () => {
    const parts = ['token=', ...splitInto(OPENAI, 4), ';'];
    return [...parts.map((p) => data(JSON.stringify({ id: 'cmpl-x', object: 'text_completion', model: 'hostile', choices: [{ text: p, index: 0, logprobs: null, finish_reason: null }] }))), DONE];
  },
  refusal: () => [...['I cannot share ', ...splitInto(AWS, 3), '.'].map((p) => data(chunk({ delta: { refusal: p } }))), DONE],
  reasoning: () => [
    ...['The user wants ', ...splitInto(OPENAI, 5), ' hmm'].map((p) => data(chunk({ delta: { reasoning_content: p } }))),
    data(chunk({ delta: { content: 'Done thinking.' } })),
    DONE,
  ],
  'tool-args': () => {
    const args = JSON.stringify({ region: 'eu-west-1', access_key: AWS });
    const cut = args.indexOf(AWS) + 6;
    const parts = [args.slice(0, cut - 3), args.slice(cut - 3, cut), args.slice(cut, cut + 7), args.slice(cut + 7)];
    return [
      data(chunk({ delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'deploy', arguments: '' } }] } })),
      ...parts.map((p) => data(chunk({ delta: { tool_calls: [{ index: 0, function: { arguments: p } }] } }))),
      data(chunk({ delta: {}, finish_reason: 'tool_calls' })),
      DONE,
    ];
  },
  responses: () => {
    const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
    const pieces = ['Here: ', ...splitInto(AWS, 4), ' ok'];
    const full = pieces.join('');
    const item = { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: full, annotations: [] }] };
    return [
      ev('response.created', { sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } }),
      ...pieces.map((delta, i) => ev('response.output_text.delta', { sequence_number: i + 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta })),
      ev('response.output_text.done', { sequence_number: 20, item_id: 'msg_1', output_index: 0, content_index: 0, text: full }),
      ev('response.completed', { sequence_number: 21, response: { id: 'resp_1', object: 'response', status: 'completed', output: [item] } }),
    ];
  },
  'field-values': () => [
    `event: ${AWS}\ndata: ${chunk({ delta: { content: 'one ' } })}\n\n`,
    `id: ${OPENAI}\ndata: ${chunk({ delta: { content: 'two ' } })}\n\n`,
    `event: note ${OPENAI}\nid: run-${AWS}\nretry: 1000\ndata: ${chunk({ delta: { content: 'three' } })}\n\n`,
    DONE,
  ],
  comments: () => [
    `: keepalive ${AWS}\n`,
    data(chunk({ delta: { content: 'visible ' } })),
    `:${OPENAI}\n: split ${AWS.slice(0, 10)}\n: ${AWS.slice(10)}\n\n`,
    // A field the spec ignores: its name and value are nobody's business either.
    `x-debug: ${AWS}\n${OPENAI}\ndata: ${chunk({ delta: { content: 'text' } })}\n\n`,
    DONE,
  ],
  'error-event': () => [
    data(chunk({ delta: { content: 'Working ' } })),
    `event: error\ndata: ${JSON.stringify({ error: { message: `Incorrect API key provided: ${OPENAI} (aws ${AWS})`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } })}\n\n`,
  ],
  'non-json': () => [data(chunk({ delta: { content: 'Before the garbage. ' } })), `data: not json, the key is ${AWS}\n\n`, data(chunk({ delta: { content: `after ${OPENAI}` } })), DONE],
  'done-then-junk': () => [
    ...contentEvents(['All ', 'done.']),
    DONE,
    data(chunk({ delta: { content: `late ${AWS}` } })),
    `data: junk ${OPENAI}\n\n`,
    `${AWS}\n\n`,
    `trailing bytes without a line end ${OPENAI}`,
  ],
  'done-then-split': () => [
    ...contentEvents(['First answer.']),
    DONE,
    // A second answer after [DONE], its key split over two events, and the stream ends without another [DONE].
    ...contentEvents(['Second: ', ...splitInto(AWS, 2), ' bye']),
  ],
  clean: () => {
    // Ordinary text that looks a little like keys and splits multi-byte characters across writes.
    const text = 'Hello! Café ☕, naïve 𝄞 résumé. AKIA is a prefix; sk- is too. "quoted" \\ back\nslash\tand 42.';
    const parts = splitInto(text, 9);
    const stream = [data(chunk({ delta: { role: 'assistant', content: '' } })), ...contentEvents(parts), data(chunk({ delta: {}, finish_reason: 'stop' })), DONE].join('');
    return byteRanges(stream, 11);
  },
};

/** The same split secret written with each line-ending form, cut at byte ranges (and between CR and LF). */
function lineEndingStream(eol: string): () => Piece[] {
  return () => {
    const [a, b, c] = splitInto(AWS, 3);
    const events = [
      `data: ${chunk({ delta: { content: `start ${a}` } })}${eol}${eol}`,
      // No space after the colon: the space is optional.
      `data:${chunk({ delta: { content: b } })}${eol}${eol}`,
      // One JSON value over two data lines, which a reader joins with LF.
      `data: {"id":"chatcmpl-x","object":"chat.completion.chunk",${eol}data: "choices":[{"index":0,"delta":{"content":"${c} end"},"finish_reason":null}]}${eol}${eol}`,
      `data: [DONE]${eol}${eol}`,
    ];
    return byteRanges(events.join(''), 5);
  };
}
STREAMS['eol-crlf'] = lineEndingStream('\r\n');
STREAMS['eol-cr'] = lineEndingStream('\r');
STREAMS['eol-lf'] = lineEndingStream('\n');
STREAMS['eol-mixed'] = () => {
  const [a, b] = splitInto(OPENAI, 2);
  const text = `data: ${chunk({ delta: { content: a } })}\r\n\ndata: ${chunk({ delta: { content: b } })}\r\r\n: c\rdata: [DONE]\n\r\n`;
  return byteRanges(text, 3);
};

async function startHostileUpstream(): Promise<{ server: Server; url: string; requests: Logged[] }> {
  const requests: Logged[] = [];
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const body = Buffer.concat(parts);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    let model = '';
    try {
      model = String(JSON.parse(body.toString('utf8')).model);
    } catch {
      // not for us
    }
    const stream = STREAMS[model];
    if (!stream) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"no such stream"}}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const piece of stream()) {
      res.write(piece);
      await next();
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

// ---------------------------------------------------------------------------------------------
// The client side: an SSE reader of our own, as the specification says, and reassembly.

interface ClientEvent {
  readonly event: string | null;
  readonly id: string | null;
  readonly data: string;
  readonly json: unknown;
}

interface Parsed {
  readonly events: ClientEvent[];
  readonly comments: string[];
  /** Every line's field name and value, known or not. */
  readonly fields: string[];
}

function parseSse(raw: string): Parsed {
  const events: ClientEvent[] = [];
  const comments: string[] = [];
  const fields: string[] = [];
  let dataLines: string[] | null = null;
  let event: string | null = null;
  let id: string | null = null;
  const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  const lines = text.split(/\r\n|\r|\n/);
  // The last element is an unfinished line (or ''), which the spec discards.
  lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (dataLines !== null) {
        const d = dataLines.join('\n');
        let json: unknown = undefined;
        try {
          json = JSON.parse(d);
        } catch {
          json = undefined;
        }
        events.push({ event, id, data: d, json });
      }
      dataLines = null;
      event = null;
      continue;
    }
    if (line.startsWith(':')) {
      comments.push(line.slice(1));
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    fields.push(`${name}:${value}`);
    if (name === 'data') (dataLines ??= []).push(value);
    else if (name === 'event') event = value;
    else if (name === 'id' && !value.includes('\0')) id = value;
  }
  return { events, comments, fields };
}

const TEXT_KEYS: ReadonlySet<string> = new Set(['content', 'text', 'delta', 'arguments', 'refusal', 'reasoning_content', 'reasoning', 'partial_json', 'thinking', 'transcript', 'message']);

/**
 * Joins, per channel, every text-like string a client could read: a channel is the path of the
 * string with array positions replaced by the element's own `index`, prefixed by the event type.
 * `*` joins every such string in stream order, `**` every string of every event whatever its key.
 */
function reassemble(events: readonly ClientEvent[]): Map<string, string> {
  const channels = new Map<string, string>();
  const add = (key: string, s: string) => channels.set(key, (channels.get(key) ?? '') + s);
  const walk = (value: unknown, path: string, prefix: string, depth: number): void => {
    if (depth > 64) return;
    if (Array.isArray(value)) {
      value.forEach((v, pos) => {
        const idx = typeof v === 'object' && v !== null && typeof (v as { index?: unknown }).index === 'number' ? (v as { index: number }).index : pos;
        walk(v, `${path}.${idx}`, prefix, depth + 1);
      });
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        add('**', v);
        if (TEXT_KEYS.has(k)) {
          add(`${prefix}${`${path}.${k}`.slice(1)}`, v);
          add('*', v);
        }
      } else walk(v, `${path}.${k}`, prefix, depth + 1);
    }
  };
  for (const e of events) {
    if (e.json === undefined) {
      add('**', e.data);
      continue;
    }
    const type = typeof e.json === 'object' && e.json !== null ? (e.json as { type?: unknown }).type : undefined;
    walk(e.json, '', typeof type === 'string' ? `${type}:` : '', 0);
  }
  return channels;
}

// ---------------------------------------------------------------------------------------------

describe('attack: secrets spread over an event stream under the secrets profile', () => {
  let t: TestGateway;
  let up: Awaited<ReturnType<typeof startHostileUpstream>>;
  let token: string;

  before(async () => {
    up = await startHostileUpstream();
    t = await startTestGateway({
      extraConnections: `  - name: hostile\n    type: openai\n    upstream: ${up.url}\n`,
      policyYaml: `
policy:
  rules:
    - name: mask-hostile
      action: allow
      match: { connections: [hostile] }
      mask: secrets
    - name: allow-rest
      action: allow
`,
    });
    token = await t.token({ connections: ['hostile'] });
  });

  after(async () => {
    await t.close();
    await new Promise((resolve) => up.server.close(resolve));
  });

  function assertNoSecret(where: string, text: string): void {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds ${s.slice(0, 8)}…: ${text.slice(0, 400)}`);
  }

  /**
   * Sends a streaming request naming `stream` as its model; checks (a) the upstream got exactly
   * the bytes the client sent and no secret, (b) no secret in the raw bytes, in any parsed field,
   * event or channel, and (c) none in the recorded row. Returns what the client read and the row.
   */
  async function attack(stream: string, path = '/v1/chat/completions') {
    const body = JSON.stringify(
      path === '/v1/responses'
        ? { model: stream, stream: true, input: 'Tell me about deployment.' }
        : path === '/v1/completions'
          ? { model: stream, stream: true, prompt: 'Tell me about deployment.' }
          : { model: stream, stream: true, messages: [{ role: 'user', content: 'Tell me about deployment.' }] },
    );
    assertNoSecret('the request', body);
    const before = up.requests.length;
    const response = await fetch(`${t.url}/proxy/hostile${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body,
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const raw = bytes.toString('utf8');
    const id = response.headers.get('x-request-id');
    assert.ok(id, 'the response names its record');

    // (a) What reached the upstream: one request, exactly as the client sent it.
    const logged = up.requests.slice(before);
    assert.equal(logged.length, 1, 'the upstream was called once');
    const got = logged[0]!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, path);
    assert.ok(got.body.equals(Buffer.from(body)), `the upstream got other bytes than the client sent: ${got.body.toString('utf8')}`);
    assert.ok(!JSON.stringify(got.headers).includes(token), "the agent's token reached the upstream");

    // (b) What the client could read.
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assertNoSecret('the raw stream', raw);
    assertNoSecret('the raw stream without line breaks', raw.replace(/\r\n|\r|\n/g, ''));
    const parsed = parseSse(raw);
    const channels = reassemble(parsed.events);
    for (const [key, text] of channels) assertNoSecret(`the reassembled channel ${key}`, text);
    for (const e of parsed.events) assertNoSecret('an event', `${e.event ?? ''}|${e.id ?? ''}|${e.data}`);
    for (const c of parsed.comments) assertNoSecret('a comment', c);
    for (const f of parsed.fields) assertNoSecret('a field', f);

    // (c) What was recorded.
    let row: InteractionRow | null = null;
    await pollUntil(async () => (row = await t.gateway.store.getInteraction(id)) !== null && row.completedAt !== null, 'the interaction is recorded');
    const recorded = row! as InteractionRow;
    assertNoSecret('the transcript', recorded.responseBody ?? '');
    assertNoSecret('the recorded row', JSON.stringify(recorded));
    return { raw, parsed, channels, row: recorded, text: (key: string) => channels.get(key) ?? '' };
  }

  const CONTENT = 'choices.0.delta.content';

  test('1. one key split across two chat delta.content events', async () => {
    const r = await attack('split-2');
    assert.equal(r.text(CONTENT), `The key is ${AWS_MASK} - keep it safe.`);
    assert.ok(r.row.responseBody?.includes(`The key is ${AWS_MASK} - keep it safe.`), r.row.responseBody ?? '');
    assert.equal(r.parsed.events.at(-1)?.data, '[DONE]');
  });

  test('2. an OpenAI key split across three delta.content events', async () => {
    const r = await attack('split-3');
    assert.equal(r.text(CONTENT), `Use ${OPENAI_MASK} for the API.`);
    assert.ok(r.row.responseBody?.includes(OPENAI_MASK));
  });

  test('3. two keys each split across ten delta.content events', async () => {
    const r = await attack('split-10');
    assert.equal(r.text(CONTENT), `Keys: ${AWS_MASK} and ${OPENAI_MASK}.`);
  });

  test("4. finish_reason arrives on the first half's event; the second half follows it", async () => {
    const r = await attack('finish-first');
    assert.equal(r.text(CONTENT), `key ${AWS_MASK} end`);
  });

  test('5. legacy completions: split across choices[].text events', async () => {
    const r = await attack('completions', '/v1/completions');
    assert.equal(r.text('choices.0.text'), `token=${OPENAI_MASK};`);
  });

  test('6. split across delta.refusal events', async () => {
    const r = await attack('refusal');
    assert.equal(r.text('choices.0.delta.refusal'), `I cannot share ${AWS_MASK}.`);
  });

  test('7. split across delta.reasoning_content events, then plain content', async () => {
    const r = await attack('reasoning');
    assert.equal(r.text('choices.0.delta.reasoning_content'), `The user wants ${OPENAI_MASK} hmm`);
    assert.equal(r.text(CONTENT), 'Done thinking.');
  });

  test('8. split across tool-call function.arguments deltas', async () => {
    const r = await attack('tool-args');
    const args = r.text('choices.0.delta.tool_calls.0.function.arguments');
    assert.deepEqual(JSON.parse(args), { region: 'eu-west-1', access_key: AWS_MASK });
    assert.ok(r.raw.includes('"name":"deploy"'));
  });

  test('9. Responses API: split across response.output_text.delta events with event: lines', async () => {
    const r = await attack('responses', '/v1/responses');
    assert.equal(r.text('response.output_text.delta:delta'), `Here: ${AWS_MASK} ok`);
    // The done and completed events repeat the whole text: masked there too.
    assert.equal(r.text('response.output_text.done:text'), `Here: ${AWS_MASK} ok`);
    assert.equal(r.text('response.completed:response.output.0.content.0.text'), `Here: ${AWS_MASK} ok`);
    // Every event kept its event: name.
    for (const e of r.parsed.events) assert.equal(e.event, (e.json as { type: string }).type);
  });

  test('10. in event: and id: field values', async () => {
    const r = await attack('field-values');
    assert.equal(r.text(CONTENT), 'one two three');
    const names = r.parsed.events.map((e) => e.event).filter((n) => n !== null);
    assert.ok(names.length > 0, 'the event names were kept, masked');
    assert.ok(names.includes(AWS_MASK), `event names: ${names.join(', ')}`);
    assert.ok(r.parsed.events.some((e) => e.id === OPENAI_MASK), 'the id was kept, masked');
  });

  test('11. in comment lines (whole and split over two) and in a field the spec ignores', async () => {
    const r = await attack('comments');
    assert.equal(r.text(CONTENT), 'visible text');
    for (const c of r.parsed.comments) assert.ok(!c.includes('keepalive') && !c.includes('split'), `comment text passed: ${c}`);
    assertNoSecret('the comments joined', r.parsed.comments.join(''));
    assertNoSecret('the unknown fields joined', r.parsed.fields.join(''));
  });

  test('12. in an error event', async () => {
    const r = await attack('error-event');
    const error = r.parsed.events.find((e) => e.event === 'error');
    assert.ok(error, `no error event reached the client: ${r.raw}`);
    const message = (error.json as { error: { message: string } }).error.message;
    assert.equal(message, `Incorrect API key provided: ${OPENAI_MASK} (aws ${AWS_MASK})`);
    assert.ok(r.row.responseBody?.includes(OPENAI_MASK), `the error was recorded, masked: ${r.row.responseBody}`);
  });

  for (const [name, eol] of [
    ['CRLF', 'crlf'],
    ['CR', 'cr'],
    ['LF', 'lf'],
  ] as const) {
    test(`13-${eol}. ${name} line endings, events cut mid-line (and between CR and LF) across TCP writes`, async () => {
      const r = await attack(`eol-${eol}`);
      assert.equal(r.text(CONTENT), `start ${AWS_MASK} end`);
      assert.equal(r.parsed.events.at(-1)?.data, '[DONE]');
    });
  }

  test('14. line endings mixed within one stream, cut every three bytes', async () => {
    const r = await attack('eol-mixed');
    assert.equal(r.text(CONTENT), OPENAI_MASK);
    assert.equal(r.parsed.events.at(-1)?.data, '[DONE]');
  });

  test('15. non-JSON data under the profile ends the stream with an error event (masking_failed)', async () => {
    const r = await attack('non-json');
    assert.ok(!r.raw.includes('not json'), `the raw data passed: ${r.raw}`);
    assert.ok(!r.raw.includes('after'), 'nothing after the bad event is sent');
    const error = r.parsed.events.find((e) => e.event === 'error');
    assert.ok(error, `no error event: ${r.raw}`);
    assert.equal((error.json as { error: { code: string } }).error.code, 'masking_failed');
    assert.equal(r.parsed.events.at(-1), error, 'the error event ends the stream');
    assert.equal(r.row.errorCode, 'masking_failed');
    // What went before it was ordinary text and was delivered as it was.
    // Text held back for the channel when the stream failed is dropped with it: the client read at most a prefix.
    assert.ok('Before the garbage. '.startsWith(r.text(CONTENT)), r.text(CONTENT));
    assert.ok(!(r.row.responseBody ?? '').includes('not json'), 'the raw data was recorded');
  });

  test('16. [DONE] followed by late events, junk data and bytes without a line end', async () => {
    const r = await attack('done-then-junk');
    const done = r.parsed.events.findIndex((e) => e.data === '[DONE]');
    assert.ok(done >= 0, 'the [DONE] reached the client');
    assert.equal(reassemble(r.parsed.events.slice(0, done)).get(CONTENT), 'All done.');
    assert.ok(!r.raw.includes('junk'), `junk data passed: ${r.raw}`);
    assert.ok(!r.raw.includes('trailing bytes'), 'an unfinished line passed');
  });

  test('17. after [DONE], a key split across two more events, and the stream ends without another [DONE]', async () => {
    const r = await attack('done-then-split');
    const done = r.parsed.events.findIndex((e) => e.data === '[DONE]');
    assert.ok(done >= 0, 'the [DONE] reached the client');
    assert.equal(reassemble(r.parsed.events.slice(0, done)).get(CONTENT), 'First answer.');
    // Whatever a client reads past [DONE] is masked as the rest is, if it is passed at all.
    const late = reassemble(r.parsed.events.slice(done + 1)).get(CONTENT) ?? '';
    assert.ok(late === '' || late === `Second: ${AWS_MASK} bye`, late);
  });

  test('18. no secret at all: the text comes through exactly as the upstream sent it', async () => {
    const r = await attack('clean');
    assert.equal(r.text(CONTENT), 'Hello! Café ☕, naïve 𝄞 résumé. AKIA is a prefix; sk- is too. "quoted" \\ back\nslash\tand 42.');
    assert.ok(!r.raw.includes('\uFFFD'), 'a multi-byte character cut across writes was corrupted');
    assert.ok(!r.raw.includes('event: error'));
    assert.equal(r.row.errorCode, null);
    assert.ok(r.parsed.events.some((e) => (e.json as { choices?: { finish_reason?: string }[] })?.choices?.[0]?.finish_reason === 'stop'));
    assert.equal(r.parsed.events.at(-1)?.data, '[DONE]');
    assert.ok(r.row.responseBody?.includes('Hello! Café ☕'), r.row.responseBody ?? '');
  });
});
