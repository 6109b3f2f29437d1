import type { MatchConfig, PolicySettings, RuleConfig } from '../schema.ts';
import { highRiskPromptsSchema, type HighRiskPromptsSettings } from './high-risk-settings.ts';
import { INJECTION_MARKERS } from './injection-markers.ts';

/**
 * Holds LLM and MCP requests for approval when their prompt or tool arguments carry a listed
 * keyword, a listed pattern or a known prompt-injection marker. One rule per term, named after
 * it, so the decision (and the approval it opens) says which term matched: the first that does.
 */

const MATCH: MatchConfig = { interactions: ['llm.*', 'mcp.*'] };
const NAME_TERM_MAX = 80;

// Both families are guarded: a request without one (an MCP `initialize`, an unusual LLM route)
// must not fail the condition, which would deny it.
const PROMPT = 'request.llm.message_text';
const ARGUMENTS = 'request.mcp.arguments';
const onEither = (test: (value: string) => string) => `(has(request.llm) && ${test(PROMPT)}) || (has(request.mcp) && ${test(ARGUMENTS)})`;

const cel = (text: string) => JSON.stringify(text);

function shown(term: string): string {
  // Control characters would break a log line or a Slack message that shows the rule name.
  const flat = term.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ');
  return flat.length <= NAME_TERM_MAX ? flat : `${flat.slice(0, NAME_TERM_MAX - 1)}…`;
}

export function highRiskPromptsRules(settings: PolicySettings): RuleConfig[] {
  const options: HighRiskPromptsSettings = highRiskPromptsSchema.parse(settings.highRiskPrompts ?? {});
  const hold = {
    action: 'approve' as const,
    approvers: [...options.approvers],
    required: options.required,
    timeout: options.timeout,
    ...(options.wait === undefined ? {} : { wait: options.wait }),
  };
  const rules: RuleConfig[] = [];
  const names = new Set<string>();
  const add = (kind: string, term: string, when: string, description: string) => {
    let name = `high-risk-prompts/${kind}: ${shown(term)}`;
    // Two long terms can share their first 80 characters; rule names must stay unique.
    for (let n = 2; names.has(name); n++) name = `high-risk-prompts/${kind}: ${shown(term)} (${n})`;
    names.add(name);
    rules.push({ name, description, match: MATCH, when, ...hold });
  };

  if (options.injectionMarkers) {
    for (const marker of INJECTION_MARKERS) {
      add('injection', marker.label, onEither((v) => `foldedText(${v}).matches(${cel(marker.pattern)})`), `a known prompt-injection marker: ${marker.label}`);
    }
  }
  for (const keyword of options.keywords) {
    add('keyword', keyword, onEither((v) => `containsTerm(${v}, ${cel(keyword)})`), `the high-risk keyword "${keyword}"`);
  }
  for (const pattern of options.patterns) {
    // Folded text is lower case; (?i) keeps a pattern written with capitals matching it.
    add('pattern', pattern, onEither((v) => `foldedText(${v}).matches(${cel(`(?i)${pattern}`)})`), `the high-risk pattern ${pattern}`);
  }
  return rules;
}
