/**
 * Each sink against a real receiver on loopback, and what a hostile receiver or hostile event
 * content does to it: hangs, errors, huge answers, cut connections, redirects, control characters,
 * unicode, 1 MB events, wrong certificates and wrong secrets.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { FileSink } from '../../../src/audit/sinks/file.ts';
import { OtlpSink } from '../../../src/audit/sinks/otlp.ts';
import { StdoutSink } from '../../../src/audit/sinks/stdout.ts';
import { SyslogSink, type SyslogSinkOptions } from '../../../src/audit/sinks/syslog.ts';
import { headerField, sdValue } from '../../../src/audit/sinks/syslog-format.ts';
import { WebhookSink, type WebhookSinkOptions } from '../../../src/audit/sinks/webhook.ts';
import type { AuditEventV1 } from '../../../src/audit/event-schema.ts';
import { realEvents, records } from './events.ts';
import { HttpReceiver, parseSyslog, SyslogTcpReceiver, SyslogUdpReceiver, verifyWebhook } from './receivers.ts';

const SECRET = 'k'.repeat(32);
const never = new AbortController().signal;
const timeout = (ms: number) => AbortSignal.timeout(ms);

/** Resolves once `done()` holds, looking again after each turn of the event loop (no timer). */
function until(done: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () => (done() ? resolve() : setImmediate(check));
    check();
  });
}

let events: AuditEventV1[];
before(async () => {
  events = await realEvents({ includeBodies: true });
});

/** An event whose fields carry what a hostile client could put in a recorded request. */
function hostile(over: Partial<AuditEventV1['interaction'] & object> & { name?: string; writer?: string } = {}): AuditEventV1 {
  const base = structuredClone(events.find((e) => e.kind === 'interaction')!);
  if (over.name !== undefined) base.actor = { ...base.actor!, name: over.name };
  if (over.writer !== undefined) base.writer = over.writer;
  base.interaction = { ...base.interaction!, ...over };
  return base;
}

function webhook(url: string, over: Partial<WebhookSinkOptions> = {}): WebhookSink {
  return new WebhookSink({ name: 'hook', url, format: 'gatehouse', secret: SECRET, source: 'gatehouse', sourcetype: 'gatehouse:audit', ...over });
}

function syslogSink(port: number, over: Partial<SyslogSinkOptions> = {}): SyslogSink {
  return new SyslogSink({ name: 'sys', transport: 'tcp', host: '127.0.0.1', port, facility: 13, appName: 'gatehouse', maxDatagram: 8192, ...over });
}

describe('webhook sink', () => {
  const rx = new HttpReceiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('signs each batch; a receiver detects a wrong secret and a changed body', async () => {
    rx.behaviour = 'ok';
    const sink = webhook(rx.url);
    await sink.send(records(events.slice(0, 3)), never);
    const d = rx.deliveries.at(-1)!;
    assert.equal(JSON.parse(d.body).length, 3);
    assert.ok(verifyWebhook(d, SECRET));
    assert.ok(!verifyWebhook(d, 'x'.repeat(32)));
    assert.ok(!verifyWebhook({ ...d, body: d.body.replace('"seq":1', '"seq":2') }, SECRET));
    assert.equal(d.headers['x-gatehouse-batch'], `${events[0]!.id}..${events[2]!.id}`);
    await sink.close();
  });

  const failing: [string, 'status-500' | 'close' | 'redirect' | 'status-413', RegExp][] = [
    ['a 500', 'status-500', /status 500/],
    ['a connection closed mid-request', 'close', /could not be reached/],
    ['a redirect (not followed)', 'redirect', /status 307/],
    ['a 413', 'status-413', /status 413/],
  ];
  for (const [what, behaviour, message] of failing) {
    test(`fails on ${what}`, async () => {
      rx.behaviour = behaviour;
      const sink = webhook(rx.url);
      await assert.rejects(sink.send(records(events.slice(0, 2)), never), (err: Error & { tooLarge?: boolean }) => {
        assert.match(err.message, message);
        if (behaviour === 'status-413') assert.equal(err.tooLarge, true);
        return true;
      });
      await sink.close();
      rx.behaviour = 'ok';
    });
  }

  test('a receiver that never answers is cut by the timeout', async () => {
    rx.behaviour = 'hang';
    const sink = webhook(rx.url);
    await assert.rejects(sink.send(records(events.slice(0, 1)), timeout(200)), /could not be reached: timed out|aborted/);
    await sink.close();
    rx.behaviour = 'ok';
  });

  test('a 64 MB answer is not read', async () => {
    rx.behaviour = 'huge';
    const sink = webhook(rx.url);
    await sink.send(records(events.slice(0, 1)), timeout(20_000));
    await sink.close();
    rx.behaviour = 'ok';
  });

  test('a 1 MB event arrives whole', async () => {
    const big = hostile({ target: `/v1/${'x'.repeat(1024 * 1024)}` });
    const sink = webhook(rx.url);
    await sink.send(records([big]), never);
    assert.equal(JSON.parse(rx.deliveries.at(-1)!.body)[0].interaction.target.length, 1024 * 1024 + 4);
    await sink.close();
  });

  test('an error names neither the address (its path may be a credential) nor the secret', async () => {
    const sink = webhook('http://127.0.0.1:1/hooks/T000-secret-path', { secret: SECRET });
    await assert.rejects(sink.send(records(events.slice(0, 1)), never), (err: Error) => {
      assert.ok(!err.message.includes('secret-path') && !err.message.includes(SECRET), err.message);
      return true;
    });
    await sink.close();
  });

  test('Splunk HEC: the envelope per event and the token header', async () => {
    const sink = webhook(rx.url, { format: 'splunk-hec', secret: undefined, token: 'hec-token-1', index: 'audit', sourcetype: 'gatehouse:audit' });
    await sink.send(records(events.slice(0, 2)), never);
    const d = rx.deliveries.at(-1)!;
    assert.equal(d.headers.authorization, 'Splunk hec-token-1');
    const lines = d.body.split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.deepEqual(Object.keys(lines[0]).sort(), ['event', 'host', 'index', 'source', 'sourcetype', 'time']);
    assert.equal(lines[0].event.id, events[0]!.id);
    assert.equal(lines[0].time, Date.parse(events[0]!.time) / 1000);
    assert.equal(d.headers['x-gatehouse-signature'], undefined);
    await sink.close();
  });
});

describe('syslog sink', () => {
  test('newlines, control characters and quotes in fields stay inside one message; unicode arrives as sent', async () => {
    const rx = await new SyslogTcpReceiver().start();
    const sink = syslogSink(rx.port);
    const nasty = [
      hostile({ name: 'mallory\n<13>1 2020-01-01T00:00:00Z forged - - - - injected', target: '/v1/\r\nx\u0000\u001b[31m' }),
      hostile({ name: 'Zoë 🚀 مرحبا', target: '/v1/ünïcödé/😀' }),
      hostile({ writer: 'w"] x=\\', name: ']"\\' }),
    ];
    await sink.send(records(nasty), never);
    await sink.send(records(events.slice(0, 1)), never);
    await sink.close();
    await until(() => rx.messages.length >= 4);
    await rx.stop();
    assert.equal(rx.messages.length, 4, 'three messages and the next batch: nothing was split or injected');
    assert.equal(rx.messages[0]!.json.actor.name, nasty[0]!.actor!.name);
    assert.equal(rx.messages[0]!.json.interaction.target, '/v1/\r\nx\u0000\u001b[31m');
    assert.ok(!rx.messages[0]!.raw.includes('\n'), 'no raw newline in the message');
    assert.equal(rx.messages[1]!.json.actor.name, 'Zoë 🚀 مرحبا');
    assert.equal(rx.messages[1]!.json.interaction.target, '/v1/ünïcödé/😀');
    assert.equal(rx.messages[2]!.sd.writer, 'w"] x=\\', 'structured data escapes ", ] and \\');
  });

  test('header fields are printable ASCII without spaces; structured-data values are escaped', () => {
    assert.equal(headerField('a b\tc\u00e9', 48), 'a_b_c_');
    assert.equal(headerField('', 48), '-');
    assert.equal(headerField('x'.repeat(100), 48).length, 48);
    assert.equal(sdValue('a"b]c\\d'), 'a\\"b\\]c\\\\d');
  });

  test('priority: facility and a warning for a refusal', async () => {
    const rx = await new SyslogTcpReceiver().start();
    const sink = syslogSink(rx.port, { facility: 16 });
    const denied = hostile();
    denied.decision = { result: 'deny', rule: 'no', reason: 'no' };
    await sink.send(records([events.find((e) => e.kind === 'session.start')!, denied]), never);
    await sink.close();
    await until(() => rx.messages.length >= 2);
    await rx.stop();
    assert.deepEqual(rx.messages.map((m) => m.pri), [16 * 8 + 6, 16 * 8 + 4]);
    assert.deepEqual(rx.messages.map((m) => m.msgid), ['session.start', 'interaction']);
  });

  test('a 1 MB event over TCP arrives whole in one frame', async () => {
    const rx = await new SyslogTcpReceiver().start();
    const sink = syslogSink(rx.port);
    await sink.send(records([hostile({ target: 'y'.repeat(1024 * 1024) })]), never);
    await sink.close();
    // The receiver may still be reading: close waits for its socket to finish.
    await new Promise<void>((resolve) => {
      const check = () => (rx.messages.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    await rx.stop();
    assert.equal(rx.messages[0]!.json.interaction.target.length, 1024 * 1024);
  });

  test('a receiver that cuts the connection mid-batch gets the batch again on the next connection', async () => {
    const rx = await new SyslogTcpReceiver().start();
    rx.cutAfter = 2;
    const sink = syslogSink(rx.port);
    const batch = events.slice(0, 5);
    let attempts = 0;
    // The outbox would send again after a failure; here the test does, until the sink succeeds with the receiver fixed.
    for (;;) {
      attempts++;
      try {
        await sink.send(records(batch), never);
        if (attempts > 1) break;
        rx.cutAfter = null;
      } catch {
        rx.cutAfter = null;
      }
      if (attempts > 5) break;
    }
    await sink.send(records(events.slice(5, 6)), never);
    await sink.close();
    await new Promise<void>((resolve) => {
      const check = () => (rx.messages.some((m) => m.sd.id === events[5]!.id) ? resolve() : setImmediate(check));
      check();
    });
    await rx.stop();
    const ids = new Set(rx.messages.map((m) => m.sd.id));
    for (const e of events.slice(0, 6)) assert.ok(ids.has(e.id), `${e.id} arrived`);
  });

  test('a receiver that is down fails the send; the cursor is the outbox\'s to keep', async () => {
    const rx = await new SyslogTcpReceiver().start();
    const port = rx.port;
    await rx.stop();
    const sink = syslogSink(port);
    await assert.rejects(sink.send(records(events.slice(0, 1)), never), /syslog over tcp failed: ECONNREFUSED/);
    await sink.close();
  });

  test('UDP: one datagram per event; an event too large for one becomes a stub that keeps its id and hash', async () => {
    const rx = await new SyslogUdpReceiver().start();
    const sink = syslogSink(rx.port, { transport: 'udp', maxDatagram: 2048 });
    const big = hostile({ target: 'z'.repeat(1024 * 1024) });
    await sink.send(records([events[0]!, big]), never);
    await new Promise<void>((resolve) => {
      const check = () => (rx.messages.length >= 2 ? resolve() : setImmediate(check));
      check();
    });
    await sink.close();
    await rx.stop();
    assert.equal(rx.messages[0]!.json.id, events[0]!.id);
    assert.equal(rx.messages[1]!.json.truncated, true);
    assert.equal(rx.messages[1]!.json.hash, big.hash);
    assert.ok(rx.messages[1]!.raw.length <= 2048);
  });

  describe('TLS', () => {
    let cert: { cert: string; private: string };
    let other: { cert: string; private: string };
    before(async () => {
      const opts = { keySize: 2048, algorithm: 'sha256' } as const;
      cert = await generate([{ name: 'commonName', value: 'syslog.test' }], { ...opts, extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'syslog.test' }] }] } as never);
      other = await generate([{ name: 'commonName', value: 'syslog.test' }], opts as never);
    });

    test('delivers to a receiver whose certificate the configured CA signs', async () => {
      const rx = await new SyslogTcpReceiver({ key: cert.private, cert: cert.cert }).start();
      const sink = syslogSink(rx.port, { transport: 'tls', ca: cert.cert, servername: 'syslog.test' });
      await sink.send(records(events.slice(0, 2)), never);
      await sink.close();
      await new Promise<void>((resolve) => {
        const check = () => (rx.messages.length >= 2 ? resolve() : setImmediate(check));
        check();
      });
      await rx.stop();
      assert.deepEqual(rx.messages.map((m) => m.sd.id), events.slice(0, 2).map((e) => e.id));
    });

    test('refuses a certificate from another CA, and a name the certificate does not carry', async () => {
      const rx = await new SyslogTcpReceiver({ key: cert.private, cert: cert.cert }).start();
      const wrongCa = syslogSink(rx.port, { transport: 'tls', ca: other.cert, servername: 'syslog.test' });
      await assert.rejects(wrongCa.send(records(events.slice(0, 1)), never), /syslog over tls failed/);
      await wrongCa.close();
      const wrongName = syslogSink(rx.port, { transport: 'tls', ca: cert.cert, servername: 'elsewhere.test' });
      await assert.rejects(wrongName.send(records(events.slice(0, 1)), never), /syslog over tls failed/);
      await wrongName.close();
      await rx.stop();
      assert.equal(rx.messages.length, 0);
    });
  });
});

describe('file and stdout sinks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-sink-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('rotates by size, keeps `keep` older files, loses no line of the kept files', async () => {
    const path = join(dir, 'audit', 'events.jsonl');
    const sink = new FileSink({ name: 'f', path, maxSize: 4096, keep: 2 });
    for (const e of events) await sink.send(records([e, e]), never);
    await sink.close();
    const files = (await readdir(join(dir, 'audit'))).sort();
    assert.deepEqual(files, ['events.jsonl', 'events.jsonl.1', 'events.jsonl.2']);
    for (const f of files) {
      const lines = (await readFile(join(dir, 'audit', f), 'utf8')).trimEnd().split('\n');
      for (const line of lines) assert.equal(JSON.parse(line).schema, 'gatehouse.audit.v1');
    }
    const newest = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l).id);
    assert.equal(newest.at(-1), events.at(-1)!.id, 'the current file ends with the latest event');
  });

  test('a path that cannot be written fails the send, and the next send works once it can', async () => {
    const blocked = join(dir, 'blocked');
    await mkdir(join(blocked, 'events.jsonl'), { recursive: true });
    const sink = new FileSink({ name: 'f', path: join(blocked, 'events.jsonl'), maxSize: 1 << 20, keep: 1 });
    await assert.rejects(sink.send(records(events.slice(0, 1)), never), /could not write the audit file: EISDIR/);
    await rm(join(blocked, 'events.jsonl'), { recursive: true });
    await sink.send(records(events.slice(0, 1)), never);
    await sink.close();
    assert.equal(JSON.parse(await readFile(join(blocked, 'events.jsonl'), 'utf8')).id, events[0]!.id);
  });

  test('stdout: one JSON line per event', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    await new StdoutSink('s', out).send(records(events.slice(0, 3)), never);
    assert.deepEqual(chunks.join('').trimEnd().split('\n').map((l) => JSON.parse(l).id), events.slice(0, 3).map((e) => e.id));
  });
});

describe('OTLP sink', () => {
  const rx = new HttpReceiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('exports a batch as OTLP/HTTP JSON logs: body, attributes, severity, resource', async () => {
    rx.behaviour = 'ok';
    const sink = new OtlpSink({ name: 'otel', url: rx.url, headers: { 'x-api-key': 'otel-key' }, serviceName: 'gatehouse-test', timeoutMs: 5_000 });
    await sink.send(records(events.slice(0, 3)), never);
    await sink.close();
    const d = rx.deliveries.at(-1)!;
    assert.equal(d.headers['x-api-key'], 'otel-key');
    const body = JSON.parse(d.body);
    const rl = body.resourceLogs[0];
    assert.ok(rl.resource.attributes.some((a: any) => a.key === 'service.name' && a.value.stringValue === 'gatehouse-test'));
    const logs = rl.scopeLogs[0].logRecords;
    assert.equal(logs.length, 3);
    const attr = (l: any, k: string) => l.attributes.find((a: any) => a.key === k)?.value;
    assert.deepEqual(logs.map((l: any) => attr(l, 'gatehouse.event.id').stringValue), events.slice(0, 3).map((e) => e.id));
    assert.equal(attr(logs[0], 'gatehouse.hash').stringValue, events[0]!.hash);
    assert.equal(JSON.parse(logs[0].body.stringValue).id, events[0]!.id);
    assert.equal(logs[0].severityText, 'INFO');
  });

  test('a 500 fails the export', async () => {
    rx.behaviour = 'status-500';
    const sink = new OtlpSink({ name: 'otel', url: rx.url, headers: {}, serviceName: 'g', timeoutMs: 5_000 });
    await assert.rejects(sink.send(records(events.slice(0, 1)), never), /the OTLP export failed/);
    await sink.close();
    rx.behaviour = 'ok';
  });
});

test('parseSyslog refuses what is not an RFC 5424 message (the receiver helper can fail)', () => {
  assert.throws(() => parseSyslog('<13>hello'));
});
