import type { Decision } from '../interaction.ts';
import type { CompiledPolicy, CompiledRule, RuleTrace } from './engine.ts';
import { GAP_FACTS, isInteractionKind, rebuildInput, type ReplayGap, type ReplayRecord } from './replay-input.ts';

export type { ReplayGap, ReplayRecord } from './replay-input.ts';

/** What policy did with a request: let it through, refuse it, or hold it for approval. */
export type ReplayOutcome = 'allow' | 'deny' | 'hold';

/** How a request's outcome moves under the candidate policy. */
export type ReplayChange = 'denied' | 'allowed' | 'held' | 'unheld';
export const REPLAY_CHANGES: readonly ReplayChange[] = ['denied', 'allowed', 'held', 'unheld'];

export interface ReplayExample {
  readonly id: string;
  readonly at: string;
  readonly who: string;
  readonly connection: string;
  readonly change: ReplayChange;
  readonly was: { readonly outcome: ReplayOutcome; readonly rule: string };
  readonly now: { readonly outcome: ReplayOutcome; readonly rule: string };
  /** One masked line: kind, method, target, model. */
  readonly line: string;
}

type Counts = Record<ReplayChange, number>;

export interface RuleReport {
  readonly rule: string;
  /** Requests this rule now decides differently, by change; only those replayed exactly. */
  readonly changes: Counts;
  readonly examples: ReplayExample[];
  /** Requests that reached this rule but read a fact the recording cannot give back. */
  readonly inexact: { count: number; readonly facts: string[]; readonly possibleChanges: Counts; readonly examples: ReplayExample[] };
}

export interface ReplayReport {
  /** Requests whose recorded decision policy made, replayed. */
  replayed: number;
  unchanged: number;
  /** Same outcome, another rule (not a change). */
  ruleChanged: number;
  /** Changes found exactly, by kind. */
  readonly changes: Counts;
  /** Requests that could not be replayed exactly (counted once each, whatever the rules). */
  inexact: number;
  /** Changes among those, by kind: they may or may not happen. */
  readonly possibleChanges: Counts;
  readonly skipped: { count: number; readonly reasons: Record<string, number> };
  /** Rules with a change or a request they could not replay, in the candidate's rule order. */
  readonly rules: RuleReport[];
}

export interface PolicyReplayOptions {
  /** Examples kept per rule and per kind of finding (default 3). */
  readonly examples?: number;
  /** Masks a line of the recording before it goes into the report. */
  readonly mask: (text: string) => string;
}

const zero = (): Counts => ({ denied: 0, allowed: 0, held: 0, unheld: 0 });

/** The recorded decision as policy's outcome, or why the record holds none. */
function recordedOutcome(record: ReplayRecord): ReplayOutcome | { skip: string } {
  switch (record.decision) {
    case 'allow':
    // Refused by a limit after policy let it through.
    case 'limit':
      return record.rule === null ? { skip: 'refused before policy decided' } : 'allow';
    case 'approve':
      return 'hold';
    case 'deny':
      return record.rule === null ? { skip: 'refused before policy decided' } : 'deny';
    default:
      return { skip: 'recorded decision not known' };
  }
}

const outcomeOf = (decision: Decision): ReplayOutcome => (decision.action === 'approve' ? 'hold' : decision.action);

function changeOf(was: ReplayOutcome, now: ReplayOutcome): ReplayChange | null {
  if (was === now) return null;
  if (now === 'deny') return 'denied';
  if (now === 'hold') return 'held';
  return was === 'hold' ? 'unheld' : 'allowed';
}

interface RuleReads {
  /** Facts its condition reads (by name, conservatively). */
  readonly condition: ReadonlySet<ReplayGap>;
  readonly groups: boolean;
  readonly connectionTags: boolean;
}

// A word match may flag a rule that only mentions a fact (in a string, say): it is then reported
// as not replayable exactly, which errs on the side of not trusting a replay.
const CONDITION_FACTS: readonly [RegExp, ReplayGap][] = [
  [/message_text/, 'message_text'],
  [/\btext\b/, 'sql_text'],
  [/\bentities\b/, 'entities'],
  [/\bgroups\b/, 'groups'],
  [/\bconnection\b/, 'connection'],
  [/\bgrants\b/, 'grants'],
  [/\brequest\b/, 'summary'],
];

function readsOf(rule: CompiledRule): RuleReads {
  const when = rule.config.when ?? '';
  return {
    condition: new Set(CONDITION_FACTS.filter(([pattern]) => pattern.test(when)).map(([, gap]) => gap)),
    groups: rule.match.groups !== null,
    connectionTags: rule.match.connectionTags !== null,
  };
}

/** The gaps of this record that one step of the evaluation depended on. */
function gapsRead(step: RuleTrace, reads: RuleReads, gaps: ReadonlySet<ReplayGap>): ReplayGap[] {
  const out: ReplayGap[] = [];
  const reached = step.outcome !== 'no_match';
  const field = step.outcome === 'no_match' ? step.field : null;
  if (reads.groups && gaps.has('groups') && (reached || field === 'groups')) out.push('groups');
  if (reads.connectionTags && gaps.has('connection') && (reached || field === 'connectionTags')) out.push('connection');
  if (reached && step.rule.condition !== null) for (const gap of reads.condition) if (gaps.has(gap) && !out.includes(gap)) out.push(gap);
  return out;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;
const LINE_MAX = 120;

/**
 * Runs a candidate policy over recorded requests, one at a time (feed it page by page), and keeps
 * only counts and a few examples, so any length of history fits in memory.
 */
export class PolicyReplay {
  readonly #engine: CompiledPolicy;
  readonly #examples: number;
  readonly #mask: (text: string) => string;
  readonly #reads = new Map<CompiledRule, RuleReads>();
  readonly #rules = new Map<string, RuleReport>();
  readonly #report: ReplayReport = {
    replayed: 0,
    unchanged: 0,
    ruleChanged: 0,
    changes: zero(),
    inexact: 0,
    possibleChanges: zero(),
    skipped: { count: 0, reasons: {} },
    rules: [],
  };

  constructor(engine: CompiledPolicy, options: PolicyReplayOptions) {
    this.#engine = engine;
    this.#examples = Math.max(0, Math.trunc(options.examples ?? 3));
    this.#mask = options.mask;
    for (const rule of engine.rules) this.#reads.set(rule, readsOf(rule));
  }

  add(record: ReplayRecord): void {
    const was = recordedOutcome(record);
    if (typeof was !== 'string') return this.#skip(was.skip);
    if (!isInteractionKind(record.kind)) return this.#skip('interaction kind not known');
    const { input, gaps } = rebuildInput(record);
    const trace: RuleTrace[] = [];
    const decision = this.#engine.evaluate(input, trace);
    const report = this.#report;
    report.replayed++;

    const now = outcomeOf(decision);
    const change = changeOf(was, now);
    const inexact = new Map<string, ReplayGap[]>();
    for (const step of trace) {
      const read = gapsRead(step, this.#reads.get(step.rule)!, gaps);
      if (read.length > 0) inexact.set(step.rule.name, read);
    }
    const example = (kind: ReplayChange): ReplayExample => ({
      id: record.id,
      at: new Date(record.startedAt).toISOString(),
      who: record.principal.name,
      connection: record.connection.name,
      change: kind,
      was: { outcome: was, rule: record.rule ?? '' },
      now: { outcome: now, rule: decision.rule },
      line: this.#line(record),
    });

    if (inexact.size > 0) {
      report.inexact++;
      if (change !== null) report.possibleChanges[change]++;
      for (const [name, read] of inexact) {
        const rule = this.#rule(name).inexact;
        rule.count++;
        for (const gap of read) if (!rule.facts.includes(GAP_FACTS[gap])) rule.facts.push(GAP_FACTS[gap]);
        if (change !== null) {
          rule.possibleChanges[change]++;
          if (rule.examples.length < this.#examples) rule.examples.push(example(change));
        }
      }
      return;
    }
    if (change === null) {
      report.unchanged++;
      if (decision.rule !== record.rule) report.ruleChanged++;
      return;
    }
    report.changes[change]++;
    const rule = this.#rule(decision.rule);
    rule.changes[change]++;
    if (rule.examples.length < this.#examples) rule.examples.push(example(change));
  }

  /** The findings so far; rules in the candidate's order, the default decision last. */
  report(): ReplayReport {
    const order = new Map(this.#engine.rules.map((rule, i) => [rule.name, i]));
    const rank = (name: string) => order.get(name) ?? Number.MAX_SAFE_INTEGER;
    return { ...this.#report, rules: [...this.#rules.values()].sort((a, b) => rank(a.rule) - rank(b.rule)) };
  }

  #skip(reason: string): void {
    this.#report.skipped.count++;
    this.#report.skipped.reasons[reason] = (this.#report.skipped.reasons[reason] ?? 0) + 1;
  }

  #rule(name: string): RuleReport {
    let rule = this.#rules.get(name);
    if (rule === undefined) {
      rule = { rule: name, changes: zero(), examples: [], inexact: { count: 0, facts: [], possibleChanges: zero(), examples: [] } };
      this.#rules.set(name, rule);
    }
    return rule;
  }

  /** A one-line description masked as the report's reader may see it, without control characters. */
  #line(record: ReplayRecord): string {
    const parts = [record.kind, record.method, record.target?.slice(0, 4096), record.model === null ? null : `model=${record.model}`];
    const text = parts.filter((p): p is string => typeof p === 'string' && p !== '').join(' ');
    const line = this.#mask(text).replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
    return line.length > LINE_MAX ? `${line.slice(0, LINE_MAX - 1)}…` : line;
  }
}

/** Which changes fail a CI run: the kinds `--fail-on` lists, plus `inexact` for possible changes. */
export function replayFails(report: ReplayReport, failOn: ReadonlySet<ReplayChange | 'inexact'>): boolean {
  for (const change of REPLAY_CHANGES) {
    if (!failOn.has(change)) continue;
    if (report.changes[change] > 0) return true;
    if (failOn.has('inexact') && report.possibleChanges[change] > 0) return true;
  }
  return false;
}
