/** Schemas of the audit search filters (sessions list, audit search) and of a session replay. */
import { z } from 'zod';
import type { ReplayApprovalEvent, ReplayEntry, ReplayPage } from '../audit/replay.ts';
import type { ReplayRequest, ReplayResponse } from '../audit/replay-kinds.ts';
import { epochMs } from './schemas.ts';

/** The decisions an interaction is recorded with. */
export const DECISIONS = ['allow', 'deny', 'approve', 'limit'] as const;

/** Text a filter compares: no control characters (PostgreSQL refuses NUL, and none belongs in a name). */
export const filterText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters');

const name = (what: string) => filterText(256).optional().describe(what);

/** The filters both searches take, as query parameters; each given one must hold. */
export const searchFilters = {
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  after: filterText(300).optional().describe('The next token of the previous page'),
  principal: name('Only this identity (name or id)'),
  agent: name('Only this agent (today: the name of the token it used)'),
  connection: name('Only this connection'),
  kind: z
    .string()
    .regex(/^[a-z0-9_]+(?:\.[a-z0-9_]+)*$/, 'an interaction kind such as llm.chat, sql.query or mcp.tool_call')
    .max(64)
    .optional()
    .describe('Only this interaction kind: llm.chat, sql.query, mcp.tool_call, http.request …'),
  decision: z.enum(DECISIONS).optional().describe('Only this decision'),
  rule: name('Only interactions this policy rule decided'),
  since: filterText(40).optional().describe('From this time: a duration back from now (7d, 12h), an ISO 8601 date or time, or epoch ms'),
  until: filterText(40).optional().describe('Before this time, written as since is'),
};

const message = z.object({ role: z.string(), text: z.string() });
const toolCall = z.object({ name: z.string(), arguments: z.string() });
const kindType = z.enum(['llm', 'sql', 'mcp', 'http']);

const replayRequest = z
  .object({
    type: kindType,
    method: z.string().nullable().optional(),
    target: z.string().nullable().optional(),
    model: z.string().nullable().optional(),
    messages: z.array(message).optional().describe('LLM: the conversation sent, system prompt first'),
    tools: z.array(z.string()).optional().describe('LLM: the tools offered'),
    sql: z.string().nullable().optional(),
    params: z.array(z.unknown()).nullable().optional(),
    tool: z.string().nullable().optional(),
    arguments: z.string().nullable().optional().describe('MCP: the arguments (JSON text)'),
    body: z.string().nullable().optional().describe('The recorded body when no reader applied'),
  } satisfies Record<keyof ReplayRequest, z.ZodType>)
  .meta({ id: 'ReplayRequest' });

const replayResponse = z
  .object({
    type: kindType,
    status: z.number().int().nullable().optional(),
    text: z.string().nullable().optional().describe('LLM: the answer; MCP: the text of the result'),
    toolCalls: z.array(toolCall).optional(),
    command: z.string().nullable().optional().describe('SQL: the command tag, e.g. SELECT 2'),
    rows: z.number().int().nullable().optional(),
    error: z.object({ code: z.string().nullable(), message: z.string() }).nullable().optional(),
    isError: z.boolean().optional(),
    body: z.string().nullable().optional(),
  } satisfies Record<keyof ReplayResponse, z.ZodType>)
  .meta({ id: 'ReplayResponse' });

const approvalEvent = z.object({
  action: z.string(),
  offsetMs: z.number().int(),
  at: epochMs,
  actor: z.string(),
  note: z.string().nullable(),
} satisfies Record<keyof ReplayApprovalEvent, z.ZodType>);

const replayEntry = z
  .object({
    seq: z.number().int(),
    interactionId: z.string(),
    offsetMs: z.number().int().describe('Milliseconds after the session started'),
    gapMs: z.number().int().describe('Milliseconds since the previous interaction started'),
    startedAt: epochMs,
    completedAt: epochMs.nullable(),
    durationMs: z.number().nullable(),
    kind: z.string(),
    status: z.string(),
    decision: z.string(),
    rule: z.string().nullable(),
    reason: z.string().nullable(),
    errorCode: z.string().nullable(),
    upstreamCode: z.string().nullable(),
    request: replayRequest,
    response: replayResponse.nullable().describe('Null when nothing came back (refused, or never answered)'),
    approval: z.object({ id: z.string(), events: z.array(approvalEvent) }).nullable(),
    bodiesPurgedAt: epochMs.nullable(),
  } satisfies Record<keyof ReplayEntry, z.ZodType>)
  .meta({ id: 'ReplayEntry' });

export const replayView = z
  .object({
    session: z.object({
      id: z.string(),
      principalId: z.string().nullable(),
      principalName: z.string(),
      tokenId: z.string().nullable(),
      agent: z.string().nullable(),
      connection: z.string(),
      protocol: z.string(),
      clientAddr: z.string().nullable(),
      startedAt: epochMs,
      endedAt: epochMs.nullable(),
      endReason: z.string().nullable(),
    }),
    entries: z.array(replayEntry),
    total: z.number().int().describe('Interactions the session has in all'),
    nextSeq: z.number().int().nullable().describe('Pass as from for the next page; null on the last page'),
  } satisfies Record<keyof ReplayPage, z.ZodType>)
  .meta({ id: 'SessionReplay' });
