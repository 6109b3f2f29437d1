/**
 * The per-request scan budget through a real gateway (issue 19, item 3): a response needing more
 * scanning than `maxRequestScanBytes` is refused when read whole, and cut with an error when it
 * streams; what lies past the budget, a secret included, never reaches the client.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';

const TOKEN = 'ghp_' + 'Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc2Vb4N';
const next = () => new Promise<void>((resolve) => setImmediate(resolve));

async function startUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    if (req.url === '/whole') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${'filler text '.repeat(1000)} key ${TOKEN}`);
      return;
    }
    if (req.url === '/small') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`key ${TOKEN}`);
      return;
    }
    // An SSE stream of many small events: each is within every per-value limit, together they are not.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 200; i++) {
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `word ${i} `.padEnd(60, '.') } }] })}\n\n`);
      await next();
    }
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `key ${TOKEN}` } }] })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('the per-request scan budget through the HTTP proxy', () => {
  let gateway: TestGateway;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let token: string;

  before(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway({
      extraConnections: `
  - name: chatty
    type: http
    upstream: ${upstream.url}
`,
      extraYaml: `
masking:
  profiles:
    tight:
      entities: { secret: redact }
      maxRequestScanBytes: 4096
`,
      policyYaml: `
policy:
  rules:
    - name: tight
      match: { connections: [chatty] }
      action: allow
      mask: tight
    - name: allow-all
      action: allow
`,
    });
    token = await gateway.token({ connections: ['chatty'] });
  });

  after(async () => {
    await gateway.close();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  const call = async (path: string) => {
    const response = await fetch(`${gateway.url}/proxy/chatty${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { response, body: await response.text() };
  };

  it('a response within the budget is masked as usual', async () => {
    const { response, body } = await call('/small');
    assert.equal(response.status, 200);
    assert.equal(body, 'key [GITHUB_TOKEN]');
  });

  it('a whole body over the budget is refused with masking_failed, nothing of it sent', async () => {
    const { response, body } = await call('/whole');
    assert.equal(response.status, 502);
    assert.match(body, /masking_failed/);
    assert.match(body, /maxRequestScanBytes/);
    assert.ok(!body.includes('filler') && !body.includes(TOKEN));
  });

  it('a stream over the budget ends with an error event, and nothing past the budget reaches the client', async () => {
    const { response, body } = await call('/stream');
    assert.equal(response.status, 200);
    assert.match(body, /event: error/);
    assert.ok(!body.includes(TOKEN), 'the secret after the budget was never sent');
    assert.ok(!body.includes('word 199'), 'the stream stopped at the budget');
    assert.ok(Buffer.byteLength(body) < 4096 * 3, `${Buffer.byteLength(body)} bytes reached the client`);
  });
});
