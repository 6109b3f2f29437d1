import type { Command } from 'commander';

type Print = (text: string) => void;

/** A command's action: runs, then prints JSON (--json) or the human view; `failed` exits 3 after printing. */
export function action<A extends unknown[]>(print: Print, run: (...args: A) => Promise<{ json: unknown; human: string; failed?: boolean }>) {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    const { json, human, failed } = await run(...args);
    print(command.optsWithGlobals().json ? JSON.stringify(json, null, 2) : human);
    if (failed) process.exitCode = 3;
  };
}

/** Fixed-width table for terminals; `--json` prints the API's JSON instead. */
export function table(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(',') || '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function time(ms: number | null | undefined): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-';
}
