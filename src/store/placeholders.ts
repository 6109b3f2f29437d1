/**
 * Rewrites the portable `?` placeholders to PostgreSQL's `$1, $2, …`, leaving `?` inside
 * single-quoted literals alone. Callers cache the result: it runs once per statement text.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let inLiteral = false;
  for (const ch of sql) {
    // A doubled quote inside a literal toggles twice, so it needs no special case.
    if (ch === "'") inLiteral = !inLiteral;
    out += ch === '?' && !inLiteral ? `$${++n}` : ch;
  }
  return out;
}
