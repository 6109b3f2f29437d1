import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { callApi, clientSettings, type ClientSettings } from './api-client.ts';
import { action, table, time } from './output.ts';

type Print = (text: string) => void;

/** The API's access request view, as far as the CLI shows it. */
interface Access {
  id: string;
  status: string;
  requester: { id: string; name: string };
  connection: string;
  reason: string;
  duration: string;
  createdAt: number;
  requestExpiresAt: number;
  approvers: string[];
  required: number;
  votes: { approver: string; vote: string; comment: string | null; at: number; breakGlass: boolean }[];
  grant: { id: string; status: string; grantedAt: number; expiresAt: number; approvedBy: string[]; endedAt: number | null; endedBy: string | null; endReason: string | null } | null;
}

const STATUSES = ['pending', 'denied', 'expired', 'withdrawn', 'approved', 'active', 'revoked'];
/** Still on its way to a grant: `--wait` keeps asking. */
const UNDECIDED = new Set(['pending', 'approved']);
const POLL_MS = 1_000;

// A reason or comment another person typed must not drive this terminal (escape sequences).
const printable = (text: string) => text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '�');

function describe(a: Access): string {
  const lines = [
    `access request ${a.id}: ${a.status}`,
    `${a.requester.name} asks for ${a.connection} for ${a.duration}: ${printable(a.reason)}`,
    `asked at ${time(a.createdAt)}; ${a.required} approval(s) from ${a.approvers.join(', ')}; the request expires ${time(a.requestExpiresAt)}`,
  ];
  for (const v of a.votes) lines.push(`${v.vote === 'approve' ? 'approved' : 'denied'} by ${v.approver} at ${time(v.at)}${v.breakGlass ? ' (BREAK-GLASS)' : ''}${v.comment ? `: ${printable(v.comment)}` : ''}`);
  const g = a.grant;
  if (g) {
    lines.push(`grant ${g.id}: ${g.status}, from ${time(g.grantedAt)} until ${time(g.expiresAt)}`);
    if (g.endedAt !== null) lines.push(`ended at ${time(g.endedAt)} by ${g.endedBy ?? 'gatehouse'}${g.endReason ? `: ${printable(g.endReason)}` : ''}`);
    else lines.push(`revoke early with: gatehouse access revoke ${g.id} --reason TEXT`);
  }
  if (a.status === 'pending') lines.push(`approvers decide with: gatehouse approvals approve ${a.id}  |  gatehouse approvals deny ${a.id} --reason TEXT`);
  return lines.join('\n');
}

const requestPath = (id: string) => `/access/requests/${encodeURIComponent(id)}`;

/** Asks again until approvers decided (or the request expired); bounded by the request's own expiry. */
async function waitForDecision(settings: ClientSettings, first: Access): Promise<Access> {
  let current = first;
  const giveUpAt = Date.now() + Math.max(0, first.requestExpiresAt - first.createdAt) + 60_000;
  while (UNDECIDED.has(current.status) && Date.now() < giveUpAt) {
    await sleep(POLL_MS);
    current = await callApi<Access>(settings, 'GET', requestPath(current.id));
  }
  return current;
}

export function accessCommands(print: Print): Command[] {
  const access = new Command('access').description('just-in-time access: ask for a connection for a while; list, show and revoke grants');
  access
    .command('request')
    .description('ask for time-boxed access to a connection; approvers decide it like a held request')
    .requiredOption('--connection <name>', 'the connection')
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 1h (at most approvals.access.maxDuration)')
    .requiredOption('--reason <text>', 'why, for the approvers and the record')
    .option('--wait', 'wait until approvers decide; exits 3 unless access was granted')
    .action(
      action(print, async (opts: { connection: string; for: string; reason: string; wait?: boolean }) => {
        const settings = await clientSettings();
        let result = await callApi<Access>(settings, 'POST', '/access/requests', { connection: opts.connection, for: opts.for, reason: opts.reason });
        if (opts.wait) result = await waitForDecision(settings, result);
        return { json: result, human: describe(result), failed: opts.wait === true && result.status !== 'active' };
      }),
    );
  access
    .command('list')
    .description('list access requests and their grants, newest first (your own, unless you approve or audit)')
    .option('--status <status>', `only requests in this state (${STATUSES.join(', ')})`)
    .action(
      action(print, async (opts: { status?: string }) => {
        const query = opts.status ? `?status=${encodeURIComponent(opts.status)}` : '';
        const { requests } = await callApi<{ requests: Access[] }>(await clientSettings(), 'GET', `/access/requests${query}`);
        const view = requests.map((a) => ({
          id: a.id,
          status: a.status,
          requester: a.requester.name,
          connection: a.connection,
          for: a.duration,
          grant: a.grant?.id ?? '',
          until: a.grant ? time(a.grant.expiresAt) : '',
        }));
        return { json: requests, human: table(view, ['id', 'status', 'requester', 'connection', 'for', 'grant', 'until']) };
      }),
    );
  access.command('show <id>').description('show one access request (by its id or its grant id), its votes and its grant').action(
    action(print, async (id: string) => {
      const result = await callApi<Access>(await clientSettings(), 'GET', requestPath(id));
      return { json: result, human: describe(result) };
    }),
  );
  access
    .command('revoke <id>')
    .description('end a grant early (approvers and admins; the holder may give up their own): sessions relying on it end')
    .requiredOption('--reason <text>', 'why, for the holder and the record')
    .action(
      action(print, async (id: string, opts: { reason: string }) => {
        const result = await callApi<Access>(await clientSettings(), 'POST', `/access/grants/${encodeURIComponent(id)}/revoke`, { reason: opts.reason });
        return { json: result, human: describe(result) };
      }),
    );
  return [access];
}
