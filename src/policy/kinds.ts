import type { InteractionKind, PrincipalKind } from '../interaction.ts';

// Records rather than arrays so the compiler flags a kind added to interaction.ts but missing here.
const INTERACTION_KIND_RECORD: Record<InteractionKind, true> = {
  'llm.chat': true,
  'llm.completion': true,
  'llm.responses': true,
  'llm.embeddings': true,
  'llm.other': true,
  'http.request': true,
  'sql.query': true,
  'mcp.tool_call': true,
  'mcp.other': true,
  's3.request': true,
};
const PRINCIPAL_KIND_RECORD: Record<PrincipalKind, true> = { user: true, service_account: true, admin: true };

export const INTERACTION_KINDS = Object.freeze(Object.keys(INTERACTION_KIND_RECORD) as InteractionKind[]);
export const PRINCIPAL_KINDS = Object.freeze(Object.keys(PRINCIPAL_KIND_RECORD) as PrincipalKind[]);

/**
 * The interaction kinds a pattern names: an exact kind, or a prefix ending in `*` (`llm.*`, `*`).
 * The kind list is closed, so expanding at compile time turns every runtime check into one Set lookup.
 */
export function expandInteractionPattern(pattern: string): InteractionKind[] {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    if (prefix.includes('*')) return [];
    return INTERACTION_KINDS.filter((kind) => kind.startsWith(prefix));
  }
  return INTERACTION_KINDS.filter((kind) => kind === pattern);
}
