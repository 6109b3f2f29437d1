/**
 * Delivery of audit events to the export sinks: at least once, in order per sink, across restarts.
 * Each sink has a cursor per ledger writer in the store (sink_cursors); a pass reads the entries
 * after it (outbox-source.ts), builds their events, sends them as one batch, and moves the cursor
 * only once the sink took the batch. A failure backs off (doubling from retry.min to retry.max) and
 * the same events are sent again. On PostgreSQL one replica at a time delivers a sink: it holds a
 * lease row it renews on every pass; another takes over once it expires.
 */
import type { Logger } from 'pino';
import type { AuditSinkConfig } from '../config/audit-sinks.ts';
import type { Store } from '../store/types.ts';
import type { AuditEventV1 } from './event-schema.ts';
import { toOcsf } from './ocsf.ts';
import { EventBuilder, lagOf, nextEntries, type OutboxStore } from './outbox-source.ts';
import { describeError, type AuditSink, type ExportRecord } from './sinks/types.ts';

export type DelivererStore = OutboxStore & Pick<Store, 'advanceSinkCursor' | 'takeSinkLease' | 'releaseSinkLease'>;

/** The /metrics series of the export (metrics.ts). */
export interface SinkMetrics {
  readonly lag: { set(labels: { sink: string }, value: number): void };
  readonly delivered: { inc(labels: { sink: string }, value?: number): void };
  readonly failures: { inc(labels: { sink: string }, value?: number): void };
  readonly lastSuccess: { set(labels: { sink: string }, value: number): void };
}

export interface DelivererOptions {
  readonly store: DelivererStore;
  readonly sinks: readonly { readonly config: AuditSinkConfig; readonly sink: AuditSink }[];
  /** This replica's id: the lease holder. */
  readonly holder: string;
  /** Several replicas may run (PostgreSQL): deliver a sink only while holding its lease. */
  readonly useLease: boolean;
  readonly logger: Logger;
  readonly metrics?: SinkMetrics;
  readonly now?: () => number;
  /** false: nothing runs on its own, `flush()` delivers (tests drive the loop). */
  readonly schedule?: boolean;
  readonly leaseTtlMs?: number;
  /** How long a gap in a writer's seq is waited for before it is stepped over (outbox-source.ts). */
  readonly gapGraceMs?: number;
}

export type PassResult = 'delivered' | 'idle' | 'failed' | 'waiting' | 'standby';

const LEASE_TTL_MS = 30_000;
/** Failures logged at warn: the first, then every this many (the failures counter has them all). */
const LOG_EVERY = 20;

class SinkWorker {
  private queue: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private retryAt = 0;
  private batchSize: number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly kinds: ReadonlySet<string> | null;
  private readonly builder: EventBuilder;
  private readonly now: () => number;

  constructor(
    private readonly config: AuditSinkConfig,
    private readonly sink: AuditSink,
    private readonly o: DelivererOptions,
  ) {
    this.batchSize = config.batchSize;
    this.kinds = config.kinds ? new Set(config.kinds) : null;
    this.builder = new EventBuilder(o.store);
    this.now = o.now ?? Date.now;
  }

  get name(): string {
    return this.config.name;
  }

  /** Passes until the sink is caught up or a pass does not deliver; `force` ignores the back-off. */
  drain(force: boolean): Promise<PassResult> {
    const run = async (): Promise<PassResult> => {
      let result: PassResult;
      do result = await this.pass(force);
      while (result === 'delivered' && !this.stopped);
      return result;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  start(): void {
    const tick = async () => {
      this.timer = null;
      const result = await this.drain(false).catch((err: unknown) => {
        // The store could not be read or written: tried again at the next interval.
        this.o.logger.error({ sink: this.name, error: describeError(err) }, 'audit export: a delivery pass failed');
        return 'idle' as const;
      });
      if (this.stopped) return;
      const wait = result === 'failed' || result === 'waiting' ? Math.max(1, this.retryAt - this.now()) : this.config.interval;
      this.timer = setTimeout(() => void tick(), wait);
      this.timer.unref();
    };
    this.timer = setTimeout(() => void tick(), 0);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.queue;
    if (this.o.useLease) await this.o.store.releaseSinkLease(this.name, this.o.holder).catch(() => undefined);
    await this.sink.close().catch(() => undefined);
  }

  private async pass(force: boolean): Promise<PassResult> {
    const now = this.now();
    if (!force && now < this.retryAt) return 'waiting';
    if (this.o.useLease && !(await this.o.store.takeSinkLease(this.name, this.o.holder, now, this.o.leaseTtlMs ?? LEASE_TTL_MS))) return 'standby';
    const cursors = await this.o.store.sinkCursors(this.name);
    const entries = await nextEntries(this.o.store, cursors, this.batchSize, { now, graceMs: this.o.gapGraceMs ?? 60_000 });
    if (entries.length === 0) {
      this.o.metrics?.lag.set({ sink: this.name }, await lagOf(this.o.store, cursors));
      return 'idle';
    }
    const events = await this.builder.build(entries, { includeBodies: this.config.includeBodies });
    const records = events.filter((e) => this.kinds === null || this.kinds.has(e.kind)).map((e) => this.record(e));
    if (records.length > 0) {
      try {
        await this.send(records);
      } catch (err) {
        this.failed(err, records.length);
        return 'failed';
      }
    }
    const reached = new Map(cursors);
    for (const entry of entries) if (entry.seq > (reached.get(entry.writer) ?? 0)) reached.set(entry.writer, entry.seq);
    for (const [writer, seq] of reached) if (seq !== cursors.get(writer)) await this.o.store.advanceSinkCursor(this.name, writer, seq, now);
    if (this.failures > 0) this.o.logger.info({ sink: this.name, after: this.failures }, 'audit export: delivering again');
    this.failures = 0;
    this.retryAt = 0;
    this.batchSize = this.config.batchSize;
    this.o.metrics?.delivered.inc({ sink: this.name }, records.length);
    this.o.metrics?.lastSuccess.set({ sink: this.name }, now / 1000);
    this.o.metrics?.lag.set({ sink: this.name }, await lagOf(this.o.store, reached));
    return 'delivered';
  }

  private record(event: AuditEventV1): ExportRecord {
    return { event, body: this.config.schema === 'ocsf' ? toOcsf(event) : (event as unknown as Record<string, unknown>) };
  }

  private async send(records: readonly ExportRecord[]): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timed out')), this.config.timeout);
    try {
      await this.sink.send(records, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(err: unknown, size: number): void {
    this.failures++;
    const { min, max } = this.config.retry;
    const delay = Math.min(max, min * 2 ** Math.min(this.failures - 1, 30));
    this.retryAt = this.now() + delay;
    // A receiver that refuses the batch's size gets smaller batches, down to one event.
    if ((err as { tooLarge?: boolean }).tooLarge && this.batchSize > 1) this.batchSize = Math.max(1, Math.ceil(Math.min(this.batchSize, size) / 2));
    this.o.metrics?.failures.inc({ sink: this.name });
    if (this.failures === 1 || this.failures % LOG_EVERY === 0) {
      this.o.logger.warn({ sink: this.name, error: describeError(err), failures: this.failures, retryInMs: delay }, 'audit export: delivery failed; the same events are sent again after the back-off');
    }
  }
}

export class AuditDeliverer {
  private readonly workers: SinkWorker[];

  constructor(private readonly options: DelivererOptions) {
    this.workers = options.sinks.map(({ config, sink }) => new SinkWorker(config, sink, options));
  }

  start(): void {
    if (this.options.schedule === false) return;
    for (const worker of this.workers) worker.start();
  }

  /** Delivers everything now, back-off or not; the result of each sink's last pass. */
  async flush(): Promise<Record<string, PassResult>> {
    const results = await Promise.all(this.workers.map(async (w) => [w.name, await w.drain(true)] as const));
    return Object.fromEntries(results);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
