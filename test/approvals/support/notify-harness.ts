/**
 * What the notification tests share: timers the test fires itself, a real HTTP receiver on
 * loopback whose answers the test scripts, and a pino logger whose lines the test reads. Nothing
 * here waits on wall time: a test waits for an event (a request arrived, a timer was set, a line
 * was logged) and moves the clock by firing timers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { NotifyApproval, NotifyEvent, NotifyTimers } from '../../../src/approvals/notify/index.ts';

/** Resolves the first waiter whose predicate holds for an item, now or when one arrives. */
class Feed<T> {
  readonly items: T[] = [];
  #waiters: Array<{ test: (item: T) => boolean; done: (item: T) => void }> = [];

  push(item: T): void {
    this.items.push(item);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(item)) return true;
      w.done(item);
      return false;
    });
  }

  /** The first item (counting from `from`) that passes `test`, already there or still to come. */
  next(test: (item: T) => boolean = () => true, from = 0): Promise<T> {
    const found = this.items.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((done) => this.#waiters.push({ test, done }));
  }
}

export interface FakeTimer {
  readonly ms: number;
  readonly fn: () => void;
  cancelled: boolean;
  fired: boolean;
}

/** Timers that fire only when the test says so. */
export class FakeTimers implements NotifyTimers {
  readonly set = new Feed<FakeTimer>();

  after(ms: number, fn: () => void): () => void {
    const timer: FakeTimer = { ms, fn, cancelled: false, fired: false };
    this.set.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** The next live timer of exactly `ms` (a retry's wait or an attempt's timeout). */
  async next(ms: number): Promise<FakeTimer> {
    return this.set.next((t) => t.ms === ms && !t.cancelled && !t.fired);
  }

  fire(timer: FakeTimer): void {
    if (timer.cancelled || timer.fired) return;
    timer.fired = true;
    timer.fn();
  }

  live(): FakeTimer[] {
    return this.set.items.filter((t) => !t.cancelled && !t.fired);
  }
}

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly body: string;
}

export type Answer = (req: Received, res: ServerResponse) => void;

/** A receiver on 127.0.0.1:0 answering each request with the next scripted answer (200 when none is left). */
export class Receiver {
  readonly requests = new Feed<Received>();
  readonly answers: Answer[] = [];
  /** Responses the test holds open (a receiver that never answers); ended when the receiver stops. */
  readonly held: ServerResponse[] = [];
  #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body: raw.toString('utf8') };
        const answer = this.answers.shift() ?? ((_r, out) => out.writeHead(200).end('ok'));
        answer(received, res);
        this.requests.push(received);
      });
    });
  }

  async start(path = '/hook'): Promise<this> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

export const status = (code: number, headers: Record<string, string> = {}): Answer => (_req, res) => res.writeHead(code, headers).end(`status ${code}`);
export const hang: (receiver: Receiver) => Answer = (receiver) => (_req, res) => void receiver.held.push(res);

/** What a receiver does with the documented headers: recompute the HMAC over the raw bytes it got. */
export function verifySignature(secret: string, req: Received): boolean {
  const timestamp = req.headers['x-gatehouse-timestamp'];
  const given = req.headers['x-gatehouse-signature'];
  if (typeof timestamp !== 'string' || typeof given !== 'string' || !given.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(req.raw).digest();
  const got = Buffer.from(given.slice('sha256='.length), 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly raw: string;
  readonly [key: string]: unknown;
}

/** A pino logger at debug whose every line the test can read or wait for. */
export function captureLogs() {
  const lines = new Feed<LogLine>();
  const logger = pino({ level: 'debug' }, { write: (raw: string) => lines.push({ ...(JSON.parse(raw) as { level: number; msg: string }), raw }) });
  return {
    logger,
    lines,
    all: () => lines.items.map((l) => l.raw).join('\n'),
    waitFor: (fragment: string, from = 0) => lines.next((l) => l.msg.includes(fragment), from),
  };
}

export function approval(overrides: Partial<NotifyApproval> = {}): NotifyApproval {
  return {
    id: 'apr_01J9Z5',
    status: 'pending',
    createdAt: 1_760_000_000_000,
    expiresAt: 1_760_000_900_000,
    requester: { id: 'u-alice', name: 'alice' },
    agent: 'support-bot',
    connection: 'prod-db',
    kind: 'sql.query',
    rule: 'prod-deletes-need-two-dbas',
    approvers: ['dba'],
    required: 2,
    summary: { sql: 'DELETE FROM orders WHERE id = 42' },
    votes: [],
    decidedAt: null,
    usedAt: null,
    ...overrides,
  };
}

export const created = (a: NotifyApproval = approval()): NotifyEvent => ({ type: 'approval.created', approval: a, gatewayUrl: 'https://gatehouse.example.com' });
export const decided = (a: NotifyApproval): NotifyEvent => ({ type: 'approval.decided', approval: a, gatewayUrl: 'https://gatehouse.example.com' });
