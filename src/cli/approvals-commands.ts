import { Command, Option } from 'commander';
import { callApi, clientSettings } from './api-client.ts';
import { action, table, time } from './output.ts';

type Print = (text: string) => void;

/** The API's approval view, as far as the CLI shows it. */
interface Approval {
  id: string;
  status: string;
  createdAt: number;
  expiresAt: number;
  requester: { id: string; name: string };
  agent: string;
  connection: string;
  kind: string;
  rule: string;
  approvers: string[];
  required: number;
  summary: Record<string, unknown>;
  votes: { approver: string; vote: string; comment: string | null; at: number; breakGlass: boolean }[];
  decidedAt: number | null;
  usedAt: number | null;
}

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'withdrawn', 'used'];

// What a requester or a summary may carry must not drive the approver's terminal (escape sequences).
const printable = (text: string) => text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '�');

function describe(a: Approval): string {
  const approvals = a.votes.filter((v) => v.vote === 'approve').length;
  const lines = [
    `approval ${a.id}: ${a.status}`,
    `requested by ${a.requester.name} (agent "${a.agent}") on ${a.connection} at ${time(a.createdAt)}; expires ${time(a.expiresAt)}`,
    `rule ${a.rule}: ${a.required} approval(s) from ${a.approvers.join(', ')} (${approvals} so far)`,
    `request (${a.kind}, masked):`,
    ...Object.entries(a.summary).map(([key, value]) => `  ${key}: ${printable(typeof value === 'string' ? value : JSON.stringify(value))}`),
  ];
  for (const v of a.votes) lines.push(`${v.vote === 'approve' ? 'approved' : 'denied'} by ${v.approver} at ${time(v.at)}${v.breakGlass ? ' (BREAK-GLASS)' : ''}${v.comment ? `: ${printable(v.comment)}` : ''}`);
  if (a.usedAt) lines.push(`ran at ${time(a.usedAt)}`);
  if (a.status === 'pending') lines.push(`decide with: gatehouse approvals approve ${a.id} [--comment TEXT]  |  gatehouse approvals deny ${a.id} --reason TEXT`);
  return lines.join('\n');
}

const path = (id: string, action = '') => `/approvals/${encodeURIComponent(id)}${action}`;

export function approvalsCommands(print: Print): Command[] {
  const approvals = new Command('approvals').description('requests held for human approval: list, show, approve, deny');
  approvals
    .command('list')
    .description('list approvals, newest first (pending ones by default)')
    .addOption(new Option('--status <status>', 'only approvals in this state').choices([...STATUSES, 'all']).default('pending'))
    .action(
      action(print, async (opts: { status: string }) => {
        const query = opts.status === 'all' ? '' : `?status=${opts.status}`;
        const { approvals: rows } = await callApi<{ approvals: Approval[] }>(await clientSettings(), 'GET', `/approvals${query}`);
        const view = rows.map((a) => ({
          id: a.id,
          status: a.status,
          requester: a.requester.name,
          connection: a.connection,
          rule: a.rule,
          votes: `${a.votes.filter((v) => v.vote === 'approve').length}/${a.required}`,
          expires: time(a.expiresAt),
        }));
        return { json: rows, human: table(view, ['id', 'status', 'requester', 'connection', 'rule', 'votes', 'expires']) };
      }),
    );
  approvals.command('show <id>').description('show one approval: the masked request, who may decide, the votes').action(
    action(print, async (id: string) => {
      const approval = await callApi<Approval>(await clientSettings(), 'GET', path(id));
      return { json: approval, human: describe(approval) };
    }),
  );
  approvals
    .command('approve <id>')
    .description('approve a held request (you must be in one of its approver groups, and not its requester)')
    .option('--comment <text>', 'why, for the record')
    .action(
      action(print, async (id: string, opts: { comment?: string }) => {
        const approval = await callApi<Approval>(await clientSettings(), 'POST', path(id, '/approve'), opts.comment ? { comment: opts.comment } : {});
        return { json: approval, human: describe(approval) };
      }),
    );
  approvals
    .command('deny <id>')
    .description('deny a held request: it can never run')
    .requiredOption('--reason <text>', 'why, shown to the requester')
    .action(
      action(print, async (id: string, opts: { reason: string }) => {
        const approval = await callApi<Approval>(await clientSettings(), 'POST', path(id, '/deny'), { reason: opts.reason });
        return { json: approval, human: describe(approval) };
      }),
    );
  return [approvals];
}
