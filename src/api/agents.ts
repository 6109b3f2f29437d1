import { z } from 'zod';
import { ForbiddenError, InvalidArgument } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import { checkAgentName, newAgent, ownerKeyOfPerson, ownerKeyOfTeam } from '../inventory/attach.ts';
import type { Inventory } from '../inventory/service.ts';
import type { Api, ApiDeps, Caller } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const LABEL_KEY = /^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/;
const labelValue = z.string().max(200).refine((v) => !UNSAFE.test(v), 'a label value may not hold control or invisible formatting characters');
const labels = z
  .record(z.string().regex(LABEL_KEY, 'label keys: lower-case letters, digits, ".", "_", "/" or "-", at most 63 characters'), labelValue)
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');

const agentView = z
  .object({
    id: z.string(),
    name: z.string(),
    owner: z.string(),
    purpose: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    state: z.enum(['active', 'stale', 'revoked', 'ended']),
    authenticates: z.array(z.string()).describe('token, service-account, workload:<trust>'),
    connections: z.array(z.string()).nullable().describe('Connections its live credentials may reach; null means any'),
    createdAt: epochMs,
    expiresAt: epochMs.nullable(),
    lastUsedAt: epochMs.nullable(),
    lastClientAddr: z.string().nullable(),
    lastUserAgent: z.string().nullable(),
    requests24h: z.number().int(),
    requests30d: z.number().int(),
    liveSessions: z.number().int(),
    credentials: z.array(z.object({ kind: z.string(), id: z.string(), name: z.string(), expiresAt: epochMs.nullable(), live: z.boolean() })),
  })
  .meta({ id: 'Agent' });

const findingView = z
  .object({ key: z.string(), kind: z.string(), agentId: z.string(), agent: z.string(), owner: z.string(), credentialId: z.string().nullable(), reason: z.string(), fix: z.string() })
  .meta({ id: 'AgentFinding' });

const revokePlan = z.object({
  agentId: z.string(),
  agent: z.string(),
  owner: z.string(),
  tokens: z.array(z.string()),
  serviceAccounts: z.array(z.string()),
  liveSessions: z.number().int(),
  alreadyRevoked: z.boolean(),
  revoked: z.array(z.string()).optional().describe('Token ids revoked now (absent on a dry run)'),
});

const isAdmin = (caller: Caller) => caller.roles.includes('admin');
const mayRead = (caller: Caller) => isAdmin(caller) || caller.roles.includes('auditor');
const ownedBy = (caller: Caller, agent: { owner: string }) => agent.owner === caller.auth.principal.name || caller.auth.principal.groups.includes(agent.owner);

export function registerAgentRoutes(api: Api, deps: ApiDeps & { inventory?: Inventory }): void {
  const inventory = deps.inventory;
  if (!inventory) return;
  const { store } = deps;

  api.route({
    method: 'GET',
    url: '/agents',
    schema: {
      tags: ['agents'],
      operationId: 'listAgents',
      summary: 'Every agent with its owner, credentials, usage and state',
      querystring: z
        .object({ owner: z.string().min(1).max(200).optional(), connection: z.string().min(1).max(200).optional(), state: z.enum(['active', 'stale', 'revoked', 'ended']).optional() })
        .strict(),
      response: { 200: z.object({ agents: z.array(agentView) }).describe('The agents'), ...errorResponses },
    },
    // A user sees the agents they (or their teams) own.
    config: { allow: ['auditor', 'user'] },
    handler: async (request) => {
      const caller = request.caller!;
      const agents = await inventory.list(request.query);
      return { agents: mayRead(caller) ? agents : agents.filter((a) => ownedBy(caller, a)) };
    },
  });

  api.route({
    method: 'GET',
    url: '/agents/findings',
    schema: {
      tags: ['agents'],
      operationId: 'listAgentFindings',
      summary: 'Credential hygiene findings, each with its reason and the command that fixes it',
      response: { 200: z.object({ findings: z.array(findingView) }).describe('The findings'), ...errorResponses },
    },
    config: { allow: ['auditor'] },
    handler: async () => ({ findings: await inventory.findings() }),
  });

  api.route({
    method: 'GET',
    url: '/agents/owners',
    schema: {
      tags: ['agents'],
      operationId: 'listAgentOwners',
      summary: 'Per owner: agents with live credentials, live sessions now, and the concurrency limit policy sets',
      response: {
        200: z.object({ owners: z.array(z.object({ owner: z.string(), agents: z.number().int(), liveSessions: z.number().int(), limit: z.number().int().nullable() })) }).describe('Owners'),
        ...errorResponses,
      },
    },
    config: { allow: ['auditor'] },
    handler: async () => ({ owners: await inventory.owners() }),
  });

  api.route({
    method: 'GET',
    url: '/agents/:id',
    schema: {
      tags: ['agents'],
      operationId: 'getAgent',
      summary: 'One agent',
      params: z.object({ id: z.string().min(1).max(200) }),
      response: { 200: agentView.describe('The agent'), ...errorResponses },
    },
    config: { allow: ['auditor', 'user'] },
    handler: async (request) => {
      const caller = request.caller!;
      const agent = await inventory.get(request.params.id);
      if (!mayRead(caller) && !ownedBy(caller, agent)) throw new ForbiddenError('forbidden_role', `agent ${agent.id} is not yours`, { details: { allowed: ['admin', 'auditor'] } });
      return agent;
    },
  });

  api.route({
    method: 'POST',
    url: '/agents',
    schema: {
      tags: ['agents'],
      operationId: 'createAgent',
      summary: 'Register an agent (tokens join it with --agent)',
      body: z
        .object({
          name: z.string().min(1).max(200),
          team: z.string().min(1).max(200).optional().describe('A group that owns it instead of the caller'),
          purpose: z.string().max(500).optional(),
          labels: labels.optional(),
        })
        .strict(),
      response: { 201: agentView.describe('Created'), ...errorResponses },
    },
    config: { allow: ['user'] },
    handler: async (request, reply) => {
      const caller = request.caller!;
      const body = request.body;
      const name = checkAgentName(body.name);
      if (body.purpose !== undefined && UNSAFE.test(body.purpose)) throw new InvalidArgument('a purpose may not hold control or invisible formatting characters');
      const self = caller.auth.principal;
      if (body.team !== undefined && !isAdmin(caller) && !self.groups.includes(body.team)) {
        throw new ForbiddenError('forbidden_role', `you are not in group ${JSON.stringify(body.team.slice(0, 100))}; a team agent is created by one of its members or an admin`);
      }
      const row = newAgent(
        {
          name,
          owner: body.team ?? self.name,
          ownerId: body.team === undefined ? self.id : null,
          purpose: body.purpose ?? null,
          labels: body.labels ?? {},
          createdBy: self.name,
        },
        Date.now(),
      );
      await store.insertAgent(row, body.team === undefined ? ownerKeyOfPerson(self.id) : ownerKeyOfTeam(body.team));
      noteAction(request, { target: row.id, details: { name: row.name, owner: row.owner } });
      return reply.code(201).send(await inventory.get(row.id));
    },
  });

  api.route({
    method: 'POST',
    url: '/agents/revoke',
    schema: {
      tags: ['agents'],
      operationId: 'revokeAgents',
      summary: 'Revoke agents: their tokens, service accounts and live sessions on every replica (a dry run unless dryRun is false)',
      body: z
        .object({
          ids: z.array(z.string().min(1).max(200)).max(1000).default([]),
          stale: z.boolean().default(false).describe('Add every stale agent'),
          dryRun: z.boolean().default(true).describe('Only say what would happen'),
          reason: z.string().max(500).optional(),
        })
        .strict(),
      response: { 200: z.object({ dryRun: z.boolean(), agents: z.array(revokePlan) }).describe('What was (or would be) revoked'), ...errorResponses },
    },
    // A user revokes only agents they own, by id.
    config: { allow: ['user'] },
    handler: async (request) => {
      const caller = request.caller!;
      const body = request.body;
      if (body.ids.length === 0 && !body.stale) throw new InvalidArgument('name the agents to revoke (ids), or ask for every stale one (stale: true)');
      if (body.stale && !isAdmin(caller)) throw new ForbiddenError('forbidden_role', 'revoking every stale agent needs the role admin', { details: { allowed: ['admin'] } });
      const plans = await inventory.plan(body.ids, body.stale);
      if (!isAdmin(caller)) {
        const foreign = plans.filter((p) => !ownedBy(caller, p));
        if (foreign.length > 0) throw new ForbiddenError('forbidden_role', `agent ${foreign[0]!.agentId} is not yours: a user may revoke only their own agents`, { details: { allowed: ['admin'] } });
      }
      if (body.dryRun) return { dryRun: true, agents: plans.map((p) => ({ ...p, tokens: [...p.tokens], serviceAccounts: [...p.serviceAccounts] })) };
      const self = caller.auth.principal;
      const results = await inventory.revoke(plans, { id: self.id, name: self.name, kind: self.kind, credentialId: caller.auth.credential.tokenId }, body.reason ?? (body.stale ? 'stale' : 'revoked'));
      noteAction(request, { details: { agents: results.map((r) => r.agentId), revoked: results.flatMap((r) => r.revoked).length } });
      return { dryRun: false, agents: results.map((r) => ({ ...r, tokens: [...r.tokens], serviceAccounts: [...r.serviceAccounts], revoked: [...r.revoked] })) };
    },
  });

  api.route({
    method: 'POST',
    url: '/agents/report',
    schema: {
      tags: ['agents'],
      operationId: 'reportAgentFindings',
      summary: 'Write the findings new since the last report to the audit trail and the webhook now',
      response: { 200: z.object({ reported: z.boolean(), new: z.array(findingView) }).describe('The new findings'), ...errorResponses },
    },
    handler: async () => {
      const { reported, fresh } = await inventory.report(undefined, true);
      return { reported, new: fresh };
    },
  });
}
