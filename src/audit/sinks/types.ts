/**
 * What an export sink implements (audit/outbox.ts drives it). A sink delivers a batch whole or
 * throws: the cursor moves only after `send` resolves, so a throw means the batch is sent again.
 */
import type { AuditEventV1 } from '../event-schema.ts';

/** One event as the sink's schema shapes it (gatehouse.audit.v1 or OCSF), with the event it came from. */
export interface ExportRecord {
  readonly event: AuditEventV1;
  readonly body: Record<string, unknown>;
}

export interface AuditSink {
  readonly name: string;
  /** Resolves once the receiver has the batch (as far as the transport can tell); throws SinkError otherwise. */
  send(records: readonly ExportRecord[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * A failed delivery. Its message names what failed (a status, a refused connection), never a
 * secret or a body. `tooLarge`: the receiver refused the batch's size, so a smaller one may pass.
 */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  constructor(
    message: string,
    readonly options: { readonly status?: number; readonly tooLarge?: boolean; readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get tooLarge(): boolean {
    return this.options.tooLarge === true;
  }
}

/** A network error's code (ECONNREFUSED …) or its message's first line, cut short: safe to log. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string') return e.code;
  if (e && e.name === 'AbortError') return 'timed out or aborted';
  const message = e && typeof e.message === 'string' ? e.message.split('\n')[0]! : String(err);
  return message.slice(0, 200);
}
