/**
 * Issue 16's delivery test: a TCP syslog receiver and an HTTP (webhook) receiver are taken down
 * during traffic, the gateway restarts on the same store, the receivers come back on the same
 * ports; every audit event arrives, in order per writer, duplicates only as re-deliveries of the
 * same writer:seq, each with its chain hash. No sleeps: delivery runs on gateway.auditExport.flush().
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { HttpReceiver, SyslogTcpReceiver, verifyWebhook } from './receivers.ts';
import { checkDelivered, ledgerIds } from './support.ts';

const SECRET = randomBytes(24).toString('hex');

async function chat(g: TestGateway, token: string, text: string): Promise<void> {
  const response = await fetch(`${g.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: text }] }),
  });
  assert.equal(response.status, 200, await response.text());
}

test('receivers down during traffic and a gateway restart: every event arrives once back, in order, with its chain hash', async (t) => {
  const syslog = await new SyslogTcpReceiver().start();
  const hook = await new HttpReceiver().start();
  process.env.GATEHOUSE_TEST_AUDIT_HOOK_SECRET = SECRET;
  // Long intervals and back-offs: after its first look at start, a sink delivers only when flushed.
  const extraYaml = `
audit:
  sinks:
    - name: syslog
      type: syslog
      transport: tcp
      host: 127.0.0.1
      port: ${syslog.port}
      batchSize: 7
      interval: 1h
      retry: { min: 1h, max: 2h }
    - name: hook
      type: webhook
      url: ${hook.url}
      secret: \${GATEHOUSE_TEST_AUDIT_HOOK_SECRET}
      batchSize: 5
      interval: 1h
      retry: { min: 1h, max: 2h }
`;
  let g = await startTestGateway({ extraYaml });
  const { dir, demo } = g;
  t.after(async () => {
    await g.close();
    await demo.close();
    await syslog.stop();
    await hook.stop();
    await rm(dir, { recursive: true, force: true });
    delete process.env.GATEHOUSE_TEST_AUDIT_HOOK_SECRET;
  });
  const flush = () => g.gateway.auditExport!.flush();

  let token = await g.token();
  await chat(g, token, 'first');
  assert.deepEqual(await flush(), { syslog: 'idle', hook: 'idle' });
  const deliveredBefore = syslog.messages.length;
  assert.ok(deliveredBefore > 0);

  // Down during traffic.
  await syslog.stop();
  await hook.stop();
  await chat(g, token, 'while down');
  assert.deepEqual(await flush(), { syslog: 'failed', hook: 'failed' });
  await chat(g, token, 'still down');

  // Restart on the same store while they are down.
  g = await g.restart();
  token = await g.token();
  await chat(g, token, 'after restart');
  assert.deepEqual(await flush(), { syslog: 'failed', hook: 'failed' });

  // Back on the same ports.
  await syslog.start(syslog.port);
  await hook.start(hook.port);
  assert.deepEqual(await flush(), { syslog: 'idle', hook: 'idle' });

  const ledger = await ledgerIds(g.gateway.store);
  const entries = [...ledger.values()].flat().length;
  assert.ok(entries >= 10, `traffic before, during and after the outage was chained (${entries} entries)`);

  const fromSyslog = syslog.messages.map((m) => ({ id: m.sd.id!, writer: m.sd.writer!, seq: Number(m.sd.seq), hash: m.sd.hash! }));
  assert.deepEqual(checkDelivered(ledger, fromSyslog), []);
  for (const m of syslog.messages) {
    assert.equal(m.json.id, m.sd.id, 'the message and its structured data name the same event');
    assert.equal(m.json.hash, m.sd.hash);
  }

  assert.ok(hook.deliveries.every((d) => verifyWebhook(d, SECRET)), 'every batch carries a valid signature');
  assert.ok(hook.deliveries.every((d) => !verifyWebhook(d, `${SECRET}x`)), 'a wrong secret does not verify');
  const fromHook = hook.deliveries.flatMap((d) => JSON.parse(d.body) as { id: string; writer: string; seq: number; hash: string }[]);
  assert.deepEqual(checkDelivered(ledger, fromHook), []);
  assert.ok(fromHook.some((e: any) => e.kind === 'interaction' && e.interaction.target === '/v1/chat/completions'));
  assert.ok(!hook.deliveries.some((d) => d.body.includes(SECRET) || d.body.includes(token)), 'no secret or token in an event');
  assert.ok(!g.logs.some((line) => line.includes(SECRET)), 'the webhook secret never reaches a log line');

  const metrics = await (await fetch(`${g.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  assert.match(metrics, /gatehouse_audit_sink_lag_events\{sink="hook"\} 0/);
  assert.match(metrics, /gatehouse_audit_sink_delivered_total\{sink="syslog"\} [1-9]/);
  assert.match(metrics, /gatehouse_audit_sink_last_success_timestamp_seconds\{sink="hook"\} [1-9]/);
});
