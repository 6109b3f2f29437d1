/**
 * Hostile receivers, hostile approvals and hostile config for approval notifications: whatever
 * happens, notify() returns at once and never throws, nothing hangs, no redirect is followed, and
 * neither a webhook secret nor a Slack address reaches a log line or an error.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createApprovalNotifier, type ApprovalNotifier, type FetchLike, type NotifyEvent } from '../../src/approvals/notify/index.ts';
import { MAX_BODY_BYTES } from '../../src/approvals/notify/payload.ts';
import { MAX_RETRY_AFTER_MS } from '../../src/approvals/notify/retry.ts';
import { configSchema } from '../../src/config/schema.ts';
import { approval, captureLogs, created, FakeTimers, hang, Receiver, status, verifySignature } from './support/notify-harness.ts';

const SECRET = 'whsec-hostile-0123456789abcdef';
const TIMEOUT = 6_543;

const open: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of open.reverse()) await close();
});

async function setup(options: { fetch?: FetchLike; url?: string; queueLimit?: number; slack?: boolean } = {}) {
  const receiver = await new Receiver().start('/in/XXXXpathtokenXXXX');
  const timers = new FakeTimers();
  const logs = captureLogs();
  const url = options.url ?? receiver.url;
  const notifier: ApprovalNotifier = createApprovalNotifier(
    options.slack ? { slack: [{ webhookUrl: url }], timeout: TIMEOUT } : { webhooks: [{ url, secret: SECRET }], timeout: TIMEOUT, queueLimit: options.queueLimit ?? 100 },
    { logger: logs.logger, now: () => 1_760_000_000_000, timers, random: () => 0.5, ...(options.fetch ? { fetch: options.fetch } : {}) },
  );
  open.push(async () => {
    // Closing first stops new attempts; firing the timeouts then ends those under way.
    const closing = notifier.close();
    for (const t of timers.live()) timers.fire(t);
    await closing;
    await receiver.stop();
  });
  const noSecrets = () => {
    const logged = logs.all();
    for (const secret of [SECRET, 'XXXXpathtokenXXXX', url]) assert.ok(!logged.includes(secret), `${secret} in the log:\n${logged}`);
  };
  return { receiver, timers, logs, notifier, noSecrets };
}

/** A TCP server that answers every connection with `reply` (garbage, half a response, nothing) and closes or hangs. */
async function rawServer(reply: string | null, close: boolean): Promise<{ url: string; stop: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => {
      if (reply !== null) socket.write(reply);
      if (close) socket.destroy();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in/XXXXpathtokenXXXX`;
  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((done) => server.close(() => done()));
  };
  open.push(stop);
  return { url, stop };
}

describe('hostile receivers', { timeout: 60_000 }, () => {
  // [what it does, start it, why the attempt failed]; a receiver that hangs is cut at the timeout, which the test fires.
  const retried: Array<[string, () => Promise<string>, RegExp]> = [
    ['answers with bytes that are not HTTP', async () => (await rawServer('garbage\r\n\r\nmore garbage', true)).url, /network error/],
    ['closes the connection without a word', async () => (await rawServer(null, true)).url, /network error/],
    ['sends half a status line and hangs', async () => (await rawServer('HTTP/1.1 2', false)).url, /no answer within the timeout/],
    ['sends headers that never end', async () => (await rawServer('HTTP/1.1 200 OK\r\nx-slow: ', false)).url, /no answer within the timeout/],
    [
      'is not listening at all',
      async () => {
        const { url, stop } = await rawServer(null, true);
        await stop();
        return url;
      },
      /network error ECONNREFUSED/,
    ],
  ];
  for (const [name, start, why] of retried) {
    it(`a receiver that ${name}: the attempt fails, a retry is scheduled`, async () => {
      const url = await start();
      const { timers, logs, notifier, noSecrets } = await setup({ url });
      notifier.notify(created());
      if (why.source.includes('timeout')) timers.fire(await timers.next(TIMEOUT));
      const line = await logs.waitFor('will retry');
      assert.match(String(line.why), why);
      assert.ok(timers.live().some((t) => t.ms === 1_000), 'a retry waits');
      noSecrets();
    });
  }

  it('a receiver that answers 200 and then trickles a body forever: delivered, the body is never read', async () => {
    const { receiver, logs, notifier } = await setup();
    receiver.answers.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('still going…');
      receiver.held.push(res);
    });
    notifier.notify(created());
    await logs.waitFor('delivered');
  });

  it('a receiver that answers slowly, after the timeout: the attempt is given up and retried', async () => {
    const { receiver, timers, logs, notifier } = await setup();
    let late: (() => void) | undefined;
    receiver.answers.push((_req, res) => void (late = () => res.writeHead(200).end()));
    notifier.notify(created());
    await receiver.requests.next();
    timers.fire(await timers.next(TIMEOUT));
    await logs.waitFor('will retry');
    late!();
    timers.fire(await timers.next(1_000));
    await logs.waitFor('delivered');
    assert.equal(receiver.requests.items.length, 2);
  });

  for (const code of [301, 302, 303, 307, 308]) {
    it(`a receiver that redirects (${code}) elsewhere: not followed, not retried`, async () => {
      const elsewhere = await new Receiver().start();
      open.push(() => elsewhere.stop());
      const { receiver, timers, logs, notifier, noSecrets } = await setup();
      receiver.answers.push(status(code, { location: elsewhere.url }));
      notifier.notify(created());
      // Either outcome ends the wait, so a followed redirect fails here rather than hanging.
      const line = await Promise.race([logs.waitFor('not retried'), logs.waitFor('delivered')]);
      assert.match(String(line.why), /redirect/);
      assert.equal(elsewhere.requests.items.length, 0);
      assert.deepEqual(timers.live().filter((t) => t.ms !== TIMEOUT), []);
      noSecrets();
    });
  }

  const retryAfter: Array<[string, string, number]> = [
    ['a huge Retry-After', '99999999', MAX_RETRY_AFTER_MS],
    ['a Retry-After that is not a number', 'soon', 1_000],
    ['a negative Retry-After', '-5', 1_000],
    ['a Retry-After in exponent form', '1e3', 1_000],
    ['a Retry-After date in the past', 'Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['a Retry-After date too far ahead', 'Fri, 31 Dec 9999 23:59:59 GMT', MAX_RETRY_AFTER_MS],
  ];
  for (const [name, header, waitMs] of retryAfter) {
    it(`${name} (${JSON.stringify(header)}) waits ${waitMs} ms`, async () => {
      const { receiver, timers, notifier } = await setup();
      receiver.answers.push(status(429, { 'retry-after': header }));
      notifier.notify(created());
      timers.fire(await timers.next(waitMs));
      await receiver.requests.next(() => true, 1);
    });
  }
});

describe('hostile approvals', { timeout: 60_000 }, () => {
  it('a 10 MB summary: the body stays under the limit, says it was cut, and is still signed', async () => {
    const { receiver, notifier } = await setup();
    notifier.notify(created(approval({ summary: { prompt: 'A'.repeat(10 * 1024 * 1024) } })));
    const req = await receiver.requests.next();
    assert.ok(req.raw.length <= MAX_BODY_BYTES);
    const body = JSON.parse(req.body) as { approval: { summary: { truncated: boolean; excerpt: string } } };
    assert.equal(body.approval.summary.truncated, true);
    assert.ok(body.approval.summary.excerpt.startsWith('{"prompt":"AAAA'));
    assert.ok(verifySignature(SECRET, req));
  });

  it('unicode of every kind (emoji, RTL overrides, NUL, lone surrogates, zero-width) arrives as valid JSON the signature covers', async () => {
    const { receiver, notifier } = await setup();
    const prompt = '😀 \u202Eevil\u202C \u0000 \uD800 \uDFFF \u200B ｆｕｌｌ Ω';
    notifier.notify(created(approval({ summary: { prompt }, requester: { id: 'u', name: 'Zoë \u202E' } })));
    const req = await receiver.requests.next();
    assert.ok(verifySignature(SECRET, req));
    const body = JSON.parse(req.body) as { approval: { summary: { prompt: string } } };
    assert.equal(body.approval.summary.prompt.replace(/[\uD800-\uDFFF]/g, '?'), prompt.replace(/[\uD800-\uDFFF]/g, '?'));
  });

  it('an approval id with shell syntax is quoted in the command to approve', async () => {
    const { receiver, notifier } = await setup();
    notifier.notify(created(approval({ id: "apr_1'; rm -rf ~; echo '" })));
    const body = JSON.parse((await receiver.requests.next()).body) as { approveCommand: string };
    assert.equal(body.approveCommand, `gatehouse approvals approve 'apr_1'\\''; rm -rf ~; echo '\\'''`);
  });

  const unserialisable: Array<[string, () => NotifyEvent]> = [
    ['a summary holding a bigint', () => created(approval({ summary: { rows: 10n } }))],
    [
      'a summary that refers to itself',
      () => {
        const summary: Record<string, unknown> = {};
        summary.self = summary;
        return created(approval({ summary }));
      },
    ],
    [
      'a summary whose field throws when read',
      () =>
        created(
          approval({
            summary: Object.defineProperty({}, 'boom', {
              enumerable: true,
              get() {
                throw new Error('read me not');
              },
            }),
          }),
        ),
    ],
    ['no approval at all', () => ({ type: 'approval.created', approval: null, gatewayUrl: 'x' }) as unknown as NotifyEvent],
    ['an approval missing every field', () => ({ type: 'approval.decided', approval: {}, gatewayUrl: 'x' }) as unknown as NotifyEvent],
    ['no event at all', () => undefined as unknown as NotifyEvent],
  ];
  for (const [name, make] of unserialisable) {
    it(`${name}: notify() neither throws nor blocks`, async () => {
      const { notifier, logs } = await setup({ slack: false });
      const slack = await setup({ slack: true });
      const event = make();
      assert.equal(notifier.notify(event), undefined);
      assert.equal(slack.notifier.notify(event), undefined);
      // Either sent (with what could be shown) or logged as not buildable; never an exception.
      await Promise.race([logs.waitFor('delivered'), logs.waitFor('could not build')]);
    });
  }
});

describe('hostile transport and config', { timeout: 60_000 }, () => {
  it('a fetch that fails with the address and the secret in its message: neither is logged', async () => {
    const fetch: FetchLike = async (url) => {
      throw new TypeError(`fetch failed for ${url} using ${SECRET}`, { cause: { code: `ECONNRESET ${url}` } });
    };
    const { logs, notifier, noSecrets } = await setup({ fetch, url: 'https://hooks.example.com/in/XXXXpathtokenXXXX' });
    notifier.notify(created());
    const line = await logs.waitFor('will retry');
    assert.equal(line.why, 'network error');
    noSecrets();
  });

  it('a fetch that throws synchronously is an attempt that failed', async () => {
    const fetch: FetchLike = () => {
      throw new Error('sync');
    };
    const { logs, notifier } = await setup({ fetch });
    assert.doesNotThrow(() => notifier.notify(created()));
    await logs.waitFor('will retry');
  });

  it('a fetch that ignores its abort signal and never settles still ends at the timeout, and close() returns', async () => {
    const fetch: FetchLike = () => new Promise<Response>(() => {});
    const { timers, logs, notifier } = await setup({ fetch });
    notifier.notify(created());
    timers.fire(await timers.next(TIMEOUT));
    await logs.waitFor('will retry');
    await notifier.close();
  });

  it('a storm of approvals: the queue stays at its limit and drops are logged sparingly', async () => {
    const fetch: FetchLike = () => new Promise<Response>(() => {});
    const { logs, notifier } = await setup({ fetch, queueLimit: 10 });
    for (let i = 0; i < 5_000; i++) notifier.notify(created(approval({ id: `apr_${i}` })));
    const drops = logs.lines.items.filter((l) => l.msg.includes('queue full'));
    assert.ok(drops.length >= 1 && drops.length <= 50, `${drops.length} warnings`);
    assert.equal(drops.at(-1)!.droppedSoFar, 4_901);
  });

  it('a receiver that never answers does not hold up notify(): it returns before any request is sent', async () => {
    const { receiver, notifier } = await setup();
    receiver.answers.push(hang(receiver));
    for (let i = 0; i < 3; i++) notifier.notify(created(approval({ id: `apr_${i}` })));
    assert.equal(receiver.requests.items.length, 0);
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['plain http to a remote host', { webhooks: [{ url: 'http://hooks.example.com/XXXXpathtokenXXXX', secret: SECRET }] }, /use https/],
    ['an address with a password in it', { webhooks: [{ url: 'https://user:XXXXpathtokenXXXX@hooks.example.com/', secret: SECRET }] }, /user name or password/],
    ['a secret too short to resist guessing', { webhooks: [{ url: 'https://hooks.example.com/', secret: 'short' }] }, /at least 16/],
    ['a Slack address that is not a URL', { slack: [{ webhookUrl: 'XXXXpathtokenXXXX' }] }, /absolute URL/],
    ['a javascript: address', { slack: [{ webhookUrl: 'javascript:XXXXpathtokenXXXX' }] }, /use https/],
    ['an unknown key (a misspelt secret)', { webhooks: [{ url: 'https://hooks.example.com/', secrett: SECRET }] }, /secrett|Unrecognized/],
    ['a zero timeout', { timeout: '0s' }, /longer than zero/],
  ];
  for (const [name, notify, message] of refused) {
    it(`config refuses ${name}, without repeating the value`, () => {
      const result = configSchema.safeParse({ approvals: { notify } });
      assert.equal(result.success, false);
      const text = result.error!.issues.map((i) => i.message).join('\n');
      assert.match(text, message);
      assert.ok(!text.includes('XXXXpathtokenXXXX') && !text.includes(SECRET), text);
    });
  }

  it('config accepts the documented shape, with defaults', () => {
    const result = configSchema.parse({ approvals: { notify: { webhooks: [{ url: 'https://hooks.example.com/gatehouse', secret: SECRET }], slack: [{ webhookUrl: 'https://hooks.slack.com/services/T/B/X' }] } } });
    assert.deepEqual({ ...result.approvals.notify, webhooks: undefined, slack: undefined }, { webhooks: undefined, slack: undefined, timeout: 10_000, maxAttempts: 5, queueLimit: 1_000 });
    assert.deepEqual(configSchema.parse({}).approvals, {});
  });
});

