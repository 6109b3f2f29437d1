import { Command } from 'commander';
import { callApi, clientSettings } from './api-client.ts';
import { table, time } from './output.ts';
// Type only (erased at run time): the CLI reads what the API answers, as the inventory defines it.
import type { AgentView } from '../inventory/service.ts';

type Print = (text: string) => void;

/** Names and labels are data: control and formatting characters would forge lines or columns in a terminal. */
const safe = (text: unknown) => (typeof text === 'string' ? text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '?') : text);

interface Finding {
  kind: string;
  agentId: string;
  agent: string;
  owner: string;
  reason: string;
  fix: string;
}

interface RevokeView {
  dryRun: boolean;
  agents: { agentId: string; agent: string; owner: string; tokens: string[]; serviceAccounts: string[]; liveSessions: number; alreadyRevoked: boolean; revoked?: string[] }[];
}

interface Owner {
  owner: string;
  agents: number;
  liveSessions: number;
  limit: number | null;
}

function run<A extends unknown[]>(print: Print, body: (...args: A) => Promise<{ json: unknown; human: string }>) {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    const { json, human } = await body(...args);
    print(command.optsWithGlobals().json ? JSON.stringify(json, null, 2) : human);
  };
}

export function agentRows(agents: readonly AgentView[]): string {
  return table(
    agents.map((a) => ({
      id: a.id,
      name: safe(a.name),
      owner: safe(a.owner),
      state: a.state,
      auth: a.authenticates,
      connections: a.connections ?? ['(any)'],
      created: time(a.createdAt),
      expires: a.expiresAt === null ? (a.state === 'active' || a.state === 'stale' ? 'never' : '-') : time(a.expiresAt),
      'last used': time(a.lastUsedAt),
      'last client': safe(a.lastClientAddr),
      'user agent': safe(a.lastUserAgent),
      '24h': a.requests24h,
      '30d': a.requests30d,
      live: a.liveSessions,
    })),
    ['id', 'name', 'owner', 'state', 'auth', 'connections', 'created', 'expires', 'last used', 'last client', 'user agent', '24h', '30d', 'live'],
  );
}

export function findingRows(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'no findings';
  return findings.map((f) => `${f.agentId} ${safe(f.agent)} (owner ${safe(f.owner)}): ${f.kind}\n  why: ${safe(f.reason)}\n  fix: ${safe(f.fix)}`).join('\n');
}

export function revokeLines(view: RevokeView): string {
  if (view.agents.length === 0) return 'nothing to revoke';
  const lines = view.agents.map((a) => {
    const what = `${a.tokens.length} token(s), ${a.serviceAccounts.length} service account(s), ${a.liveSessions} live session(s)`;
    if (view.dryRun) return `would revoke ${a.agentId} ${safe(a.agent)} (owner ${safe(a.owner)}): ${what}${a.alreadyRevoked ? ' (already revoked)' : ''}`;
    return `revoked ${a.agentId} ${safe(a.agent)}: ${a.revoked?.length ?? 0} token(s) revoked, ${a.serviceAccounts.length} service account(s) disabled, ${a.liveSessions} live session(s) ended${a.alreadyRevoked ? ' (was revoked already)' : ''}`;
  });
  if (view.dryRun) lines.push('dry run: nothing changed; add --yes to revoke');
  return lines.join('\n');
}

export function agentsCommands(print: Print): Command[] {
  const agents = new Command('agents').description('the agent inventory: who runs what, stale credentials, and cutting them off');
  agents
    .command('list')
    .description('every agent with owner, credentials, usage and state')
    .option('--owner <owner>', 'only agents of this owner (person or team name, or principal id)')
    .option('--connection <name>', 'only agents that may reach this connection')
    .option('--state <state>', 'active, stale, revoked or ended')
    .action(
      run(print, async (opts: { owner?: string; connection?: string; state?: string }) => {
        const query = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => typeof e[1] === 'string'));
        const settings = await clientSettings();
        const view = await callApi<{ agents: AgentView[] }>(settings, 'GET', `/agents${query.size > 0 ? `?${query}` : ''}`);
        let header = '';
        if (opts.owner !== undefined) {
          const { owners } = await callApi<{ owners: Owner[] }>(settings, 'GET', '/agents/owners');
          const own = owners.find((o) => o.owner === opts.owner);
          if (own) header = `owner ${safe(own.owner)}: ${own.agents} agent(s), ${own.liveSessions} live session(s)${own.limit === null ? ', no concurrency limit' : ` of ${own.limit} allowed`}\n`;
        }
        return { json: view, human: header + agentRows(view.agents) };
      }),
    );
  agents.command('show <id>').description('one agent').action(
    run(print, async (id: string) => {
      const view = await callApi<AgentView & { credentials: unknown[] }>(await clientSettings(), 'GET', `/agents/${encodeURIComponent(id)}`);
      return { json: view, human: agentRows([view]) };
    }),
  );
  agents.command('owners').description('per owner: agents, live sessions now and the concurrency limit policy sets').action(
    run(print, async () => {
      const view = await callApi<{ owners: Owner[] }>(await clientSettings(), 'GET', '/agents/owners');
      return {
        json: view,
        human: table(view.owners.map((o) => ({ owner: safe(o.owner), agents: o.agents, live: o.liveSessions, limit: o.limit ?? 'none' })), ['owner', 'agents', 'live', 'limit']),
      };
    }),
  );
  agents.command('audit').description('credential hygiene findings, each with why and the command that fixes it').action(
    run(print, async () => {
      const view = await callApi<{ findings: Finding[] }>(await clientSettings(), 'GET', '/agents/findings');
      return { json: view, human: findingRows(view.findings) };
    }),
  );
  agents
    .command('revoke [ids...]')
    .description('revoke agents: their tokens, service accounts and live sessions (a dry run unless --yes)')
    .option('--stale', 'every stale agent too')
    .option('--yes', 'act: without it, only print what would happen')
    .option('--reason <text>', 'recorded with each revocation')
    .action(
      run(print, async (ids: string[], opts: { stale?: boolean; yes?: boolean; reason?: string }) => {
        const body = { ids, stale: opts.stale === true, dryRun: opts.yes !== true, ...(opts.reason ? { reason: opts.reason } : {}) };
        const view = await callApi<RevokeView>(await clientSettings(), 'POST', '/agents/revoke', body);
        return { json: view, human: revokeLines(view) };
      }),
    );
  agents.command('report').description('write the findings new since the last report to the audit trail (and the webhook) now').action(
    run(print, async () => {
      const view = await callApi<{ reported: boolean; new: Finding[] }>(await clientSettings(), 'POST', '/agents/report');
      return { json: view, human: view.new.length === 0 ? 'no new findings' : findingRows(view.new) };
    }),
  );
  return [agents];
}

/** `gatehouse policy test --agent-name … --agent-owner … --agent-label k=v`: the agent a condition reads. */
export function agentFlags(opts: { agentName?: string; agentOwner?: string; agentLabel?: string[] }): { agent?: { name: string; owner: string; labels: Record<string, string> } } {
  if (opts.agentName === undefined && opts.agentOwner === undefined && (opts.agentLabel ?? []).length === 0) return {};
  const labels: Record<string, string> = {};
  for (const pair of opts.agentLabel ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--agent-label ${JSON.stringify(pair)}: expected key=value`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { agent: { name: opts.agentName ?? '', owner: opts.agentOwner ?? '', labels } };
}
