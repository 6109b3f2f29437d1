import type { PolicySettings, RuleConfig } from '../schema.ts';
import { dataExfiltrationRules } from './data-exfiltration.ts';
import { highRiskPromptsRules } from './high-risk-prompts.ts';
import type { PackName } from './names.ts';
import { secretsInPromptsRules } from './secrets-in-prompts.ts';
import { sqlDestructiveRules } from './sql-destructive.ts';

export { isPackName, PACK_NAMES, type PackName } from './names.ts';

const PACKS: Record<PackName, (settings: PolicySettings) => RuleConfig[]> = {
  'sql-destructive': sqlDestructiveRules,
  'secrets-in-prompts': secretsInPromptsRules,
  'data-exfiltration': dataExfiltrationRules,
  'high-risk-prompts': highRiskPromptsRules,
};

/** The rules of one pack, built from the policy's settings (e.g. its sensitive tables). */
export function packRules(pack: PackName, settings: PolicySettings): RuleConfig[] {
  return PACKS[pack](settings);
}
