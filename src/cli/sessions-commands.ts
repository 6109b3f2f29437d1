/**
 * `gatehouse sessions list | show | replay` and `gatehouse audit search`: recorded sessions, found by
 * who, agent, connection, kind, decision, rule and time, a page at a time, and played back as they
 * happened. Waiting between replayed requests goes through an injected sleep, so tests never wait.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { ReplayPage } from '../audit/replay.ts';
import { clean, offset, renderEntry, renderFooter, renderHeader } from '../audit/replay-render.ts';
import { callApi, clientSettings, type ClientSettings } from './api-client.ts';
import { printable } from './oidc-flows.ts';
import { table, time } from './output.ts';

type Print = (text: string) => void;

export interface SessionsCommandDeps {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly settings?: () => Promise<ClientSettings>;
  /** Where hints go that must not mix with --json on stdout. */
  readonly note?: Print;
}

/** A replay at real speed still never sits idle longer than this between two requests. */
export const MAX_REPLAY_WAIT_MS = 5_000;

const FILTERS = ['principal', 'agent', 'connection', 'kind', 'decision', 'rule', 'since', 'until'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number] | 'session' | 'text' | 'after' | 'limit', string>>;

function positiveInt(max: number) {
  return (value: string): string => {
    if (!/^\d{1,7}$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    return String(Number(value));
  };
}

function speed(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 10_000) throw new InvalidArgumentError('a number above 0, up to 10000 (2 is twice as fast)');
  return n;
}

function addFilters(command: Command, what: string): Command {
  return command
    .option('--principal <name>', `only ${what} of this identity (name or id)`)
    .option('--agent <name>', `only ${what} of this agent (the name its token was issued with)`)
    .option('--connection <name>', `only ${what} on this connection`)
    .option('--kind <kind>', 'only this interaction kind: llm.chat, sql.query, mcp.tool_call, http.request …')
    .option('--decision <decision>', 'only this decision: allow, deny, approve (held) or limit')
    .option('--rule <name>', 'only what this policy rule decided')
    .option('--since <time>', 'from this time: 7d or 12h back from now, an ISO 8601 date or time, or epoch ms')
    .option('--until <time>', 'before this time, written as --since')
    .option('--limit <n>', 'how many per page (default 50)', positiveInt(1000))
    .option('--after <token>', 'the page after the one that printed this token');
}

function queryOf(opts: Filters, keys: readonly string[]): URLSearchParams {
  const query = new URLSearchParams();
  for (const key of keys) {
    const value = opts[key as keyof Filters];
    if (value !== undefined) query.set(key, value);
  }
  return query;
}

const shellWord = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/** The command that prints the next page: the same one, with --after. */
function nextCommand(base: string, opts: Filters, keys: readonly string[], next: string): string {
  const flags = keys.filter((k) => k !== 'after' && opts[k as keyof Filters] !== undefined).map((k) => `--${k} ${shellWord(opts[k as keyof Filters]!)}`);
  return [base, ...flags, `--after ${next}`].join(' ');
}

export function sessionsCommand(print: Print, deps: SessionsCommandDeps = {}): Command {
  const settings = deps.settings ?? (() => clientSettings());
  const note = deps.note ?? ((text: string) => process.stderr.write(`${text}\n`));
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  const json = (command: Command) => command.optsWithGlobals().json === true;
  const sessions = new Command('sessions').description('recorded sessions: find them, show one, replay one as it happened');

  const listKeys = [...FILTERS, 'limit', 'after'];
  addFilters(sessions.command('list').description('list sessions, newest first, a page at a time'), 'sessions').action(async (opts: Filters, command: Command) => {
    const { sessions: rows, next } = await callApi<{ sessions: Record<string, any>[]; next: string | null }>(await settings(), 'GET', `/sessions?${queryOf(opts, listKeys)}`);
    const more = next === null ? null : `next page: ${nextCommand('gatehouse sessions list', opts, listKeys, next)}`;
    if (json(command)) {
      print(JSON.stringify(rows, null, 2));
      if (more) note(more);
      return;
    }
    const view = rows.map((s) => ({ ...s, started: time(s.startedAt), ended: time(s.endedAt), requests: s.interactionCount, denied: s.deniedCount }));
    print([table(view, ['id', 'principalName', 'connection', 'protocol', 'started', 'ended', 'requests', 'denied', 'agent']), ...(more ? [more] : [])].join('\n'));
  });

  sessions.command('show <id>').description('show a session, each interaction in order, and whether its hash chain verifies').action(async (id: string, _opts: unknown, command: Command) => {
    const result = await callApi<{ session: Record<string, any>; interactions: Record<string, any>[]; chain: { ok: boolean; problems: string[] } }>(
      await settings(),
      'GET',
      `/sessions/${encodeURIComponent(id)}`,
    );
    if (json(command)) return print(JSON.stringify(result, null, 2));
    const s = result.session;
    let header = `session ${s.id}  ${s.principalName} → ${s.connection} (${s.protocol})  started ${time(s.startedAt)}  ended ${time(s.endedAt)}${s.endReason ? ` (${s.endReason})` : ''}`;
    // What a PostgreSQL client sent at startup: its own text, so shown without control characters.
    const startup = Object.entries((s.startup ?? {}) as Record<string, string>);
    if (startup.length > 0) header += `\nstartup: ${startup.map(([k, v]) => printable(`${k}=${JSON.stringify(v)}`, 300)).join('  ')}`;
    const rows = result.interactions.map((i) => ({ ...i, at: time(i.startedAt), status: i.responseStatus, ms: i.latencyMs, error: i.errorCode, upstream: i.upstreamCode }));
    const chain = result.chain.ok ? 'hash chain: verified' : `hash chain: BROKEN\n  ${result.chain.problems.join('\n  ')}`;
    const bodies = result.interactions
      .map((i) => `#${i.seq} ${i.method ?? ''} ${i.target ?? ''}\n  request:  ${i.requestBody ?? '-'}\n  response: ${i.responseBody ?? '-'}`)
      .join('\n');
    print([header, table(rows, ['seq', 'at', 'kind', 'decision', 'rule', 'method', 'target', 'model', 'status', 'ms', 'error', 'upstream']), chain, '', bodies].join('\n'));
  });

  sessions
    .command('replay <id>')
    .description(`play a session back as it happened: each request at its time, its decision and rule, approvals, and the answer as recorded (masked); waits the recorded gaps (idle longer than ${MAX_REPLAY_WAIT_MS / 1000}s is cut short)`)
    .option('--speed <n>', 'play n times faster (default 1: real speed)', speed)
    .option('--instant', 'print everything at once, without waiting')
    .option('--from <seq>', 'start at this interaction (the page hint says where the next page starts)', positiveInt(Number.MAX_SAFE_INTEGER))
    .option('--limit <n>', 'how many interactions to play (default 100)', positiveInt(1000))
    .action(async (id: string, opts: { speed?: number; instant?: boolean; from?: string; limit?: string }, command: Command) => {
      if (opts.instant && opts.speed !== undefined) throw new InvalidArgumentError('give --speed or --instant, not both');
      const query = new URLSearchParams({ from: opts.from ?? '1', limit: opts.limit ?? '100' });
      const page = await callApi<ReplayPage>(await settings(), 'GET', `/sessions/${encodeURIComponent(id)}/replay?${query}`);
      if (json(command)) return print(JSON.stringify(page, null, 2));
      await play(page, { print, sleep, factor: opts.instant ? 0 : opts.speed ?? 1, limit: opts.limit });
    });
  return sessions;
}

async function play(page: ReplayPage, o: { print: Print; sleep: (ms: number) => Promise<void>; factor: number; limit?: string }): Promise<void> {
  o.print(renderHeader(page));
  if (o.factor > 0) o.print(`(playing at ${o.factor === 1 ? 'real speed' : `${o.factor}x`}; idle gaps over ${MAX_REPLAY_WAIT_MS / 1000}s are cut short; --instant prints at once)`);
  for (const entry of page.entries) {
    if (o.factor > 0 && entry.gapMs > 0) {
      const wait = entry.gapMs / o.factor;
      if (wait > MAX_REPLAY_WAIT_MS) o.print(`           … idle ${offset(entry.gapMs).slice(1)} (waiting ${MAX_REPLAY_WAIT_MS / 1000}s)`);
      await o.sleep(Math.min(wait, MAX_REPLAY_WAIT_MS));
    }
    o.print(renderEntry(entry));
  }
  const base = `gatehouse sessions replay ${clean(page.session.id, 100)}${o.limit ? ` --limit ${o.limit}` : ''}`;
  o.print(renderFooter(page, base));
}

/** `gatehouse audit search`: recorded requests across sessions. */
export function addSearchCommand(audit: Command, print: Print, deps: SessionsCommandDeps = {}): void {
  const settings = deps.settings ?? (() => clientSettings());
  const note = deps.note ?? ((text: string) => process.stderr.write(`${text}\n`));
  const keys = [...FILTERS, 'session', 'text', 'limit', 'after'];
  addFilters(audit.command('search').description('find recorded requests, newest first: who, agent, connection, kind, decision, rule, time, text'), 'requests')
    .option('--session <id>', 'only requests of this session')
    .option('--text <text>', 'only requests whose target (path, SQL, tool name) contains this, ignoring case')
    .action(async (opts: Filters, command: Command) => {
      const { interactions, next } = await callApi<{ interactions: Record<string, any>[]; next: string | null }>(await settings(), 'GET', `/audit/search?${queryOf(opts, keys)}`);
      const more = next === null ? null : `next page: ${nextCommand('gatehouse audit search', opts, keys, next)}`;
      if (command.optsWithGlobals().json === true) {
        print(JSON.stringify(interactions, null, 2));
        if (more) note(more);
        return;
      }
      const rows = interactions.map((i) => ({
        at: time(i.startedAt),
        who: clean(i.session.principalName, 60),
        agent: i.session.agent === null ? null : clean(i.session.agent, 40),
        connection: i.session.connection,
        kind: i.kind,
        decision: i.decision,
        rule: i.rule === null ? null : clean(i.rule, 60),
        target: i.target === null ? null : clean(i.target, 80).replace(/\s+/g, ' '),
        error: i.errorCode ?? i.upstreamCode,
        session: `${i.sessionId}#${i.seq}`,
      }));
      print([table(rows, ['at', 'who', 'agent', 'connection', 'kind', 'decision', 'rule', 'target', 'error', 'session']), ...(more ? [more] : [])].join('\n'));
    });
}
