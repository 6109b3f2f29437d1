import { z } from 'zod';
import { bodyDigestsView } from './audit-trail.ts';
import { NotFound } from '../errors.ts';
import { verifyChain, type ChainReport } from '../audit/hash-chain.ts';
import type { InteractionRow, SessionRow, SessionSummary } from '../store/types.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';
import { pageToken, readPageToken, timeRange } from '../audit/search-query.ts';
import { filterText, searchFilters, replayView } from './replay-schemas.ts';
import { loadReplay } from '../audit/replay-source.ts';

// `satisfies` lists every column: a field the store adds fails to compile here rather than vanish from the API.
const sessionFields = {
  id: z.string(),
  principalId: z.string().nullable(),
  principalName: z.string(),
  tokenId: z.string().nullable(),
  connection: z.string(),
  protocol: z.string(),
  clientAddr: z.string().nullable(),
  startedAt: epochMs,
  endedAt: epochMs.nullable(),
  endReason: z.string().nullable(),
  replicaId: z.string().nullable().describe('The gateway replica that served the session'),
  startup: z
    .record(z.string(), z.string())
    .nullable()
    .optional()
    .describe('PostgreSQL: the startup parameters the client sent (user, application_name, options …), values that look like a secret replaced'),
  agentId: z.string().nullable().optional().describe('The agent whose credential opened the session (gatehouse agents list)'),
} satisfies Record<keyof SessionRow, z.ZodType>;

const sessionView = z.object(sessionFields).meta({ id: 'Session' });

const sessionSummary = z
  .object({
    ...sessionFields,
    interactionCount: z.number().int(),
    deniedCount: z.number().int(),
    agent: z.string().nullable().describe('The agent: the name of the token the session came with'),
  } satisfies Record<keyof SessionSummary | 'agent', z.ZodType>)
  .meta({ id: 'SessionSummary' });

const interactionView = z
  .object({
    id: z.string(),
    sessionId: z.string(),
    seq: z.number().int(),
    kind: z.string().describe('llm.chat, http.request, sql.query, mcp.tool_call, …'),
    status: z.enum(['open', 'complete', 'interrupted']),
    decision: z.string(),
    rule: z.string().nullable().describe('The policy rule that decided'),
    reason: z.string().nullable(),
    method: z.string().nullable(),
    target: z.string().nullable().describe('Path, SQL text or tool name'),
    model: z.string().nullable(),
    summary: z.record(z.string(), z.unknown()).describe('What policy saw of the request'),
    requestBody: z.string().nullable().describe('As recorded: masked under the masking profile that applied'),
    responseStatus: z.number().int().nullable(),
    responseBody: z.string().nullable().describe('As recorded: masked under the masking profile that applied'),
    errorCode: z
      .string()
      .nullable()
      .describe("The gateway's own code (docs/errors.md) when it refused or failed the request; rows recorded before upstreamCode existed may hold the target's code here"),
    upstreamCode: z.string().nullable().describe("The target's own error code as the client received it, e.g. a PostgreSQL SQLSTATE"),
    bytesIn: z.number().int(),
    bytesOut: z.number().int(),
    startedAt: epochMs,
    completedAt: epochMs.nullable(),
    latencyMs: z.number().nullable(),
    prevHash: z.string().nullable(),
    hash: z.string().nullable(),
    bodyDigests: bodyDigestsView.nullable().optional(),
    bodiesPurgedAt: epochMs.nullable().optional().describe('When retention removed the bodies (audit.retention.bodies)'),
  } satisfies Record<keyof InteractionRow, z.ZodType>)
  .meta({ id: 'Interaction' });

const chainReport = z
  .object({
    ok: z.boolean(),
    checked: z.number().int(),
    unsealed: z.number().int().describe('Interactions recorded before forwarding and never completed (e.g. a crash)'),
    problems: z.array(z.string()),
  } satisfies Record<keyof ChainReport, z.ZodType>)
  .meta({ id: 'ChainReport' });

const listQuery = z
  .object({
    ...searchFilters,
    offset: z.coerce.number().int().min(0).max(5000).default(0).describe('Rows to skip (prefer after: a page token does not shift as sessions arrive)'),
  })
  .strict();

const replayQuery = z
  .object({
    from: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(1).describe('The first interaction (seq) to show; nextSeq of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export function registerSessionRoutes(api: Api, { store }: ApiDeps): void {
  api.route({
    method: 'GET',
    url: '/sessions',
    schema: {
      tags: ['sessions'],
      operationId: 'listSessions',
      summary: 'Recorded sessions, newest first',
      description: 'Filters combine; kind, decision and rule keep sessions with at least one such interaction; since/until keep sessions open during part of the range.',
      querystring: listQuery,
      response: {
        200: z
          .object({ sessions: z.array(sessionSummary), next: z.string().nullable().describe('Pass as after for the next page; null on the last page') })
          .describe('The sessions'),
        ...errorResponses,
      },
    },
    config: { allow: ['approver', 'auditor'] },
    handler: async (request) => {
      const { limit, after, offset, since, until, ...filters } = request.query;
      const before = after === undefined ? undefined : readPageToken(after);
      // One more than asked says whether a next page exists.
      const rows = await store.searchSessions({ ...filters, ...timeRange(since, until, Date.now()), limit: limit + offset + 1, ...(before ? { before } : {}) });
      const sessions = rows.slice(offset, offset + limit);
      const last = sessions.at(-1);
      return { sessions, next: rows.length > offset + limit && last ? pageToken({ startedAt: last.startedAt, id: last.id }) : null };
    },
  });

  api.route({
    method: 'GET',
    url: '/sessions/:id/replay',
    schema: {
      tags: ['sessions'],
      operationId: 'replaySession',
      summary: 'A session as it happened: each request at its time after the start, its decision and rule, approvals, and the answer as recorded (masked)',
      params: z.object({ id: filterText(100) }),
      querystring: replayQuery,
      response: { 200: replayView.describe('One page of the replay'), ...errorResponses },
    },
    config: { allow: ['approver', 'auditor'] },
    handler: async (request) => loadReplay(store, request.params.id, request.query),
  });

  api.route({
    method: 'GET',
    url: '/sessions/:id',
    schema: {
      tags: ['sessions'],
      operationId: 'getSession',
      summary: 'A session, its interactions in order, and whether its hash chain verifies',
      params: z.object({ id: filterText(100) }),
      response: { 200: z.object({ session: sessionView, interactions: z.array(interactionView), chain: chainReport }).describe('The session'), ...errorResponses },
    },
    config: { allow: ['approver', 'auditor'] },
    handler: async (request) => {
      const session = await store.getSession(request.params.id);
      if (!session) throw new NotFound(`no session "${request.params.id}"`);
      const interactions = await store.listInteractions(session.id);
      const chain = verifyChain(interactions);
      return { session, interactions, chain: { ...chain, problems: [...chain.problems] } };
    },
  });
}
