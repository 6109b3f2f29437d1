/**
 * JSON lines to a file, rotated by size: `events.jsonl` becomes `events.jsonl.1` (the older ones
 * move up one, the oldest past `keep` is removed). Each batch is appended and flushed to disk
 * before the cursor moves, so a crash repeats at most the last batch.
 */
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError, SinkError, type AuditSink, type ExportRecord } from './types.ts';

export interface FileSinkOptions {
  readonly name: string;
  readonly path: string;
  readonly maxSize: number;
  readonly keep: number;
}

export class FileSink implements AuditSink {
  readonly name: string;
  private handle: FileHandle | null = null;
  private size = 0;

  constructor(private readonly options: FileSinkOptions) {
    this.name = options.name;
  }

  async send(records: readonly ExportRecord[], _signal?: AbortSignal): Promise<void> {
    const text = records.map((r) => `${JSON.stringify(r.body)}\n`).join('');
    const bytes = Buffer.byteLength(text);
    try {
      await this.file();
      // A batch is not split across files; a file holds at least one batch however large.
      if (this.size > 0 && this.size + bytes > this.options.maxSize) await this.rotate();
      const current = await this.file();
      await current.appendFile(text);
      await current.datasync();
      this.size += bytes;
    } catch (err) {
      await this.closeHandle();
      throw new SinkError(`could not write the audit file: ${describeError(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.closeHandle();
  }

  private async file(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    await mkdir(dirname(this.options.path), { recursive: true });
    this.handle = await open(this.options.path, 'a', 0o600);
    this.size = (await this.handle.stat()).size;
    return this.handle;
  }

  private async rotate(): Promise<void> {
    await this.closeHandle();
    const { path, keep } = this.options;
    await rm(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      if (await exists(`${path}.${i}`)) await rename(`${path}.${i}`, `${path}.${i + 1}`);
    }
    await rename(path, `${path}.1`);
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
