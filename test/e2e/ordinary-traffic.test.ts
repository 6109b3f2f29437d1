import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { type Answered, type Logged, startLoggingUpstream, type LoggingUpstream } from '../fixtures/ordinary/logging-upstream.ts';
import { IP_PROMPTS, PROMPTS } from '../fixtures/ordinary/prompts.ts';

/**
 * Ordinary traffic through the real gateway under the `pii` and `secrets` profiles: no refusal,
 * and no alteration. What the upstream logged is what the client sent, byte for byte; what the
 * client got is what the upstream answered. Hardening cannot buy safety with false refusals.
 */

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
}

interface Exchange {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: Headers;
  readonly logged: Logged | undefined;
  readonly answered: Answered | undefined;
}

const json = (value: unknown, indent?: number): Buffer => Buffer.from(JSON.stringify(value, null, indent));

/** REST calls: JSON, forms, text in several charsets, compressed bodies, bodiless methods. */
const REST: readonly (Sent & { readonly name: string })[] = [
  { name: 'order JSON', method: 'POST', path: '/orders/echo', headers: { 'content-type': 'application/json' }, body: json({ order: 'ORD-2024-118734', items: [{ sku: 'AB-1234-XY', qty: 2, price: 19.99 }], placed: '2024-03-18T09:41:07Z' }) },
  { name: 'UUIDs and SHAs', method: 'PUT', path: '/deploys/echo', headers: { 'content-type': 'application/json' }, body: json({ id: '7c9e6679-7425-40de-944b-e07fc1f90ae7', commit: '3f2a9c1d7e4b8a6f0c5d2e9b1a7f3c8d4e6b2a0f', version: '2.4.1-rc.2', image: 'node:20.19-bookworm-slim' }) },
  { name: 'pretty JSON, escapes kept', method: 'POST', path: '/notes/echo', headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from('{\n  "title" : "Caf\\u00e9 menu",\r\n  "tags":["a" ,"b"],  "n": 1.50, "big": 1e21, "x": -0.0\n}\n') },
  { name: 'unicode JSON', method: 'POST', path: '/i18n/echo', headers: { 'content-type': 'application/json' }, body: json({ city: 'São Paulo', note: '会議は3月18日の午後2時から', emoji: '🚀 launch', ar: 'مرحبا' }) },
  { name: 'numbers JSON', method: 'POST', path: '/stats/echo', headers: { 'content-type': 'application/json' }, body: json({ rows: 1048576, revenue: 48200000.5, ratio: 0.1234, build: 20240318, sku: 5012345678900 }) },
  { name: 'GraphQL', method: 'POST', path: '/graphql/echo', headers: { 'content-type': 'application/json' }, body: json({ query: 'query Order($id: ID!) { order(id: $id) { status total } }', variables: { id: 'ORD-2024-118734' } }) },
  { name: 'empty object', method: 'POST', path: '/ping/echo', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') },
  { name: 'vendor JSON', method: 'PATCH', path: '/issues/echo', headers: { 'content-type': 'application/vnd.api+json' }, body: json({ data: { type: 'issues', id: 'PROJ-4521', attributes: { state: 'closed' } } }, 2) },
  { name: 'NDJSON', method: 'POST', path: '/bulk/echo', headers: { 'content-type': 'application/x-ndjson' }, body: Buffer.from('{"index":{"_id":"1"}}\n{"title":"Release 2024.03","sha":"9fceb02"}\n') },
  { name: 'search form', method: 'POST', path: '/search/echo', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('q=linked+list&page=2&sort=created_at%3Adesc&tags=a&tags=b') },
  { name: 'unicode form', method: 'POST', path: '/address/echo', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('city=S%C3%A3o+Paulo&zip=01310-100&note=2%C2%BD+floors&flag') },
  { name: 'plain text', method: 'POST', path: '/memo/echo', headers: { 'content-type': 'text/plain' }, body: Buffer.from('Dear Maria,\nThe review moved to 2 April at 10:30 (room 4417).\nBest, Tom\n') },
  { name: 'markdown', method: 'POST', path: '/docs/echo', headers: { 'content-type': 'text/markdown' }, body: Buffer.from('# Install\n\n```sh\nnpm i gatehouse@1.4.0\n```\n\nSee https://example.com/docs#install and ticket PROJ-4521.\n') },
  { name: 'CSV', method: 'POST', path: '/import/echo', headers: { 'content-type': 'text/csv' }, body: Buffer.from('sku,qty,price,updated\nAB-1234-XY,2,19.99,2024-03-18\nCD-5678-ZW,10,4.50,2024-03-19\n') },
  { name: 'XML', method: 'POST', path: '/feed/echo', headers: { 'content-type': 'application/xml' }, body: Buffer.from('<?xml version="1.0"?><order id="ORD-2024-118734"><total currency="EUR">1249.99</total><note>Caf&#233; &amp; bar</note></order>') },
  { name: 'latin1 text', method: 'POST', path: '/legacy/echo', headers: { 'content-type': 'text/plain; charset=iso-8859-1' }, body: Buffer.from('Réunion reportée à jeudi, salle Molière. Prix : 12,50 €?', 'latin1') },
  { name: 'windows-1252 text', method: 'POST', path: '/legacy/echo', headers: { 'content-type': 'text/plain; charset=windows-1252' }, body: Buffer.from([0x50, 0x72, 0x69, 0x78, 0x20, 0x80, 0x20, 0x31, 0x32, 0x2c, 0x35, 0x30, 0x20, 0x93, 0x6f, 0x6b, 0x94]) },
  { name: 'latin1 without charset', method: 'POST', path: '/legacy/echo', headers: { 'content-type': 'text/plain' }, body: Buffer.from('Caf\xe9 cr\xe8me, 3 \xe0 5 personnes', 'latin1') },
  { name: 'UTF-16 text', method: 'POST', path: '/legacy/echo', headers: { 'content-type': 'text/plain; charset=utf-16le' }, body: Buffer.from('Meeting on 2024-03-18 at 14:00, room B', 'utf16le') },
  { name: 'Shift_JIS text', method: 'POST', path: '/legacy/echo', headers: { 'content-type': 'text/plain; charset=shift_jis' }, body: Buffer.from([0x82, 0xa0, 0x82, 0xa2, 0x20, 0x32, 0x30, 0x32, 0x34]) },
  { name: 'gzip JSON', method: 'POST', path: '/upload/echo', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ batch: 42, ids: ['7c9e6679-7425-40de-944b-e07fc1f90ae7'] })) },
  { name: 'deflate text', method: 'POST', path: '/upload/echo', headers: { 'content-type': 'text/plain', 'content-encoding': 'deflate' }, body: deflateSync('Log line 1: build 20240318.4 ok\nLog line 2: 15 of 15 steps\n') },
  { name: 'br JSON', method: 'POST', path: '/upload/echo', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: brotliCompressSync(JSON.stringify({ version: '10.0.0-beta.1', price: '$1,249.99' })) },
  { name: 'GET with query', method: 'GET', path: '/items?page=3&per_page=50&since=2024-03-01T00:00:00Z' },
  { name: 'DELETE', method: 'DELETE', path: '/items/7c9e6679-7425-40de-944b-e07fc1f90ae7' },
  { name: 'gzip response', method: 'GET', path: '/status/gzip' },
  { name: 'latin1 response', method: 'GET', path: '/status/latin1' },
];

/** LLM calls beyond plain prompts: tools, tool results, content parts, other endpoints. */
const LLM: readonly (Sent & { readonly name: string })[] = [
  {
    name: 'tool definitions',
    method: 'POST',
    path: '/v1/chat/completions',
    body: json({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'What is the status of order ORD-2024-118734?' }],
      tools: [{ type: 'function', function: { name: 'get_order', description: 'Look up an order by its number', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } } }],
      tool_choice: 'auto',
    }),
  },
  {
    name: 'tool call and result',
    method: 'POST',
    path: '/v1/chat/completions',
    body: json({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'Status of ORD-2024-118734?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_Ab12Cd34', type: 'function', function: { name: 'get_order', arguments: '{"order_id":"ORD-2024-118734"}' } }] },
        { role: 'tool', tool_call_id: 'call_Ab12Cd34', content: '{"status":"shipped","eta":"2024-03-21","carrier_ref":"1Z 999 AA1 01 2345 6784"}' },
        { role: 'user', content: 'Write the customer a short update.' },
      ],
    }),
  },
  {
    name: 'content parts',
    method: 'POST',
    path: '/v1/chat/completions',
    body: json({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Compare release 2.3.0 ' }, { type: 'text', text: 'with 2.4.1, commit 9fceb02.' }, { type: 'image_url', image_url: { url: 'https://example.com/chart.png' } }] }],
    }),
  },
  { name: 'responses API', method: 'POST', path: '/v1/responses', body: json({ model: 'gpt-4o-mini', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Summarise ticket PROJ-4521 in two lines.' }] }] }) },
  { name: 'embeddings', method: 'POST', path: '/v1/embeddings', body: json({ model: 'text-embedding-3-small', input: ['Invoice INV-000482 totals $1,249.99', 'Build 20240318.4 failed at step 12'] }) },
  { name: 'models list', method: 'GET', path: '/v1/models' },
];

const PROFILES = ['pii', 'secrets'] as const;

describe('ordinary traffic passes every profile unrefused and unaltered', () => {
  let up: LoggingUpstream;
  let t: TestGateway;
  let token: string;

  before(async () => {
    up = await startLoggingUpstream();
    t = await startTestGateway({
      bodyLimit: '4mb',
      extraConnections: PROFILES.map((p) => `
  - name: llm-${p}
    type: openai
    upstream: ${up.url}
  - name: rest-${p}
    type: http
    upstream: ${up.url}`).join(''),
      policyYaml: `
policy:
  rules:${PROFILES.map((p) => `
    - name: masked-${p}
      match: { connections: [llm-${p}, rest-${p}] }
      action: allow
      mask: ${p}`).join('')}
`,
    });
    token = await t.token({ connections: PROFILES.flatMap((p) => [`llm-${p}`, `rest-${p}`]) });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  async function send(connection: string, sent: Sent): Promise<Exchange> {
    const before = up.requests.length;
    const response = await fetch(`${t.url}/proxy/${connection}${sent.path}`, {
      method: sent.method,
      headers: { authorization: `Bearer ${token}`, ...sent.headers },
      ...(sent.body ? { body: new Uint8Array(sent.body) } : {}),
    });
    const body = Buffer.from(await response.arrayBuffer());
    return { status: response.status, body, headers: response.headers, logged: up.requests[before], answered: up.answers[before] };
  }

  function assertUnaltered(what: string, sent: Sent, got: Exchange): void {
    assert.equal(got.status, 200, `${what}: refused with ${got.status} ${got.body.toString('utf8').slice(0, 300)}`);
    assert.ok(got.logged && got.answered, `${what}: reached the upstream`);
    assert.ok(got.logged.body.equals(sent.body ?? Buffer.alloc(0)), `${what}: the upstream got the bytes sent (${JSON.stringify(got.logged.body.toString('latin1').slice(0, 200))})`);
    for (const header of ['content-type', 'content-encoding']) {
      assert.equal(got.logged.headers[header], sent.headers?.[header], `${what}: ${header} as sent`);
    }
    // fetch undoes a response's Content-Encoding (and under a profile the gateway already did): compare what it encodes.
    const answered = got.answered.headers['content-encoding'] ? decode(got.answered.body, got.answered.headers['content-encoding']) : got.answered.body;
    assert.ok(got.body.equals(answered), `${what}: the client got the bytes answered (${JSON.stringify(got.body.toString('latin1').slice(0, 200))})`);
  }

  for (const profile of PROFILES) {
    test(`${profile}: ${PROMPTS.length} everyday prompts reach the model and come back unchanged`, async () => {
      for (const [i, prompt] of PROMPTS.entries()) {
        const sent: Sent = {
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { 'content-type': 'application/json' },
          body: json({ model: 'gpt-4o-mini', temperature: 0.2, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: prompt }] }),
        };
        assertUnaltered(`prompt ${i}`, sent, await send(`llm-${profile}`, sent));
      }
    });

    test(`${profile}: streamed answers reassemble to what the model streamed`, async () => {
      for (const [i, prompt] of PROMPTS.entries()) {
        if (i % 4 !== 0) continue;
        const sent: Sent = {
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { 'content-type': 'application/json' },
          body: json({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: prompt }] }),
        };
        const got = await send(`llm-${profile}`, sent);
        assert.equal(got.status, 200);
        assert.ok(got.logged!.body.equals(sent.body!), `stream ${i}: request bytes as sent`);
        // Under a profile events may be re-cut (held-back text moves to a later event); the answer may not change.
        assert.equal(reassemble(got.body.toString('utf8')), prompt, `stream ${i}: the answer as streamed`);
        assert.equal(reassemble(got.answered!.body.toString('utf8')), prompt);
      }
    });

    test(`${profile}: tool calls, content parts and other LLM endpoints pass unchanged`, async () => {
      for (const call of LLM) {
        const sent: Sent = { ...call, headers: call.body ? { 'content-type': 'application/json' } : {} };
        assertUnaltered(call.name, sent, await send(`llm-${profile}`, sent));
      }
    });

    test(`${profile}: REST calls in JSON, forms, text, other charsets and encodings pass byte for byte`, async () => {
      for (const call of REST) assertUnaltered(call.name, call, await send(`rest-${profile}`, call));
    });
  }

  test('addresses in documentation: personal data to pii (masked there), unchanged under secrets', async () => {
    for (const { text, underPii } of IP_PROMPTS) {
      for (const profile of PROFILES) {
        const sent: Sent = { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: json({ model: 'm', messages: [{ role: 'user', content: text }] }) };
        const got = await send(`llm-${profile}`, sent);
        assert.equal(got.status, 200);
        const seen = JSON.parse(got.logged!.body.toString('utf8')).messages[0].content;
        assert.equal(seen, profile === 'pii' ? underPii : text);
      }
    }
  });
});

/** The assistant text a client rebuilds from chat completion chunks. */
function reassemble(sse: string): string {
  let text = '';
  for (const line of sse.split(/\r?\n/)) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]' || data === '') continue;
    const event = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
    text += event.choices?.[0]?.delta?.content ?? '';
  }
  return text;
}

function decode(body: Buffer, coding: string): Buffer {
  return coding === 'gzip' ? gunzipSync(body) : coding === 'br' ? brotliDecompressSync(body) : inflateSync(body);
}
