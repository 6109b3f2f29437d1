/**
 * A replay page as text for a terminal. Everything shown came from an agent, a model, a database
 * or a tool, so control characters (terminal escapes, bidi overrides) never reach the terminal,
 * and each text is bounded: --json has it whole.
 */
import type { ReplayEntry, ReplayPage } from './replay.ts';

/** Per text shown: a long answer or result set is cut here. */
export const TEXT_LIMIT = 2000;
const INDENT = '           ';

// Tabs and newlines stay (a conversation has paragraphs); every other control character goes.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function clean(text: string, limit = TEXT_LIMIT): string {
  const shown = text.replace(/\r\n?/g, '\n').replace(CONTROL, '\uFFFD');
  return shown.length > limit ? `${shown.slice(0, limit)}… [${shown.length - limit} more characters; --json shows all]` : shown;
}

/** `+1m02.345s`: a time after the session's start. */
export function offset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  const minutes = Math.floor(abs / 60_000);
  const seconds = ((abs % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return minutes > 0 ? `${sign}${minutes}m${seconds}s` : `${sign}${(abs / 1000).toFixed(3)}s`;
}

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function block(label: string, text: string): string[] {
  const lines = clean(text).split('\n');
  return [`${INDENT}${label}${lines[0] ?? ''}`, ...lines.slice(1).map((l) => `${INDENT}${' '.repeat(label.length)}${l}`)];
}

function decisionOf(e: ReplayEntry): string {
  const rule = e.rule === null ? '' : ` (rule ${clean(e.rule, 200)})`;
  const held = e.errorCode === null ? 'approved' : 'held for approval';
  const verdict = e.decision === 'allow' ? 'allowed' : e.decision === 'deny' ? 'DENIED' : e.decision === 'approve' ? held : e.decision === 'limit' ? 'LIMITED' : clean(e.decision, 50);
  const refused = e.errorCode !== null ? ` → refused: ${e.errorCode}` : '';
  const took = e.durationMs === null ? '' : `, ${e.durationMs} ms`;
  return `${verdict}${rule}${refused}${e.status === 'complete' ? '' : ` [${e.status}]`}${took}`;
}

function requestLines(e: ReplayEntry): string[] {
  const r = e.request;
  if (r.type === 'llm') {
    const lines = (r.messages ?? []).flatMap((m) => block(`${clean(m.role, 20)}: `, m.text));
    if (r.tools && r.tools.length > 0) lines.push(`${INDENT}tools offered: ${clean(r.tools.join(', '), 500)}`);
    if (lines.length === 0 && r.body) lines.push(...block('request: ', r.body));
    return lines;
  }
  if (r.type === 'sql') {
    const lines = block('sql> ', r.sql ?? '');
    if (r.params && r.params.length > 0) lines.push(...block('params: ', JSON.stringify(r.params)));
    return lines;
  }
  if (r.type === 'mcp') return block(`${clean(r.method ?? 'call', 60)} ${clean(r.tool ?? '', 100)} `, r.arguments ?? '');
  return [...block(`${clean(r.method ?? '', 20)} `, r.target ?? ''), ...(r.body ? block('body: ', r.body) : [])];
}

function responseLines(e: ReplayEntry): string[] {
  const r = e.response;
  if (r === null) return e.reason ? block('reason: ', e.reason) : [];
  const lines: string[] = [];
  if (r.error) lines.push(...block('error: ', `${r.error.code ?? ''} ${r.error.message}`.trim()));
  if (r.type === 'llm') {
    if (r.text) lines.push(...block('assistant: ', r.text));
    for (const call of r.toolCalls ?? []) lines.push(...block(`tool call ${clean(call.name, 100)}: `, call.arguments));
  } else if (r.type === 'sql') {
    if (r.command !== null && r.command !== undefined) lines.push(`${INDENT}→ ${clean(r.command, 100)}${r.rows === null || r.rows === undefined ? '' : ` (${r.rows} row${r.rows === 1 ? '' : 's'})`}`);
    if (r.body) lines.push(...block('→ ', r.body));
  } else if (r.type === 'mcp') {
    if (r.text) lines.push(...block(r.isError ? 'result (error): ' : 'result: ', r.text));
  } else {
    lines.push(`${INDENT}→ ${r.status ?? '-'}`);
    if (r.body) lines.push(...block('', r.body));
  }
  return lines;
}

export function renderEntry(e: ReplayEntry): string {
  const what = e.request.type === 'llm' && e.request.model ? `${e.kind} ${clean(e.request.model, 100)}` : e.kind;
  const lines = [`${offset(e.offsetMs).padStart(10)} #${e.seq} ${what}  ${decisionOf(e)}`];
  if (e.upstreamCode !== null && e.response?.error == null) lines.push(`${INDENT}target error: ${clean(e.upstreamCode, 64)}`);
  if (e.approval) {
    lines.push(`${INDENT}approval ${clean(e.approval.id, 100)}:`);
    for (const a of e.approval.events) {
      lines.push(`${INDENT}  ${offset(a.offsetMs)} ${clean(a.action.replace(/^approval\./, ''), 50)} by ${clean(a.actor, 100)}${a.note ? ` (${clean(a.note, 200)})` : ''}`);
    }
  }
  if (e.bodiesPurgedAt !== null) {
    lines.push(`${INDENT}(bodies removed by retention at ${iso(e.bodiesPurgedAt)})`);
    return lines.join('\n');
  }
  lines.push(...requestLines(e), ...responseLines(e));
  return lines.join('\n');
}

export function renderHeader(page: ReplayPage): string {
  const s = page.session;
  const agent = s.agent ? ` agent ${clean(s.agent, 100)}` : '';
  const ended = s.endedAt === null ? 'still open' : `ended ${iso(s.endedAt)} (${offset(s.endedAt - s.startedAt)})${s.endReason ? `: ${clean(s.endReason, 200)}` : ''}`;
  return `session ${s.id}  ${clean(s.principalName, 100)}${agent} → ${clean(s.connection, 100)} (${s.protocol})\nstarted ${iso(s.startedAt)}, ${ended}; ${page.total} interaction${page.total === 1 ? '' : 's'}`;
}

/** Where the page ends, and the command for the next one. */
export function renderFooter(page: ReplayPage, command: string): string {
  if (page.entries.length === 0) return page.total === 0 ? '(no interactions recorded)' : '(no interactions from there on)';
  const first = page.entries[0]!.seq;
  const last = page.entries.at(-1)!.seq;
  const shown = `shown #${first}–#${last} of ${page.total}`;
  return page.nextSeq === null ? `${shown}; end of session` : `${shown}; next page: ${command} --from ${page.nextSeq}`;
}
