/**
 * The bare, lower-cased name of a possibly qualified, possibly quoted SQL name:
 * `public.Users`, `"public"."users"` and `USERS` all become `users`.
 * Guardrails compare bare names on purpose: matching `users` in every schema over-blocks,
 * which is the safe direction for a deny rule.
 */
export function normalizeSqlName(name: string): string {
  let last = '';
  let quoted = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '"') {
      if (quoted && name[i + 1] === '"') {
        last += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (ch === '.' && !quoted) {
      last = '';
    } else {
      last += ch;
    }
  }
  return last.toLowerCase();
}
