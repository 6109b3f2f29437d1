/**
 * HTTPS on the data-plane and admin listeners, with certificates made in the test: clients that
 * trust the CA get through, cleartext does not, and a renewed certificate on disk is served
 * without a restart (a broken renewal keeps the one in force).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { generate } from 'selfsigned';
import { Agent, fetch as undiciFetch } from 'undici';
import { parseConfig } from '../../src/config/load.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { GatewayError } from '../../src/errors.ts';
import { startGateway, type Gateway } from '../../src/server.ts';

const ADMIN = `gta_${randomBytes(24).toString('hex')}`;
const UPSTREAM_KEY = `sk-tls-${randomBytes(8).toString('hex')}`;

async function certificate(name: string) {
  return generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
}

/** The certificate the listener presents now, by a fresh TLS handshake trusting `ca`. */
function presented(url: string, ca: string): Promise<{ fingerprint: string; status: number }> {
  return new Promise((done, fail) => {
    const req = request(`${url}/healthz`, { ca, agent: false }, (res) => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.resume();
      res.on('end', () => done({ fingerprint: cert.fingerprint256, status: res.statusCode ?? 0 }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('TLS on the HTTP and admin listeners', () => {
  let dir: string;
  let demo: DemoModel;
  let gateway: Gateway;
  let first: Awaited<ReturnType<typeof certificate>>;
  const logs: { msg: string; listener?: string }[] = [];
  const waiters: (() => void)[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _e, done) {
        logs.push(JSON.parse(String(chunk)));
        for (const wake of waiters.splice(0)) wake();
        done();
      },
    }),
  );
  /** Resolves at the next log line with this message from `from` on: an event, never a timer. */
  const logged = (msg: string, from: number) =>
    new Promise<void>((done) => {
      const look = () => (logs.slice(from).some((l) => l.msg === msg) ? done() : waiters.push(look));
      look();
    });
  const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

  const configText = () => `
http:
  listen: 127.0.0.1:0
  tls: { cert: ${join(dir, 'http.crt')}, key: ${join(dir, 'http.key')} }
admin:
  listen: 127.0.0.1:0
  tls: { cert: ${join(dir, 'admin.crt')}, key: ${join(dir, 'admin.key')} }
store:
  sqlitePath: ${join(dir, 'gatehouse.db')}
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
policy:
  rules:
    - name: allow-all
      action: allow
`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-tls-'));
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    first = await certificate('gatehouse.test');
    const admin = await certificate('admin.gatehouse.test');
    await writeFile(join(dir, 'http.crt'), first.cert);
    await writeFile(join(dir, 'http.key'), first.private, { mode: 0o600 });
    await writeFile(join(dir, 'admin.crt'), admin.cert);
    await writeFile(join(dir, 'admin.key'), admin.private, { mode: 0o600 });
    await writeFile(join(dir, 'gatehouse.yaml'), configText());
    const env = { UPSTREAM_KEY, GATEHOUSE_ADMIN_TOKEN: ADMIN, GATEHOUSE_DATABASE_URL: '' };
    gateway = await startGateway({ config: parseConfig(configText(), 'gatehouse.yaml', env), configFile: join(dir, 'gatehouse.yaml'), masterKey: randomBytes(32), env, logger });
  });

  after(async () => {
    await gateway.close();
    await demo.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('both listeners speak HTTPS; an SDK that trusts the CA reaches the model through the data plane', async () => {
    assert.match(gateway.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(gateway.adminUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const dispatcher = new Agent({ connect: { ca: [first.cert, (await import('node:fs')).readFileSync(join(dir, 'admin.crt'), 'utf8')] } });
    const issued = await undiciFetch(`${gateway.adminUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connections: ['openai'] }),
      dispatcher,
    });
    assert.equal(issued.status, 201);
    const { token } = (await issued.json()) as { token: string };
    const client = new OpenAI({ baseURL: `${gateway.url}/proxy/openai/v1`, apiKey: token, fetch: ((url: string, init: object) => undiciFetch(url, { ...init, dispatcher })) as never });
    const reply = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'over tls' }] });
    assert.match(reply.choices[0]!.message.content ?? '', /over tls/);
    await dispatcher.close();
  });

  it('refuses a client that does not trust the certificate, and cleartext HTTP on the TLS port', async () => {
    await assert.rejects(presented(gateway.url, (await certificate('stranger')).cert), /self[- ]signed|unable to verify|certificate/i);
    const plain = gateway.url.replace('https://', 'http://');
    await assert.rejects(fetch(`${plain}/healthz`));
  });

  it('a renewed certificate written over the files is served without a restart (the folder watch)', async () => {
    const renewed = await certificate('gatehouse.test');
    const from = logs.length;
    // As a secret mount or cert-manager does: new files, then renamed into place.
    await writeFile(join(dir, 'http.key.new'), renewed.private, { mode: 0o600 });
    await writeFile(join(dir, 'http.crt.new'), renewed.cert);
    await rename(join(dir, 'http.key.new'), join(dir, 'http.key'));
    await rename(join(dir, 'http.crt.new'), join(dir, 'http.crt'));
    await logged('tls certificate reloaded', from);
    // Events may come before both renames land; a reload through the config makes the end state certain.
    await gateway.reload();
    const now = await presented(gateway.url, renewed.cert);
    assert.equal(now.status, 200);
    assert.equal(now.fingerprint, fingerprintOf(renewed.cert));
    first = renewed;
  });

  it('a broken renewal (a key of another certificate) is refused, logged without key material, and the certificate in force stays', async () => {
    const other = await certificate('other.test');
    const from = logs.length;
    await writeFile(join(dir, 'http.key'), other.private, { mode: 0o600 });
    await gateway.reload();
    assert.ok(logs.slice(from).some((l) => l.msg === 'tls certificate not reloaded; the one in force stays' && l.listener === 'http.tls'));
    assert.ok(!JSON.stringify(logs).includes('PRIVATE KEY'), 'no key material in a log line');
    const still = await presented(gateway.url, first.cert);
    assert.equal(still.fingerprint, fingerprintOf(first.cert));
    await writeFile(join(dir, 'http.key'), first.private, { mode: 0o600 });
  });

  it('a start with a missing or mismatched pair fails, naming the setting and the files', async () => {
    const broken = configText().replace(join(dir, 'admin.key'), join(dir, 'missing.key'));
    const env = { UPSTREAM_KEY, GATEHOUSE_ADMIN_TOKEN: ADMIN, GATEHOUSE_DATABASE_URL: '' };
    const dir2 = await mkdtemp(join(tmpdir(), 'gatehouse-tls-broken-'));
    try {
      const config = parseConfig(broken.replace(join(dir, 'gatehouse.db'), join(dir2, 'gatehouse.db')), 'gatehouse.yaml', env);
      const refused = await startGateway({ config, masterKey: randomBytes(32), env, logger: pino({ level: 'silent' }) }).then(
        () => assert.fail('started with a missing key file'),
        (err: unknown) => err,
      );
      assert.ok(refused instanceof GatewayError);
      assert.match(refused.message, /admin\.tls: cannot read .*missing\.key \(ENOENT\)/);
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
  });
});
