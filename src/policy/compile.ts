import { ConfigError } from '../errors.ts';
import { analyzePolicy, type CheckPolicyOptions, type PolicyCheckResult, type PolicyProblem } from './analyze.ts';
import { CompiledPolicy } from './engine.ts';

export function formatProblem(problem: PolicyProblem): string {
  const where = problem.file === undefined ? problem.path : `${problem.file}: ${problem.path}`;
  return `${where}${problem.rule === undefined ? '' : ` (rule "${problem.rule}")`}: ${problem.message}`;
}

/** Errors and warnings of a policy (the `policy:` section, plus folder files), without building it. */
export function checkPolicy(config: unknown, options: CheckPolicyOptions = {}): PolicyCheckResult {
  const { errors, warnings } = analyzePolicy(config, options);
  return { errors, warnings };
}

/**
 * Builds an immutable engine: CEL parsed and planned once, match lists turned into Sets,
 * decisions prebuilt. Throws ConfigError listing every problem (also in `details.errors`).
 */
export function compilePolicy(config: unknown, options: CheckPolicyOptions = {}): CompiledPolicy {
  const { errors, policy } = analyzePolicy(config, options);
  if (policy === undefined) {
    const shown = errors.slice(0, 5).map(formatProblem).join('; ');
    const more = errors.length > 5 ? ` (and ${errors.length - 5} more)` : '';
    throw new ConfigError(`policy is invalid: ${shown}${more}`, { details: { errors } });
  }
  return new CompiledPolicy(policy);
}
