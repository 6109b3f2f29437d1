import type { Logger } from 'pino';
import { backoffMs, retryAfterMs } from './retry.ts';
import { signature } from './payload.ts';
import type { FetchLike, NotifyTimers } from './types.ts';

/** One notification for one receiver: the body is fixed, so every attempt sends the same bytes. */
export interface Delivery {
  readonly eventId: string;
  readonly approvalId: string;
  readonly type: string;
  readonly body: string;
  readonly seq: number;
  attempts: number;
  ready: boolean;
  cancelWait: (() => void) | null;
}

export interface ReceiverOptions {
  /** How logs name it (`webhooks[0]`, `slack[1]`): never the address, which can be the credential. */
  readonly label: string;
  readonly url: string;
  /** Set for generic webhooks: their bodies are signed. */
  readonly secret: string | null;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly queueLimit: number;
}

export interface ReceiverDeps {
  readonly logger: Logger;
  readonly now: () => number;
  readonly fetch: FetchLike;
  readonly timers: NotifyTimers;
  readonly random: () => number;
}

type Outcome = { readonly kind: 'done' } | { readonly kind: 'retry'; readonly delayMs: number | null; readonly why: string } | { readonly kind: 'fail'; readonly why: string };

// Two at a time: a slow receiver does not hold every notification behind one request.
const CONCURRENCY = 2;
/** The first drop is logged, then one in this many (with the running count). */
const DROP_WARN_EVERY = 100;

/** What a failed attempt may say in a log: a status or an error code, never a message (which can quote the address). */
function failure(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'no answer within the timeout';
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  const code = cause?.code ?? (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? `network error ${code}` : 'network error';
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
}

/** The queue and attempts of one receiver: retried with back-off, bounded, never throwing to its caller. */
export class Receiver {
  readonly #options: ReceiverOptions;
  readonly #deps: ReceiverDeps;
  /** Waiting, ready or for a retry, oldest first. */
  #queue: Delivery[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** Event ids queued or under way: the same event told twice is sent once. */
  readonly #ids = new Set<string>();
  #closed = false;
  /** Drops since the last warning: a storm of approvals must not become a storm of log lines. */
  #drops = 0;

  constructor(options: ReceiverOptions, deps: ReceiverDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  get label(): string {
    return this.#options.label;
  }

  /** Waiting deliveries (for tests and close). */
  get queued(): number {
    return this.#queue.length;
  }

  enqueue(delivery: Delivery): void {
    if (this.#closed) return;
    if (this.#ids.has(delivery.eventId)) return;
    this.#ids.add(delivery.eventId);
    this.#insert(delivery);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight.size < CONCURRENCY) {
      const index = this.#queue.findIndex((d) => d.ready);
      if (index < 0) return;
      const [delivery] = this.#queue.splice(index, 1);
      const attempt = this.#attempt(delivery!).finally(() => {
        this.#inFlight.delete(attempt);
        this.#pump();
      });
      this.#inFlight.add(attempt);
    }
  }

  async #attempt(delivery: Delivery): Promise<void> {
    delivery.attempts++;
    const outcome = await this.#send(delivery).catch((): Outcome => ({ kind: 'retry', delayMs: null, why: 'unexpected failure' }));
    const log = { receiver: this.label, eventId: delivery.eventId, approvalId: delivery.approvalId, type: delivery.type, attempt: delivery.attempts };
    if (outcome.kind === 'done') {
      this.#ids.delete(delivery.eventId);
      this.#deps.logger.debug(log, 'approval notifications: delivered');
      return;
    }
    if (outcome.kind === 'fail') {
      this.#ids.delete(delivery.eventId);
      this.#deps.logger.warn({ ...log, why: outcome.why }, 'approval notifications: the receiver refused the notification; not retried');
      return;
    }
    if (delivery.attempts >= this.#options.maxAttempts || this.#closed) {
      this.#ids.delete(delivery.eventId);
      this.#deps.logger.warn({ ...log, why: outcome.why }, 'approval notifications: giving up after the last attempt');
      return;
    }
    const delayMs = outcome.delayMs ?? backoffMs(delivery.attempts, this.#deps.random());
    this.#deps.logger.info({ ...log, why: outcome.why, retryInMs: delayMs }, 'approval notifications: attempt failed, will retry');
    delivery.ready = false;
    delivery.cancelWait = this.#deps.timers.after(delayMs, () => {
      delivery.cancelWait = null;
      delivery.ready = true;
      this.#pump();
    });
    this.#insert(delivery);
  }

  /** Into its place by age; past the limit the oldest goes, whether new or waiting for a retry. */
  #insert(delivery: Delivery): void {
    const at = this.#queue.findIndex((d) => d.seq > delivery.seq);
    this.#queue.splice(at < 0 ? this.#queue.length : at, 0, delivery);
    while (this.#queue.length > this.#options.queueLimit) {
      const dropped = this.#queue.shift()!;
      dropped.cancelWait?.();
      this.#ids.delete(dropped.eventId);
      if (this.#drops++ % DROP_WARN_EVERY === 0) {
        this.#deps.logger.warn(
          { receiver: this.label, eventId: dropped.eventId, approvalId: dropped.approvalId, type: dropped.type, queueLimit: this.#options.queueLimit, droppedSoFar: this.#drops },
          'approval notifications: queue full, the oldest waiting notification was dropped',
        );
      }
    }
  }

  async #send(delivery: Delivery): Promise<Outcome> {
    const controller = new AbortController();
    let timedOut = false;
    const cancelTimeout = this.#deps.timers.after(this.#options.timeoutMs, () => {
      timedOut = true;
      controller.abort();
    });
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'gatehouse-approval-notify' };
      if (this.#options.secret !== null) {
        const timestamp = String(Math.floor(this.#deps.now() / 1000));
        headers['x-gatehouse-timestamp'] = timestamp;
        headers['x-gatehouse-event-id'] = delivery.eventId;
        headers['x-gatehouse-signature'] = signature(this.#options.secret, timestamp, delivery.body);
      }
      let response: Response;
      try {
        // A redirect is not followed: the signed body would go wherever the receiver points.
        const sent = this.#deps.fetch(this.#options.url, { method: 'POST', headers, body: delivery.body, redirect: 'manual', signal: controller.signal });
        // The timeout ends the attempt even if the fetch does not heed its signal.
        response = await Promise.race([sent, aborted(controller.signal)]);
      } catch (err) {
        return { kind: 'retry', delayMs: null, why: failure(err, timedOut) };
      }
      // The answer's body is never read: a receiver may send anything, or never finish.
      response.body?.cancel().catch(() => {});
      const status = response.status;
      if (status >= 200 && status < 300) return { kind: 'done' };
      if (status === 429 || status >= 500) {
        return { kind: 'retry', delayMs: retryAfterMs(response.headers.get('retry-after'), this.#deps.now()), why: `status ${status}` };
      }
      if (status >= 300 && status < 400) return { kind: 'fail', why: `status ${status}: a redirect, which notifications do not follow; configure the final address` };
      return { kind: 'fail', why: `status ${status}` };
    } finally {
      cancelTimeout();
    }
  }

  /** Stops: waiting deliveries are dropped (and counted in the log), attempts under way finish. */
  async close(): Promise<void> {
    this.#closed = true;
    const dropped = this.#queue.length;
    for (const d of this.#queue) d.cancelWait?.();
    this.#queue = [];
    this.#ids.clear();
    if (dropped > 0) this.#deps.logger.warn({ receiver: this.label, dropped }, 'approval notifications: stopping; notifications still waiting were dropped');
    await Promise.allSettled([...this.#inFlight]);
  }
}
