/**
 * The scheduled report (inventory.report.every): a timer that asks the inventory for new findings.
 * Timers are injected so tests fire a report without waiting for one.
 */
import type { Logger } from 'pino';

export interface ReportTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const REAL_TIMERS: ReportTimers = {
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/** Starts reporting every `everyMs` (0 turns it off); returns the stop. One report runs at a time. */
export function scheduleReports(report: () => Promise<unknown>, everyMs: number, logger: Logger, timers: ReportTimers = REAL_TIMERS): () => void {
  if (!(everyMs > 0)) return () => undefined;
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    report()
      .catch((err: Error) => logger.error({ error: err.message }, 'agents report failed; the next period tries again'))
      .finally(() => (running = false));
  };
  const handle = timers.setInterval(tick, everyMs);
  return () => timers.clearInterval(handle);
}
