import { z } from 'zod';
import type { AuditEventRow } from '../store/types.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';
import { registerTrailRoutes } from './audit-trail.ts';
import { filterText, searchFilters } from './replay-schemas.ts';
import { pageToken, readPageToken, timeRange } from '../audit/search-query.ts';

const auditEventView = z
  .object({
    id: z.string(),
    at: epochMs,
    replicaId: z.string().nullable().describe('The replica that served the call'),
    actorId: z.string(),
    actorName: z.string(),
    actorKind: z.enum(['user', 'service_account', 'admin', 'gateway']).describe('admin is the bootstrap (break-glass) identity; gateway a change the gateway made itself, e.g. an approval expiring'),
    credentialId: z.string().nullable().describe('The id of the token used, never the token'),
    action: z.string().describe("The route's operationId, e.g. createToken"),
    target: z.string().nullable().describe('What it acted on: a token id, a connection or service-account name, a principal name'),
    outcome: z.number().int().nullable().describe('The HTTP status answered; null when the action started and its end was never recorded'),
    details: z.record(z.string(), z.unknown()).describe('A few safe facts, e.g. the connections of an issued token or the error code of a refusal'),
  } satisfies Record<keyof AuditEventRow, z.ZodType>)
  .meta({ id: 'AuditEvent' });

const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    before: z.string().min(1).max(100).optional().describe('Only events older than this event id: the last id of the previous page'),
    actor: z.string().min(1).max(256).optional().describe('Only events by this actor (name or id)'),
    action: z.string().min(1).max(100).optional().describe('Only this action (operationId), e.g. revokeToken, or approval change, e.g. approval.approved'),
    target: z.string().min(1).max(200).optional().describe('Only events about this target, e.g. an approval id: its whole trail'),
  })
  .strict();

const searchQuery = z
  .object({
    ...searchFilters,
    session: filterText(100).optional().describe('Only requests of this session'),
    text: filterText(200).optional().describe('Only requests whose target (path, SQL text, tool name) contains this, ignoring case'),
  })
  .strict();

const searchHit = z
  .object({
    id: z.string(),
    sessionId: z.string(),
    seq: z.number().int(),
    kind: z.string(),
    status: z.enum(['open', 'complete', 'interrupted']),
    decision: z.string(),
    rule: z.string().nullable(),
    reason: z.string().nullable(),
    method: z.string().nullable(),
    target: z.string().nullable().describe('Path, SQL text or tool name, as recorded (masked)'),
    model: z.string().nullable(),
    responseStatus: z.number().int().nullable(),
    errorCode: z.string().nullable(),
    upstreamCode: z.string().nullable(),
    startedAt: epochMs,
    completedAt: epochMs.nullable(),
    latencyMs: z.number().nullable(),
    session: z.object({
      principalId: z.string().nullable(),
      principalName: z.string(),
      tokenId: z.string().nullable(),
      agent: z.string().nullable(),
      connection: z.string(),
      protocol: z.string(),
    }),
  })
  .meta({ id: 'InteractionHit' });

export function registerAuditRoutes(api: Api, deps: ApiDeps): void {
  const { store } = deps;
  registerTrailRoutes(api, deps);
  api.route({
    method: 'GET',
    url: '/audit/events',
    schema: {
      tags: ['audit'],
      operationId: 'listAuditEvents',
      summary: 'Admin actions with who made them, newest first',
      querystring: listQuery,
      response: { 200: z.object({ events: z.array(auditEventView) }).describe('The events'), ...errorResponses },
    },
    config: { allow: ['auditor'] },
    handler: async (request) => ({ events: await store.listAuditEvents(request.query) }),
  });

  api.route({
    method: 'GET',
    url: '/audit/search',
    schema: {
      tags: ['audit'],
      operationId: 'searchInteractions',
      summary: 'Recorded requests, newest first, by who, agent, connection, kind, decision, rule, time and target text (bodies: see the session replay)',
      querystring: searchQuery,
      response: {
        200: z
          .object({ interactions: z.array(searchHit), next: z.string().nullable().describe('Pass as after for the next page; null on the last page') })
          .describe('The matching requests'),
        ...errorResponses,
      },
    },
    config: { allow: ['auditor'] },
    handler: async (request) => {
      const { limit, after, since, until, ...filters } = request.query;
      const before = after === undefined ? undefined : readPageToken(after);
      const rows = await store.searchInteractions({ ...filters, ...timeRange(since, until, Date.now()), limit: limit + 1, ...(before ? { before } : {}) });
      const interactions = rows.slice(0, limit);
      const last = interactions.at(-1);
      return { interactions, next: rows.length > limit && last ? pageToken({ startedAt: last.startedAt, id: last.id }) : null };
    },
  });
}
