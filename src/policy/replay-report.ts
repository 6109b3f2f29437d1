import { REPLAY_CHANGES, type ReplayChange, type ReplayExample, type ReplayReport } from './replay.ts';

const LABEL: Readonly<Record<ReplayChange, string>> = {
  denied: 'allowed or held → denied',
  allowed: 'denied → allowed',
  held: 'newly held for approval',
  unheld: 'held → allowed without approval',
};

const counts = (c: Record<ReplayChange, number>): string =>
  REPLAY_CHANGES.filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${LABEL[k]}`)
    .join(', ');

const exampleLine = (e: ReplayExample): string =>
  `      ${e.id}  ${e.at}  ${e.who}  ${e.connection}  ${e.was.outcome} (${e.was.rule}) → ${e.now.outcome} (${e.now.rule})\n        ${e.line}`;

export interface ReplayRange {
  readonly from: number;
  readonly to: number;
  readonly connection?: string;
}

/** The report as people read it: totals, then each rule with its changes and examples. */
export function formatReplayReport(report: ReplayReport, range: ReplayRange): string {
  const changed = REPLAY_CHANGES.reduce((n, k) => n + report.changes[k], 0);
  const out = [
    `policy replay of ${new Date(range.from).toISOString()} … ${new Date(range.to).toISOString()}${range.connection ? ` on ${range.connection}` : ''}`,
    `${report.replayed} request(s) replayed: ${changed} decided differently, ${report.unchanged} the same` +
      `${report.ruleChanged ? ` (${report.ruleChanged} by another rule)` : ''}, ${report.inexact} not replayable exactly`,
  ];
  if (report.skipped.count > 0) {
    const why = Object.entries(report.skipped.reasons).map(([reason, n]) => `${n} ${reason}`).join(', ');
    out.push(`${report.skipped.count} record(s) skipped: ${why}`);
  }
  for (const rule of report.rules) {
    out.push('', `rule ${rule.rule}`);
    if (counts(rule.changes) !== '') {
      out.push(`  ${counts(rule.changes)}`);
      for (const e of rule.examples) out.push(exampleLine(e));
    }
    if (rule.inexact.count > 0) {
      out.push(`  cannot be replayed exactly: ${rule.inexact.count} request(s) reached it reading facts not recorded:`);
      for (const fact of rule.inexact.facts) out.push(`    - ${fact}`);
      const possible = counts(rule.inexact.possibleChanges);
      if (possible !== '') out.push(`    would possibly change: ${possible}`);
      for (const e of rule.inexact.examples) out.push(exampleLine(e));
    }
  }
  out.push('', changed === 0 ? 'no request would be decided differently' : `${changed} request(s) would be decided differently`);
  return out.join('\n');
}
