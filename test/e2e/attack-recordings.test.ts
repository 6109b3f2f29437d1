/**
 * Recordings (issue 11, class 7): an agent or an upstream puts secrets where the recording keeps
 * them outside the bodies (a model name, a query string, a policy-visible header, a path, an
 * unknown connection name) or in bodies no profile masked (duplicate keys, a passed-through event
 * stream). Each input is sent through the real gateway; the last test reads the SQLite file
 * directly and walks every column of every row of every table for any of the secrets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';

const GITHUB = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';
const OPENAI = 'sk-proj-' + 'Qw3rTy8uIo9pAs0dFg1hJk2lZx4cVb5nM6';
const SLACK = 'xoxb-' + '1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx';
const GITLAB = 'glpat-' + 'Zy9Xw8Vu7Ts6Rq5Po4Nm';
const STRIPE = 'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc';
const GOOGLE = 'AIza' + 'SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY';
const ANTHROPIC = 'sk-ant-api03-' + 'x'.repeat(8) + 'Yz12Ab34Cd56Ef78Gh90Ij12Kl34Mn56';
const SECRETS = [GITHUB, OPENAI, SLACK, GITLAB, STRIPE, GOOGLE, ANTHROPIC];

/** Every byte percent-encoded: no detector reads the secret in this form. */
const fullyEncoded = (text: string) => [...Buffer.from(text)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** A raw secret, its fully percent-encoded form, and its first 16 characters (a secret cut at a clip). */
const FORBIDDEN = SECRETS.flatMap((s) => [s, fullyEncoded(s), s.slice(0, 16)]);

/** An upstream for an `http` connection: streams and bodies carrying secrets, no profile applies. */
async function startLeakyApi(): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    const path = (req.url ?? '').split('?')[0];
    if (path === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const event = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
      // The secret split across events: no single event holds it, the joined transcript does.
      res.write(event(`token: ${SLACK.slice(0, 12)}`));
      res.write(event(SLACK.slice(12)));
      res.write(event(` and ${GITLAB}`));
      res.write('data: not json but a key ' + GOOGLE + '\n\n');
      res.end('data: [DONE]\n\n');
      return;
    }
    if (path === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`here you go: ${STRIPE}`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, echo: ANTHROPIC }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('attack: secrets in every field a recording keeps', () => {
  let t: TestGateway;
  let api: Awaited<ReturnType<typeof startLeakyApi>>;
  let token: string;
  const ids: string[] = [];

  before(async () => {
    api = await startLeakyApi();
    t = await startTestGateway({
      extraConnections: `
  - name: api
    type: http
    upstream: ${api.url}
  - name: api-masked
    type: http
    upstream: ${api.url}
  - name: api-denied
    type: http
    upstream: ${api.url}
`,
      policyYaml: `
policy:
  rules:
    - name: denied
      match: { connections: [api-denied] }
      action: deny
      reason: not this one
    - name: masked
      match: { connections: [api-masked] }
      action: allow
      mask: pii
    - name: allow-all
      action: allow
`,
      extraYaml: `
recording:
  maxBodyBytes: 1024
`,
    });
    token = await t.token({ connections: ['openai', 'api', 'api-masked', 'api-denied'] });
  });

  after(async () => {
    await t.close();
    await new Promise((resolve) => api.server.close(resolve));
  });

  /** Sends one request, reads the whole answer, and remembers the record it names. */
  async function send(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${t.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>) },
    });
    await response.arrayBuffer();
    const id = response.headers.get('x-request-id');
    if (id) ids.push(id);
    return response;
  }

  const chat = (model: unknown, extra: object = {}) =>
    send('/proxy/openai/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }) });

  test('1. a secret as the model name', async () => {
    await chat(`gpt-4o-${GITHUB}`);
  });

  test('2. a secret as the model name of a streamed request', async () => {
    await chat(OPENAI, { stream: true });
  });

  test('3. a secret in a query string', async () => {
    assert.equal((await send(`/proxy/api/search?q=${GITHUB}&page=1`)).status, 200);
  });

  test('4. a secret fully percent-encoded in a query string', async () => {
    assert.equal((await send(`/proxy/api/search?key=${fullyEncoded(SLACK)}`)).status, 200);
  });

  test('5. secrets in the header values policy reads (user-agent, openai-project)', async () => {
    await send('/proxy/api/headers', { headers: { 'user-agent': `curl/8 ${STRIPE}`, 'openai-project': GITLAB } });
  });

  test('6. a secret in a path segment', async () => {
    await send(`/proxy/api/keys/${GOOGLE}/rotate`);
  });

  test('7. a duplicate-key JSON body whose first value is the secret, no profile', async () => {
    await send('/proxy/api/json', { method: 'POST', body: `{"prompt":"${ANTHROPIC}","prompt":"hello"}` });
  });

  test('8. a duplicate-key JSON body under a masking profile', async () => {
    await send('/proxy/api-masked/json', { method: 'POST', body: `{"note":"${OPENAI}","note":"hello"}` });
  });

  test('9. a secret as a JSON object key', async () => {
    await send('/proxy/api/json', { method: 'POST', body: JSON.stringify({ [GITHUB]: 'value' }) });
  });

  test('10. an event stream passed through with no profile, the secret split across events', async () => {
    await send('/proxy/api/stream');
  });

  test('11. a plain-text and a JSON response body with no profile', async () => {
    await send('/proxy/api/text');
    await send('/proxy/api/json');
  });

  test('12. a refused request: the secret in its query string and target', async () => {
    assert.equal((await send(`/proxy/api-denied/x/${STRIPE}?token=${GITHUB}`)).status, 403);
  });

  test('13. a secret as the name of a connection that does not exist', async () => {
    await send(`/proxy/${OPENAI.toLowerCase()}/v1/models`);
    await send(`/proxy/${encodeURIComponent(GITHUB)}/v1/models`);
  });

  test('14. a body longer than the recording keeps, a secret across the cut', async () => {
    // The recording keeps 1024 bytes; the secret starts 10 bytes before the cut.
    const body = JSON.stringify({ text: `${'a'.repeat(1024 - 10 - 10)}${GITHUB} and more text after the cut` });
    await send('/proxy/api/json', { method: 'POST', body });
  });

  test('15. every column of every row of every table is free of every secret', async () => {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(t.dir, 'gatehouse.db'), { readonly: true });
    try {
      // Records complete just after their last byte is sent: wait for every one named to us.
      const status = db.prepare('SELECT status FROM interactions WHERE id = ?');
      await pollUntil(() => ids.every((id) => (status.get(id) as { status: string } | undefined)?.status === 'complete'), 'every record completes');
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
      assert.ok(tables.includes('interactions') && tables.includes('sessions'));
      let rows = 0;
      for (const table of tables) {
        for (const row of db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]) {
          rows++;
          for (const [column, value] of Object.entries(row)) {
            const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
            for (const secret of FORBIDDEN) {
              assert.ok(!text.includes(secret), `${table}.${column} holds ${secret.slice(0, 10)}…: ${text.slice(0, 300)}`);
            }
          }
        }
      }
      // The inputs really were recorded: one record per request that named one, and more.
      assert.ok(ids.length >= 15 && rows >= ids.length, `${ids.length} requests, ${rows} rows`);
      const recorded = (db.prepare(`SELECT * FROM interactions WHERE id IN (${ids.map(() => '?').join(',')})`).all(...ids) as object[]).map((r) => JSON.stringify(r));
      assert.ok(recorded.some((r) => r.includes('gpt-4o-[')), 'the model name is recorded, masked');
      assert.ok(recorded.some((r) => r.includes('page=1')), 'the query string is recorded, masked');
    } finally {
      db.close();
    }
  });
});
