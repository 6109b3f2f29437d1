/** Starts the export sinks the config names (server.ts calls this once, with the replica's id). */
import type { Logger } from 'pino';
import type { AuditSinkConfig } from '../config/audit-sinks.ts';
import { AuditDeliverer, type DelivererStore, type SinkMetrics } from './outbox.ts';
import { createSink } from './sinks/index.ts';
import type { AuditSink } from './sinks/types.ts';

export interface AuditExportStart {
  readonly sinks: readonly AuditSinkConfig[] | undefined;
  readonly store: DelivererStore & { readonly postgres: unknown };
  readonly holder: string;
  readonly logger: Logger;
  readonly metrics?: SinkMetrics;
  /** Where relative paths (a file sink's path, a caFile) are read from. */
  readonly baseDir: string;
  /** Tests: the clock, and whether delivery runs on its own or only on flush(). */
  readonly now?: () => number;
  readonly schedule?: boolean;
}

/** Null when no sink is configured. */
export async function startAuditExport(options: AuditExportStart): Promise<AuditDeliverer | null> {
  if (!options.sinks || options.sinks.length === 0) return null;
  const built: { config: AuditSinkConfig; sink: AuditSink }[] = [];
  try {
    for (const config of options.sinks) built.push({ config, sink: await createSink(config, options.baseDir) });
  } catch (err) {
    await Promise.all(built.map((b) => b.sink.close().catch(() => undefined)));
    throw err;
  }
  const deliverer = new AuditDeliverer({
    store: options.store,
    sinks: built,
    holder: options.holder,
    useLease: options.store.postgres !== null,
    logger: options.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
  });
  deliverer.start();
  options.logger.info({ sinks: built.map((b) => `${b.config.name} (${b.config.type}, ${b.config.schema})`) }, 'audit export started');
  return deliverer;
}
