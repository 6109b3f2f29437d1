import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';
import type { InteractionRow } from '../../src/store/types.ts';
import { startLoggingUpstream, type LoggingUpstream } from '../fixtures/ordinary/logging-upstream.ts';

/**
 * Encodings (issue 11, class 2): a body is scanned as its reader decodes it (Content-Encoding,
 * charset, form encoding) and as a person or model reads it (compatibility forms, invisible
 * characters, character references); what cannot be decoded is refused under a profile. Each
 * case says what reached the upstream, what the client got back (the upstream echoes) and
 * what was recorded.
 */

const AWS = 'AKIAIOSFODNN7EXAMPLE';
const GITHUB = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';
const CARD = '4111111111111111';
const SECRETS = [AWS, GITHUB, CARD];

/** A zlib stream of stored (uncompressed) blocks, one per piece: a secret split across blocks. */
function storedDeflate(pieces: readonly string[]): Buffer {
  const out: Buffer[] = [Buffer.from([0x78, 0x01])];
  const data = Buffer.from(pieces.join(''));
  pieces.forEach((piece, i) => {
    const bytes = Buffer.from(piece);
    const header = Buffer.alloc(5);
    header[0] = i === pieces.length - 1 ? 1 : 0;
    header.writeUInt16LE(bytes.length, 1);
    header.writeUInt16LE(~bytes.length & 0xffff, 3);
    out.push(header, bytes);
  });
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE(((b << 16) | a) >>> 0);
  out.push(adler);
  return Buffer.concat(out);
}

/** The body as any reader would read it: decoded, in its charset, compatibility forms folded, invisibles dropped. */
function readable(body: Buffer, headers: IncomingHttpHeaders | Headers): string {
  const get = (name: string): string => (headers instanceof Headers ? headers.get(name) : (headers[name] as string | undefined)) ?? '';
  let bytes = body;
  for (const coding of get('content-encoding').split(',').map((c) => c.trim()).filter(Boolean).reverse()) {
    bytes = coding === 'gzip' ? gunzipSync(bytes) : coding === 'br' ? brotliDecompressSync(bytes) : inflateSync(bytes);
  }
  const charset = /charset=([\w-]+)/i.exec(get('content-type'))?.[1] ?? 'utf-8';
  const text = new TextDecoder(charset).decode(bytes);
  const decoded = /x-www-form-urlencoded/.test(get('content-type')) ? decodeURIComponent(text.replace(/\+/g, ' ')) : text;
  return decoded.normalize('NFKC').replace(/[\p{Cf}]/gu, '').replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)));
}

describe('attack: encodings', () => {
  let up: LoggingUpstream;
  let t: TestGateway;
  let token: string;

  before(async () => {
    up = await startLoggingUpstream();
    t = await startTestGateway({
      bodyLimit: '256kb',
      extraConnections: `
  - name: rest-pii
    type: http
    upstream: ${up.url}
  - name: rest-open
    type: http
    upstream: ${up.url}
  - name: llm-pii
    type: openai
    upstream: ${up.url}
`,
      policyYaml: `
policy:
  rules:
    - name: masked
      match: { connections: [rest-pii, llm-pii] }
      action: allow
      mask: pii
    - name: open
      action: allow
`,
    });
    token = await t.token({ connections: ['rest-pii', 'rest-open', 'llm-pii'] });
  });
  after(async () => {
    await t.close();
    await up.close();
  });

  async function send(connection: string, path: string, body: Buffer, headers: Record<string, string>) {
    const before = up.requests.length;
    const response = await fetch(`${t.url}/proxy/${connection}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...headers },
      body: new Uint8Array(body),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const id = response.headers.get('x-request-id')!;
    let row: InteractionRow | null = null;
    await pollUntil(async () => (row = await t.gateway.store.getInteraction(id)) !== null && row.completedAt !== null, 'the interaction is recorded');
    return { status: response.status, bytes, headers: response.headers, logged: up.requests.slice(before), row: row! };
  }

  function assertNoSecret(where: string, text: string): void {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds ${s.slice(0, 8)}…: ${text.slice(0, 200)}`);
  }

  /** Masked and sent: the upstream read no secret in any decoding, the echo back holds none, nor the record. */
  async function assertMasked(body: Buffer, headers: Record<string, string>, kept: string): Promise<string> {
    const got = await send('rest-pii', '/in/echo', body, headers);
    assert.equal(got.status, 200, got.bytes.toString('utf8'));
    const logged = got.logged[0]!;
    const seen = readable(logged.body, logged.headers);
    assertNoSecret('the upstream', seen);
    assert.ok(seen.includes(kept), `text around the mask is kept: ${seen}`);
    assert.equal(Number(logged.headers['content-length']), logged.body.length, 'content-length matches what was sent');
    assertNoSecret('the client', readable(got.bytes, got.headers));
    assertNoSecret('the record', JSON.stringify(got.row));
    return seen;
  }

  async function assertRefused(body: Buffer, headers: Record<string, string>): Promise<void> {
    const got = await send('rest-pii', '/in/echo', body, headers);
    assert.equal(got.logged.length, 0, 'nothing reached the upstream');
    assert.equal(JSON.parse(got.bytes.toString('utf8')).error.code, 'masking_failed');
    assert.equal(got.row.errorCode, 'masking_failed');
    assertNoSecret('the record', JSON.stringify(got.row));
  }

  test('gzip, br and stacked encodings are decoded, masked and sent decoded', async () => {
    const json = JSON.stringify({ note: `key ${AWS} for ORD-7` });
    const seen = await assertMasked(gzipSync(json), { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'for ORD-7');
    assert.equal(seen, JSON.stringify({ note: 'key [AWS_ACCESS_KEY] for ORD-7' }));
    await assertMasked(brotliCompressSync(`token ${GITHUB} ok`), { 'content-type': 'text/plain', 'content-encoding': 'br' }, ' ok');
    await assertMasked(gzipSync(deflateSync(`card ${CARD} end`)), { 'content-type': 'text/plain', 'content-encoding': 'deflate, gzip' }, ' end');
  });

  test('a deflate stream of stored blocks splitting a secret is read whole', async () => {
    const body = storedDeflate(['note: ', AWS.slice(0, 7), AWS.slice(7, 13), AWS.slice(13), ' done']);
    assert.equal(inflateSync(body).toString(), `note: ${AWS} done`);
    const got = await assertMasked(body, { 'content-type': 'text/plain', 'content-encoding': 'deflate' }, ' done');
    assert.equal(got, 'note: [AWS_ACCESS_KEY] done');
  });

  test('an encoding the gateway cannot decode, a corrupt one and a bomb past the limit are refused', async () => {
    await assertRefused(Buffer.from(`x ${AWS}`), { 'content-type': 'text/plain', 'content-encoding': 'zstd' });
    await assertRefused(gzipSync(`x ${AWS}`).subarray(0, 12), { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    await assertRefused(gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x41)), { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
  });

  test('without a profile a compressed body passes byte for byte, its encoding kept', async () => {
    const body = gzipSync('hello');
    const got = await send('rest-open', '/in/echo', body, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    assert.ok(got.logged[0]!.body.equals(body));
    assert.equal(got.logged[0]!.headers['content-encoding'], 'gzip');
  });

  test('declared charsets are decoded: a soft hyphen in latin1 and UTF-16 JSON do not hide a secret', async () => {
    const latin = Buffer.from(`Clé ${AWS.slice(0, 8)}\u00ad${AWS.slice(8)} fin`, 'latin1');
    const seen = await assertMasked(latin, { 'content-type': 'text/plain; charset=iso-8859-1' }, ' fin');
    assert.equal(seen, 'Clé [AWS_ACCESS_KEY] fin');
    const utf16 = Buffer.from(JSON.stringify({ k: GITHUB, city: 'Zürich' }), 'utf16le');
    const json = await assertMasked(utf16, { 'content-type': 'application/json; charset=utf-16le' }, 'Zürich');
    assert.deepEqual(JSON.parse(json), { k: '[GITHUB_TOKEN]', city: 'Zürich' });
  });

  test('invalid UTF-8 without a charset is read as windows-1252, so a soft-hyphen byte splits nothing', async () => {
    const body = Buffer.concat([Buffer.from(`key ${AWS.slice(0, 10)}`), Buffer.from([0xad]), Buffer.from(`${AWS.slice(10)} ok`)]);
    await assertMasked(body, { 'content-type': 'text/plain' }, ' ok');
  });

  test('a charset the gateway cannot decode is refused under a profile', async () => {
    await assertRefused(Buffer.from(`x ${AWS}`), { 'content-type': 'text/plain; charset=x-unknown-7' });
  });

  test('form bodies are scanned percent-decoded, keys and values, with + as a space', async () => {
    const form = `name=Ana+Lima&key=AKIA%49OSFODNN7EXAMPL%45&${encodeURIComponent(GITHUB)}=1&note=card+4111+1111+1111+1111`;
    const seen = await assertMasked(Buffer.from(form), { 'content-type': 'application/x-www-form-urlencoded' }, 'Ana Lima');
    assert.ok(seen.startsWith('name=Ana Lima&key='), seen);
  });

  test('compatibility forms, invisible characters and character references are read as what they spell', async () => {
    const fullwidth = '４１１１ １１１１ １１１１ １１１１';
    await assertMasked(Buffer.from(`card ${fullwidth} thanks`), { 'content-type': 'text/plain' }, ' thanks');
    await assertMasked(Buffer.from(`id ${AWS.slice(0, 4)}\u200b${AWS.slice(4, 12)}\u2060${AWS.slice(12)} ok`), { 'content-type': 'text/plain' }, ' ok');
    await assertMasked(Buffer.from(`card 4111\u202e1111\u202c1111\ufeff1111 ok`), { 'content-type': 'text/plain' }, ' ok');
    const math = [...AWS].map((c) => (/[A-Z]/.test(c) ? String.fromCodePoint(0x1d670 + c.charCodeAt(0) - 65) : String.fromCodePoint(0x1d7f6 + Number(c)))).join('');
    await assertMasked(Buffer.from(`mono ${math} ok`), { 'content-type': 'text/plain' }, ' ok');
    const refs = [...AWS.slice(0, 6)].map((c) => `&#${c.charCodeAt(0)};`).join('') + AWS.slice(6);
    await assertMasked(Buffer.from(`<key>${refs}</key><n>Caf&#233;</n>`), { 'content-type': 'application/xml' }, '<n>Caf');
    await assertMasked(Buffer.from('card ٤١١١ ١١١١ ١١١١ ١١١١ end'), { 'content-type': 'text/plain' }, ' end');
  });

  test('JSON escapes outside a parsed JSON body (NDJSON lines, JSON held in a string) are read too', async () => {
    const ndjson = `{"id":1}\n{"k":"\\u0041KIA${AWS.slice(3)}"}\n{"id":2}\n`;
    const seen = await assertMasked(Buffer.from(ndjson), { 'content-type': 'application/x-ndjson' }, '{"id":2}');
    assert.ok(seen.startsWith('{"id":1}\n{"k":"'), seen);
    const inner = JSON.stringify({ payload: JSON.stringify({ token: 'X' }).replace('X', `\\u0067hp_${GITHUB.slice(4)}`) });
    const got = await send('rest-pii', '/in/echo', Buffer.from(inner), { 'content-type': 'application/json' });
    const payload = JSON.parse(JSON.parse(got.logged[0]!.body.toString('utf8')).payload);
    assertNoSecret('the upstream, parsing twice', payload.token);
  });

  test('text around a mask keeps its own code points: only the value changes', async () => {
    const sent = 'Ｈｅｌｌｏ\u200b world, café ４２ — key ' + AWS + ' — ﬁn';
    const got = await send('rest-pii', '/in/echo', Buffer.from(sent), { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(got.logged[0]!.body.toString('utf8'), sent.replace(AWS, '[AWS_ACCESS_KEY]'));
  });

  test('a prompt hiding a key behind zero-width characters and fullwidth letters is masked before the model', async () => {
    const hidden = `${GITHUB.slice(0, 10)}\u200d${GITHUB.slice(10, 20)}\u00ad${GITHUB.slice(20)}`;
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `use ${hidden} and card ４１１１-１１１１-１１１１-１１１１ please` }] });
    const got = await send('llm-pii', '/v1/chat/completions', Buffer.from(body), { 'content-type': 'application/json' });
    assert.equal(got.status, 200);
    const seen = readable(got.logged[0]!.body, got.logged[0]!.headers);
    assertNoSecret('the upstream', seen);
    assert.ok(seen.includes(' please'));
    assertNoSecret('the client', readable(got.bytes, got.headers));
    assertNoSecret('the record', readable(Buffer.from(JSON.stringify(got.row)), {}));
  });
});
