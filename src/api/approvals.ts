import { z } from 'zod';
import { NotFound } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { ApprovalView } from '../approvals/view.ts';
import type { Api, ApiDeps, Caller } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'withdrawn', 'used'] as const;

const voteView = z.object({
  approver: z.string(),
  vote: z.enum(['approve', 'deny']),
  comment: z.string().nullable(),
  at: epochMs,
  breakGlass: z.boolean().describe('Cast by a member of approvals.breakGlassGroups: enough alone'),
});

const approvalView = z
  .object({
    id: z.string(),
    status: z.enum(STATUSES),
    createdAt: epochMs,
    expiresAt: epochMs.describe('After this the approval can neither be decided nor used'),
    requester: z.object({ id: z.string(), name: z.string() }),
    agent: z.string().describe('The name of the token the request came with'),
    connection: z.string(),
    kind: z.string().describe('llm.chat, http.request, sql.query, mcp.tool_call, …'),
    rule: z.string().describe('The policy rule that held the request'),
    approvers: z.array(z.string()).describe('Groups whose members may decide'),
    required: z.number().int().describe('Distinct approvals needed'),
    summary: z.record(z.string(), z.unknown()).describe('The request as masked for approvers: method and path, SQL text, model and a prompt excerpt'),
    votes: z.array(voteView),
    decidedAt: epochMs.nullable(),
    usedAt: epochMs.nullable().describe('When the approved request ran (once)'),
  } satisfies Record<keyof ApprovalView, z.ZodType>)
  .meta({ id: 'Approval' });

const idParams = z.object({ id: z.string().min(1).max(200) });
const comment = z.string().max(2000);

/** Approvers, auditors and admins see every approval; anyone else only the ones for their own requests. */
const seesAll = (caller: Caller) => caller.roles.some((role) => role === 'admin' || role === 'approver' || role === 'auditor');

export function registerApprovalRoutes(api: Api, deps: ApiDeps): void {
  api.route({
    method: 'GET',
    url: '/approvals',
    schema: {
      tags: ['approvals'],
      operationId: 'listApprovals',
      summary: 'Approvals, newest first; a requester without the approver role sees only their own',
      querystring: z
        .object({
          status: z.enum(STATUSES).optional().describe('Only approvals in this state'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        })
        .strict(),
      response: { 200: z.object({ approvals: z.array(approvalView) }).describe('The approvals'), ...errorResponses },
    },
    config: { allow: ['approver', 'auditor', 'user'] },
    handler: async (request) => {
      const caller = request.caller!;
      const principalId = seesAll(caller) ? undefined : caller.auth.principal.id;
      const approvals = await deps.approvals.list({ limit: request.query.limit, ...(request.query.status ? { status: request.query.status } : {}), ...(principalId ? { principalId } : {}) });
      return { approvals };
    },
  });

  api.route({
    method: 'GET',
    url: '/approvals/:id',
    schema: {
      tags: ['approvals'],
      operationId: 'getApproval',
      summary: 'One approval: the masked request, who may decide, the votes so far',
      params: idParams,
      response: { 200: approvalView.describe('The approval'), ...errorResponses },
    },
    config: { allow: ['approver', 'auditor', 'user'] },
    handler: async (request) => {
      const caller = request.caller!;
      const approval = await deps.approvals.get(request.params.id);
      // Another person's approval reads as missing: its id alone tells a requester nothing.
      if (!approval || (!seesAll(caller) && approval.requester.id !== caller.auth.principal.id)) throw new NotFound(`no approval "${request.params.id}"`);
      return approval;
    },
  });

  api.route({
    method: 'POST',
    url: '/approvals/:id/approve',
    schema: {
      tags: ['approvals'],
      operationId: 'approveApproval',
      summary: 'Approve a held request (a member of its approver groups, never its requester)',
      description: 'One vote per approver; the request runs once `required` distinct approvers approved (or one member of a break-glass group did).',
      params: idParams,
      body: z.object({ comment: comment.optional() }).strict().default({}),
      response: { 200: approvalView.describe('The approval after this vote'), ...errorResponses },
    },
    config: { allow: ['approver'] },
    handler: async (request) => {
      const { principal, credential } = request.caller!.auth;
      const approval = await deps.approvals.decide(request.params.id, principal, 'approve', request.body.comment ?? null, credential.tokenId);
      // An approved access request has its grant before the approver hears back: the requester may use it at once.
      if (approval.status === 'approved' && deps.grants) await deps.grants.settle(approval.id);
      noteAction(request, { target: approval.id, details: { vote: 'approve', status: approval.status, requester: approval.requester.name, rule: approval.rule } });
      return approval;
    },
  });

  api.route({
    method: 'POST',
    url: '/approvals/:id/deny',
    schema: {
      tags: ['approvals'],
      operationId: 'denyApproval',
      summary: 'Deny a held request: one deny denies, and it can never run',
      params: idParams,
      body: z.object({ reason: comment.min(1, 'say why the request is denied') }).strict(),
      response: { 200: approvalView.describe('The approval, denied'), ...errorResponses },
    },
    config: { allow: ['approver'] },
    handler: async (request) => {
      const { principal, credential } = request.caller!.auth;
      const approval = await deps.approvals.decide(request.params.id, principal, 'deny', request.body.reason, credential.tokenId);
      noteAction(request, { target: approval.id, details: { vote: 'deny', status: approval.status, requester: approval.requester.name, rule: approval.rule } });
      return approval;
    },
  });
}
