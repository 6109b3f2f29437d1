export type { CheckPolicyOptions, PolicyCheckResult, PolicyFile, PolicyProblem } from './analyze.ts';
export { checkPolicy, compilePolicy, formatProblem } from './compile.ts';
export { createMemoryCounters, type ChargeRefusal, type CounterCharge, type CounterLimit, type LimitCounters, type SharedLimitCounters } from './counters.ts';
export { parseDuration } from '../util/durations.ts';
export { CompiledPolicy, DEFAULT_RULE } from './engine.ts';
export { explainDecision, type DecisionExplanation } from './explain.ts';
export { createLimitTracker, type InspectableLimitTracker, type LimitTrackerOptions } from './limits.ts';
export { loadPolicy, loadPolicyFiles, type LoadPolicyOptions } from './load-files.ts';
export { createPostgresCounters, type PostgresCountersOptions } from './postgres-counters.ts';
export { PACK_NAMES, type PackName } from './packs/index.ts';
export {
  policyConfigSchema,
  policyFileSchema,
  ruleSchema,
  type MatchConfig,
  type PolicyConfig,
  type PolicyConfigInput,
  type PolicyFileConfig,
  type RuleConfig,
  type RuleConfigInput,
} from './schema.ts';
export { buildTestInput, type TestInputDeps, type TestInputFlags } from './test-input.ts';
export type { LimitTracker, PolicyEngine, PolicyInput } from './types.ts';
