/**
 * How a suite hands its headline figures to `bench/run.ts`: rows of metric, value, goal and
 * pass/miss, printed by the suite and sent over IPC when the entry point started it.
 */
export interface SummaryRow {
  readonly suite: string;
  readonly metric: string;
  readonly value: string;
  /** The goal in words ("≥ 0.60×"), or null for a figure given for context. */
  readonly goal: string | null;
  readonly pass: boolean | null;
}

export const SUMMARY_MESSAGE = 'gatehouse-bench-summary';

/** Sends the rows to the parent, if it listens, and lets go of the channel so this process can exit. */
export async function sendSummary(rows: readonly SummaryRow[]): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) return;
  await new Promise((resolve) => send({ type: SUMMARY_MESSAGE, rows }, undefined, {}, resolve));
  process.disconnect();
}

/** Lines of a text table; by default the first column is left-aligned and the rest right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function summaryLines(rows: readonly SummaryRow[]): string[] {
  return table(
    ['suite', 'metric', 'value', 'goal', 'result'],
    rows.map((r) => [r.suite, r.metric, r.value, r.goal ?? '', r.pass === null ? '' : r.pass ? 'pass' : 'MISS']),
    [0, 1, 3, 4],
  );
}

/** Parses `--name value` options with numeric defaults. */
export function numericArgs<T extends Record<string, number>>(defaults: T, argv = process.argv.slice(2)): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (!(name in out)) throw new Error(`unknown option ${argv[i]}; known: ${Object.keys(out).map((k) => `--${k}`).join(' ')}`);
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
    out[name] = value;
  }
  return out as T;
}
