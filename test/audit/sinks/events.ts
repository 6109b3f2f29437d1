/** Real events: traffic recorded through the chained store, read back the way the outbox reads it. */
import { ENGINES } from '../../store/fixtures.ts';
import { traffic } from '../trail-support.ts';
import { EventBuilder, nextEntries } from '../../../src/audit/outbox-source.ts';
import type { AuditEventV1 } from '../../../src/audit/event-schema.ts';
import type { ExportRecord } from '../../../src/audit/sinks/types.ts';

export async function realEvents(options: { includeBodies?: boolean } = {}): Promise<AuditEventV1[]> {
  const db = await ENGINES.sqlite();
  const store = await db.open();
  try {
    await traffic(store, 'local', 3);
    const entries = await nextEntries(store, new Map(), 1_000);
    return await new EventBuilder(store).build(entries, { includeBodies: options.includeBodies ?? false });
  } finally {
    await store.close();
    await db.stopDatabase();
  }
}

export const records = (events: readonly AuditEventV1[]): ExportRecord[] => events.map((event) => ({ event, body: event as unknown as Record<string, unknown> }));
