import { InvalidArgument } from '../errors.ts';
import type { Decision } from '../interaction.ts';
import { formatDuration } from '../util/durations.ts';
import { describeOrigin } from './analyze.ts';
import { approvalLines, previewApproval, type ApprovalPreview } from './explain-approval.ts';
import { CompiledPolicy, DEFAULT_RULE, type RuleTrace } from './engine.ts';
import type { MatchField } from './match.ts';
import type { PolicyEngine, PolicyInput } from './types.ts';

export interface DecisionExplanation {
  readonly decision: Decision;
  /** One entry per rule that was looked at, in order. */
  readonly steps: readonly { readonly rule: string; readonly origin: string; readonly outcome: RuleTrace['outcome']; readonly detail: string }[];
  /** An approve decision: who decides, how many, wait and timeout, and what the client sees. */
  readonly approval?: ApprovalPreview;
  /** The steps and the decision as readable lines. */
  readonly text: string;
}

export interface ExplainOptions {
  /** approvals.breakGlassGroups, shown with an approve decision. */
  readonly breakGlassGroups?: readonly string[];
}

const quoteList = (values: readonly string[]) => (values.length === 0 ? '(none)' : values.join(', '));

function describeMismatch(field: MatchField, trace: RuleTrace & { outcome: 'no_match' }, input: PolicyInput): string {
  const listed = quoteList(trace.rule.config.match?.[field] ?? []);
  switch (field) {
    case 'interactions':
      return `interaction ${input.kind} is not in [${listed}]`;
    case 'connections':
      return `connection ${input.connection.name} is not in [${listed}]`;
    case 'identities':
      return `identity ${input.identity.name} is not in [${listed}]`;
    case 'serviceAccounts':
      return `${input.identity.kind} ${input.identity.name} is not one of the service accounts [${listed}]`;
    case 'kinds':
      return `principal kind ${input.identity.kind} is not in [${listed}]`;
    case 'groups':
      return `groups [${quoteList(input.identity.groups)}] share none with [${listed}]`;
    case 'connectionTags':
      return `connection tags [${quoteList(input.connection.tags)}] share none with [${listed}]`;
  }
}

function describeStep(step: RuleTrace, input: PolicyInput): string {
  switch (step.outcome) {
    case 'no_match':
      return describeMismatch(step.field, step, input);
    case 'condition_false':
      return `condition is false: ${step.rule.config.when}`;
    case 'condition_failed':
      return `condition failed (${step.error}), so the request is denied: ${step.rule.config.when}`;
    case 'matched':
      return step.rule.config.when === undefined ? 'match holds, no condition' : `condition is true: ${step.rule.config.when}`;
  }
}

function describeDecision(decision: Decision): string {
  switch (decision.action) {
    case 'allow':
      return `allow (rule ${decision.rule}; masking: ${decision.obligations.maskingProfile ?? 'none'})`;
    case 'deny':
      return `deny (rule ${decision.rule}): ${decision.reason}`;
    case 'approve':
      return `approve (rule ${decision.rule}): ${decision.required} of [${decision.approvers.join(', ')}], wait ${formatDuration(decision.waitMs)}, timeout ${formatDuration(decision.timeoutMs)}`;
  }
}

/** Decides as the engine would and says why: which rules were skipped, which matched. */
export function explainDecision(policy: PolicyEngine, input: PolicyInput, options: ExplainOptions = {}): DecisionExplanation {
  if (!(policy instanceof CompiledPolicy)) {
    throw new InvalidArgument('explainDecision needs an engine built by compilePolicy');
  }
  const trace: RuleTrace[] = [];
  const decision = policy.evaluate(input, trace);
  const steps = trace.map((step) => ({
    rule: step.rule.name,
    origin: describeOrigin(step.rule.origin),
    outcome: step.outcome,
    detail: describeStep(step, input),
  }));
  const lines = steps.map((step) => `${step.outcome === 'matched' ? 'MATCH' : step.outcome === 'condition_failed' ? 'FAIL ' : 'skip '} ${step.rule} [${step.origin}]: ${step.detail}`);
  if (decision.rule === DEFAULT_RULE) lines.push(`no rule matched: ${DEFAULT_RULE} denies`);
  // The decision stays the last line: what it means for the client comes before it.
  const approval = decision.action === 'approve' ? previewApproval(decision, input.connection.type, options.breakGlassGroups ?? []) : undefined;
  if (approval) lines.push(...approvalLines(approval));
  lines.push(`decision: ${describeDecision(decision)}`);
  return { decision, steps, ...(approval ? { approval } : {}), text: lines.join('\n') };
}
