/** Built-in guardrail packs, opted into by name with `policy.include`. */
export const PACK_NAMES = ['sql-destructive', 'secrets-in-prompts', 'data-exfiltration', 'high-risk-prompts'] as const;

export type PackName = (typeof PACK_NAMES)[number];

export function isPackName(name: string): name is PackName {
  return (PACK_NAMES as readonly string[]).includes(name);
}
