/** Shared pieces of the export sinks' tests: configs as the loader fills them, a sink that keeps what it got. */
import pino from 'pino';
import { auditSinkSchema, type AuditSinkConfig } from '../../../src/config/audit-sinks.ts';
import { AuditDeliverer, type DelivererStore } from '../../../src/audit/outbox.ts';
import { SinkError, type AuditSink, type ExportRecord } from '../../../src/audit/sinks/types.ts';
import type { AuditEventV1 } from '../../../src/audit/event-schema.ts';
import type { Store } from '../../../src/store/types.ts';

export const silent = pino({ level: 'silent' });

export function sinkConfig(input: Record<string, unknown>): AuditSinkConfig {
  return auditSinkSchema.parse({ name: 'test', type: 'stdout', ...input });
}

/** Keeps every batch; `fail` makes the next sends throw. */
export class MemorySink implements AuditSink {
  readonly batches: ExportRecord[][] = [];
  fail: SinkError | null = null;
  closed = false;
  constructor(readonly name = 'mem') {}
  async send(records: readonly ExportRecord[], _signal?: AbortSignal): Promise<void> {
    if (this.fail) throw this.fail;
    this.batches.push([...records]);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  get events(): AuditEventV1[] {
    return this.batches.flat().map((r) => r.event);
  }
}

export function deliverer(store: DelivererStore, sinks: { config: AuditSinkConfig; sink: AuditSink }[], over: Partial<ConstructorParameters<typeof AuditDeliverer>[0]> = {}): AuditDeliverer {
  return new AuditDeliverer({ store, sinks, holder: 'replica-a', useLease: false, logger: silent, schedule: false, ...over });
}

/** Every (writer, seq) the store's ledger holds, in seq order per writer. */
export async function ledgerIds(store: Store): Promise<Map<string, { seq: number; hash: string }[]>> {
  const out = new Map<string, { seq: number; hash: string }[]>();
  for (const writer of await store.ledgerWriters()) out.set(writer, (await store.listLedger(writer, 0, 100_000)).map((e) => ({ seq: e.seq, hash: e.hash })));
  return out;
}

/**
 * What at-least-once in order allows: every ledger entry arrived with its chain hash; within a writer
 * the first arrivals are in seq order; any other arrival repeats an id already seen with the same hash.
 */
export function checkDelivered(ledger: Map<string, { seq: number; hash: string }[]>, got: readonly { id: string; writer: string; seq: number; hash: string }[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const lastFirst = new Map<string, number>();
  for (const e of got) {
    const before = seen.get(e.id);
    if (before !== undefined) {
      if (before !== e.hash) problems.push(`${e.id} arrived again with another hash`);
      continue;
    }
    seen.set(e.id, e.hash);
    if ((lastFirst.get(e.writer) ?? 0) > e.seq) problems.push(`${e.id} arrived after a later seq of its writer`);
    lastFirst.set(e.writer, e.seq);
  }
  for (const [writer, entries] of ledger) {
    for (const entry of entries) {
      const hash = seen.get(`${writer}:${entry.seq}`);
      if (hash === undefined) problems.push(`${writer}:${entry.seq} never arrived`);
      else if (hash !== entry.hash) problems.push(`${writer}:${entry.seq} arrived with hash ${hash}, the ledger holds ${entry.hash}`);
    }
  }
  return problems;
}
