/** JSON lines to the process's standard output (a container's log collector picks them up). */
import type { Writable } from 'node:stream';
import { describeError, SinkError, type AuditSink, type ExportRecord } from './types.ts';

export class StdoutSink implements AuditSink {
  constructor(
    readonly name: string,
    private readonly out: Writable = process.stdout,
  ) {}

  async send(records: readonly ExportRecord[], _signal?: AbortSignal): Promise<void> {
    const text = records.map((r) => `${JSON.stringify(r.body)}\n`).join('');
    await new Promise<void>((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(new SinkError(`could not write to standard output: ${describeError(err)}`, { cause: err })) : resolve()));
    });
  }

  async close(): Promise<void> {}
}
