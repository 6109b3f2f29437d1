import { z } from 'zod';
import { ForbiddenError, InternalError, NotFound } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { AccessView, GrantView } from '../approvals/access-view.ts';
import type { Grants } from '../approvals/grants.ts';
import type { Api, ApiDeps, Caller } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const STATUSES = ['pending', 'denied', 'expired', 'withdrawn', 'approved', 'active', 'revoked'] as const;

const voteView = z.object({ approver: z.string(), vote: z.enum(['approve', 'deny']), comment: z.string().nullable(), at: epochMs, breakGlass: z.boolean() });

const grantView = z
  .object({
    id: z.string().describe('The grant id (grt_…): what policy conditions see as grants[].id and what a decision records'),
    status: z.enum(['active', 'expired', 'revoked']),
    grantedAt: epochMs,
    expiresAt: epochMs.describe('After this the grant is no longer seen by policy, and sessions that relied on it end'),
    approvedBy: z.array(z.string()),
    endedAt: epochMs.nullable(),
    endedBy: z.string().nullable().describe('Who revoked it, or gatehouse when it expired'),
    endReason: z.string().nullable(),
  } satisfies Record<keyof GrantView, z.ZodType>)
  .meta({ id: 'AccessGrant' });

const accessView = z
  .object({
    id: z.string().describe('The access request id: an approval id, decided with the approvals routes'),
    status: z.enum(STATUSES),
    requester: z.object({ id: z.string(), name: z.string() }),
    connection: z.string(),
    reason: z.string().describe('As the requester gave it, secrets masked'),
    duration: z.string().describe('How long the grant lasts once approved, e.g. 1h'),
    durationMs: z.number().int(),
    createdAt: epochMs,
    requestExpiresAt: epochMs.describe('The request expires unless decided before this'),
    approvers: z.array(z.string()).describe('Groups whose members may approve'),
    required: z.number().int().describe('Distinct approvals needed'),
    votes: z.array(voteView),
    grant: grantView.nullable().describe('The grant, once approved'),
  } satisfies Record<keyof AccessView, z.ZodType>)
  .meta({ id: 'AccessRequest' });

// Ids and names as the gateway makes them: printable and bounded.
const idParams = z.object({ id: z.string().min(1).max(200) });
const reason = z.string().min(1, 'say why').max(500);

const createBody = z
  .object({
    connection: z.string().min(1).max(200).describe('The connection access is asked for'),
    for: z.string().min(1).max(20).describe('How long, e.g. 30m, 1h or 1h30m; at most approvals.access.maxDuration'),
    reason: reason.describe('Why, for the approvers and the record (one line)'),
  })
  .strict();

/** Approvers, auditors and admins see every access request; anyone else only their own. */
const seesAll = (caller: Caller) => caller.roles.some((role) => role === 'admin' || role === 'approver' || role === 'auditor');
/** Admins and approvers revoke any grant; its holder may give it up early. */
const revokesAny = (caller: Caller) => caller.roles.some((role) => role === 'admin' || role === 'approver');

export function registerAccessRoutes(api: Api, deps: ApiDeps): void {
  // Registered whatever the deps, so the OpenAPI document always describes them.
  const grants = (): Grants => {
    if (!deps.grants) throw new InternalError('just-in-time access is not wired into this API');
    return deps.grants;
  };

  api.route({
    method: 'POST',
    url: '/access/requests',
    schema: {
      tags: ['access'],
      operationId: 'createAccessRequest',
      summary: 'Ask for time-boxed access to a connection; approvers decide it as any held request',
      description:
        'Creates an approval of kind access.request (approvers, required count and expiry from approvals.access). Once approved by others, a grant exists that policy conditions read as `grants`. The same request again, while pending, returns the pending one.',
      body: createBody,
      response: { 201: accessView.describe('The access request, pending'), ...errorResponses },
    },
    config: { allow: ['user', 'approver', 'auditor'] },
    handler: async (request, reply) => {
      const caller = request.caller!;
      const access = await grants().request(caller.auth, { connection: request.body.connection, duration: request.body.for, reason: request.body.reason });
      noteAction(request, { target: access.id, details: { connection: access.connection, duration: access.duration, status: access.status } });
      return reply.code(201).send(access);
    },
  });

  api.route({
    method: 'GET',
    url: '/access/requests',
    schema: {
      tags: ['access'],
      operationId: 'listAccessRequests',
      summary: 'Access requests and their grants, newest first; a requester without the approver or auditor role sees only their own',
      querystring: z
        .object({
          status: z.enum(STATUSES).optional().describe('Only requests in this state'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        })
        .strict(),
      response: { 200: z.object({ requests: z.array(accessView) }).describe('The access requests'), ...errorResponses },
    },
    config: { allow: ['user', 'approver', 'auditor'] },
    handler: async (request) => {
      const caller = request.caller!;
      const principalId = seesAll(caller) ? undefined : caller.auth.principal.id;
      // The status is worked out from the grant as well: filtered after reading.
      const rows = await grants().list({ limit: request.query.limit, ...(principalId ? { principalId } : {}) });
      return { requests: request.query.status ? rows.filter((r) => r.status === request.query.status) : rows };
    },
  });

  api.route({
    method: 'GET',
    url: '/access/requests/:id',
    schema: {
      tags: ['access'],
      operationId: 'getAccessRequest',
      summary: 'One access request (by its id or its grant id) with its votes and grant',
      params: idParams,
      response: { 200: accessView.describe('The access request'), ...errorResponses },
    },
    config: { allow: ['user', 'approver', 'auditor'] },
    handler: async (request) => {
      const caller = request.caller!;
      const access = await grants().show(request.params.id);
      // Another person's request reads as missing: its id alone tells a requester nothing.
      if (!access || (!seesAll(caller) && access.requester.id !== caller.auth.principal.id)) throw new NotFound(`no access request "${request.params.id}"`);
      return access;
    },
  });

  api.route({
    method: 'POST',
    url: '/access/grants/:id/revoke',
    schema: {
      tags: ['access'],
      operationId: 'revokeAccessGrant',
      summary: 'End a grant early: live sessions whose decisions relied on it end on every replica',
      description: 'Admins and approvers revoke any grant; its holder may give it up. The id may be the grant id (grt_…) or its access request id.',
      params: idParams,
      body: z.object({ reason: reason.describe('Why, for the holder and the record (one line)') }).strict(),
      response: { 200: accessView.describe('The access request, its grant revoked'), ...errorResponses },
    },
    config: { allow: ['user', 'approver', 'auditor'] },
    handler: async (request) => {
      const caller = request.caller!;
      const access = await grants().show(request.params.id);
      const mine = access?.requester.id === caller.auth.principal.id;
      // Someone else's grant reads as missing to whoever may neither see nor revoke it.
      if (!access || (!seesAll(caller) && !mine)) throw new NotFound(`no access grant "${request.params.id}"`);
      if (!revokesAny(caller) && !mine) {
        throw new ForbiddenError('forbidden_role', `revoking another person's access grant needs the role approver or admin; this identity holds ${caller.roles.join(', ') || 'none'}`, {
          details: { allowed: ['admin', 'approver'], held: [...caller.roles] },
        });
      }
      if (!access.grant) throw new NotFound(`access request ${access.id} has no grant (it is ${access.status}); a pending request is withdrawn with: gatehouse approvals deny ${access.id} --reason TEXT`);
      const revoked = await grants().revoke(access.grant.id, caller.auth.principal, caller.auth.credential.tokenId, request.body.reason);
      noteAction(request, { target: access.grant.id, details: { holder: access.requester.name, connection: access.connection } });
      return revoked;
    },
  });
}
