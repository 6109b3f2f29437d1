import type { MaskStyle } from './config.ts';
import type { MaskEngine } from './engine.ts';
import type { ScanBudget } from './scan-budget.ts';
import { COLUMN_TYPE } from './styler.ts';
import type { Finding, RowMaskResult, Span } from './types.ts';

// Values are scanned as one text: one scan per row instead of one per value (the fixed cost
// of a scan dominates for short values). No detector matches across this separator; a match
// that still reaches into two values sends the row back to value-by-value scanning. Context
// words (`aws`, `ssn`, custom pattern context) may come from another column of the row.
const SEPARATOR = '\n\u0000\n';

/**
 * One result row (Postgres text format). Named columns are masked whatever they hold
 * (`drop` turns the value into NULL: a row cannot lose a column); every other value is
 * scanned by content. Findings carry the column name as their path.
 */
export function maskRowValues(
  engine: MaskEngine,
  namedColumns: ReadonlyMap<string, MaskStyle>,
  columns: readonly string[],
  values: readonly (string | null)[],
  budget: ScanBudget,
): RowMaskResult {
  const findings: Finding[] = [];
  const out: (string | null)[] = new Array(values.length);
  const scanned: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i] ?? null;
    const column = columnName(columns, i);
    const style = value === null || namedColumns.size === 0 ? undefined : namedColumns.get(column.toLowerCase());
    if (value === null || style === undefined) {
      out[i] = value === null ? null : budget.take(value);
      if (value !== null) scanned.push(i);
      continue;
    }
    const replacement = style === 'drop' ? null : engine.styler.replace(COLUMN_TYPE, style, value, value);
    findings.push({ type: COLUMN_TYPE, detector: `column:${column}`, start: 0, end: value.length, replacement: replacement ?? '', path: column });
    out[i] = replacement;
  }
  if (scanned.length > 0) maskByContent(engine, columns, out, scanned, findings);
  return { values: out, findings };
}

function columnName(columns: readonly string[], i: number): string {
  return columns[i] ?? `#${i + 1}`;
}

function maskByContent(engine: MaskEngine, columns: readonly string[], out: (string | null)[], scanned: readonly number[], findings: Finding[]): void {
  const texts = scanned.map((i) => out[i]!);
  const joined = texts.join(SEPARATOR);
  const spans = engine.scanner.scan(joined);
  if (spans.length === 0) return;
  const perValue: Span[][] = texts.map(() => []);
  let v = 0;
  let offset = 0;
  for (const s of spans) {
    while (s.start >= offset + texts[v]!.length + SEPARATOR.length) {
      offset += texts[v]!.length + SEPARATOR.length;
      v++;
    }
    if (s.start < offset || s.end > offset + texts[v]!.length) {
      // A match reached across values: decide value by value instead.
      for (let k = 0; k < scanned.length; k++) {
        const i = scanned[k]!;
        out[i] = engine.maskText(texts[k]!, findings, columnName(columns, i)).text;
      }
      return;
    }
    perValue[v]!.push({ start: s.start - offset, end: s.end - offset, detector: s.detector });
  }
  for (let k = 0; k < scanned.length; k++) {
    if (perValue[k]!.length === 0) continue;
    const i = scanned[k]!;
    const text = texts[k]!;
    out[i] = engine.render(text, perValue[k]!, 0, text.length, 0, findings, columnName(columns, i));
  }
}
