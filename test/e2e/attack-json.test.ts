import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';
import type { InteractionRow } from '../../src/store/types.ts';
import { startLoggingUpstream, type LoggingUpstream } from '../fixtures/ordinary/logging-upstream.ts';

/**
 * JSON as the upstream reads it (issue 11, class 1). A key named twice is read as its first
 * value by some parsers and its last by others, so it is refused where it could fool a check;
 * keys are scanned like values; escapes, content parts and numbers are read as the model reads
 * them. Each case says what reached the upstream, what the client got and what was recorded.
 */

const AWS = 'AKIAIOSFODNN7EXAMPLE';
const OPENAI = 'sk-proj-' + 'Zq8Xw2Lm4Nv6Bp1Tr3Ys5Hd7Kf9Gc0Jh2Ua4Ve6W';
const GITHUB = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';
const CARD = '4111111111111111';
const SECRETS = [AWS, OPENAI, GITHUB, CARD, OPENAI.slice(0, 20), GITHUB.slice(4)];

/** An upstream whose answers are JSON chosen by path (to test what is shown to the client). */
async function startAnsweringUpstream(): Promise<{ server: Server; url: string }> {
  const answers: Record<string, string> = {
    '/dup': `{"id":"r1","note":"${AWS}","note":"fine"}`,
    '/dup-nested': `{"data":[{"k":1,"k":"${GITHUB}"}]}`,
    '/secret-key': `{"${AWS}":"value","ok":true}`,
    '/escaped': `{"token":"\\u0067hp_${GITHUB.slice(4)}"}`,
  };
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    const body = answers[(req.url ?? '').split('?')[0]!] ?? '{}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('attack: JSON as the upstream reads it', () => {
  let up: LoggingUpstream;
  let answering: Awaited<ReturnType<typeof startAnsweringUpstream>>;
  let t: TestGateway;
  let token: string;

  before(async () => {
    up = await startLoggingUpstream();
    answering = await startAnsweringUpstream();
    t = await startTestGateway({
      extraConnections: `
  - name: llm-pii
    type: openai
    upstream: ${up.url}
  - name: llm-open
    type: openai
    upstream: ${up.url}
  - name: rest-pii
    type: http
    upstream: ${up.url}
  - name: rest-open
    type: http
    upstream: ${up.url}
  - name: answers-pii
    type: http
    upstream: ${answering.url}
`,
      policyYaml: `
policy:
  rules:
    - name: masked
      match: { connections: [llm-pii, rest-pii, answers-pii] }
      action: allow
      mask: pii
    - name: open
      action: allow
`,
    });
    token = await t.token({ connections: ['llm-pii', 'llm-open', 'rest-pii', 'rest-open', 'answers-pii'] });
  });
  after(async () => {
    await t.close();
    await up.close();
    await new Promise((resolve) => answering.server.close(resolve));
  });

  async function send(connection: string, path: string, body: string | null, contentType = 'application/json') {
    const before = up.requests.length;
    const response = await fetch(`${t.url}/proxy/${connection}${path}`, {
      method: body === null ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === null ? {} : { 'content-type': contentType }) },
      ...(body === null ? {} : { body }),
    });
    const text = await response.text();
    const id = response.headers.get('x-request-id')!;
    let row: InteractionRow | null = null;
    await pollUntil(async () => (row = await t.gateway.store.getInteraction(id)) !== null && row.completedAt !== null, 'the interaction is recorded');
    return { status: response.status, text, logged: up.requests.slice(before), row: row! };
  }

  function assertNoSecret(where: string, text: string): void {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds ${s.slice(0, 8)}…`);
  }

  /** A refusal: nothing reached the upstream, the client got an error, the record says why and holds no secret. */
  function assertRefused(got: Awaited<ReturnType<typeof send>>, code: string): void {
    assert.equal(got.logged.length, 0, 'nothing reached the upstream');
    assert.equal(JSON.parse(got.text).error.code, code);
    assert.equal(got.row.errorCode, code);
    assertNoSecret('the client', got.text);
    assertNoSecret('the record', JSON.stringify(got.row));
  }

  const duplicates: readonly [string, string][] = [
    ['top level, secret first', `{"note":"${AWS}","note":"nothing to see"}`],
    ['nested object', `{"a":{"b":"x","c":{"d":"${GITHUB}","d":"y"}}}`],
    ['same key through an escape', `{"note":"${OPENAI}","n\\u006fte":"ok"}`],
    ['inside an array element', `[{"k":1},{"k":"${CARD}","k":2}]`],
    ['key holding a secret, twice', `{"${AWS}":1,"${AWS}":2}`],
  ];
  for (const [name, body] of duplicates) {
    test(`under a profile a key named twice is refused (${name})`, async () => {
      assertRefused(await send('rest-pii', '/store/echo', body), 'bad_request');
    });
  }

  for (const key of ['model', 'messages', 'stream']) {
    test(`without a profile a top-level "${key}" named twice is refused, so classification reads what is sent`, async () => {
      const fields: Record<string, string> = { model: '"gpt-4o-mini"', messages: '[{"role":"user","content":"hi"}]', stream: 'false' };
      const dup: Record<string, string> = { model: '"o1-pro"', messages: `[{"role":"user","content":"${AWS}"}]`, stream: 'true' };
      const body = `{${Object.entries(fields).map(([k, v]) => `"${k}":${k === key ? `${dup[k]},"${k}":${v}` : v}`).join(',')}}`;
      assertRefused(await send('llm-open', '/v1/chat/completions', body), 'bad_request');
      // The same key twice on a plain HTTP connection without a profile is refused too (top level).
      assertRefused(await send('rest-open', '/store/echo', body), 'bad_request');
    });
  }

  test('without a profile an LLM request naming any key twice (a message content) is refused', async () => {
    const body = `{"model":"m","messages":[{"role":"user","content":"${OPENAI}","content":"hello"}]}`;
    assertRefused(await send('llm-open', '/v1/chat/completions', body), 'bad_request');
  });

  test('without a profile a non-classifying duplicate on plain HTTP passes as sent (nothing is checked there)', async () => {
    const body = '{"tag":"a","tag":"b"}';
    const got = await send('rest-open', '/store/echo', body);
    assert.equal(got.status, 200);
    assert.equal(got.logged[0]!.body.toString('utf8'), body);
  });

  test('a secret in a key, escaped with \\u, or as a number is masked; the upstream reads the masked JSON', async () => {
    const body = `{"${AWS}":"x","esc":"\\u0067hp_${GITHUB.slice(4)}","n":${CARD},"keep":"Caf\\u00e9 ORD-2024-118734"}`;
    const got = await send('rest-pii', '/store/echo', body);
    assert.equal(got.status, 200);
    const seen = got.logged[0]!.body.toString('utf8');
    assertNoSecret('the upstream', seen);
    const value = JSON.parse(seen);
    assert.equal(value.keep, 'Café ORD-2024-118734', 'text around the masks is kept');
    assert.deepEqual(Object.keys(value).slice(1), ['esc', 'n', 'keep']);
    assertNoSecret('the client', got.text);
    assertNoSecret('the record', JSON.stringify(got.row));
  });

  test('a secret split across content parts is masked, each part keeping its own text', async () => {
    const parts = [
      { type: 'text', text: `deploy with ${OPENAI.slice(0, 11)}` },
      { type: 'text', text: `${OPENAI.slice(11)} tonight` },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
    ];
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: parts }] });
    const got = await send('llm-pii', '/v1/chat/completions', body);
    assert.equal(got.status, 200);
    const seen = JSON.parse(got.logged[0]!.body.toString('utf8')).messages[0].content as { text?: string }[];
    const joined = seen.map((p) => p.text ?? '').join('');
    assert.ok(!joined.includes(OPENAI.slice(0, 12)) && !joined.includes(OPENAI.slice(11)), joined);
    assert.ok(seen[0]!.text!.startsWith('deploy with ') && seen[1]!.text!.endsWith(' tonight'), joined);
    assertNoSecret('the record', JSON.stringify(got.row));
    assert.ok(!got.row.requestBody!.includes(OPENAI.slice(11)));
  });

  test('JSON nothing masked is forwarded byte for byte; masked JSON is re-serialised', async () => {
    const clean = '{ "b" : 1,\n  "a": "Caf\\u00e9",  "n": 1.50 }';
    const got = await send('rest-pii', '/store/echo', clean);
    assert.equal(got.logged[0]!.body.toString('utf8'), clean);
    const dirty = `{ "b" : 1,\n  "a": "key ${AWS}" }`;
    const masked = await send('rest-pii', '/store/echo', dirty);
    assert.equal(masked.logged[0]!.body.toString('utf8'), '{"b":1,"a":"key [AWS_ACCESS_KEY]"}');
  });

  const responses: readonly [string, string][] = [
    ['/dup', 'a response naming a key twice'],
    ['/dup-nested', 'a response naming a nested key twice'],
  ];
  for (const [path, name] of responses) {
    test(`under a profile ${name} is withheld`, async () => {
      const got = await send('answers-pii', path, null);
      assert.equal(JSON.parse(got.text).error.code, 'masking_failed');
      assertNoSecret('the client', got.text);
      assertNoSecret('the record', JSON.stringify(got.row));
    });
  }

  test('under a profile a response with a secret key or an escaped secret is masked', async () => {
    for (const path of ['/secret-key', '/escaped']) {
      const got = await send('answers-pii', path, null);
      assert.equal(got.status, 200);
      assertNoSecret('the client', got.text);
      assertNoSecret('the record', JSON.stringify(got.row));
    }
  });
});
