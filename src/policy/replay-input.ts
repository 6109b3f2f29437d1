import type {
  ConnectionType,
  HttpFacts,
  InteractionKind,
  LlmFacts,
  McpFacts,
  PrincipalKind,
  RequestSummary,
  SqlFacts,
} from '../interaction.ts';
import type { GrantFact, PolicyInput } from './types.ts';

/**
 * One recorded request as policy replay reads it: the interaction row, its session's caller and
 * connection, and what the caller of replay could look up about them now (null where it could not).
 * Policy stays free of the store: the command that reads the store builds these.
 */
export interface ReplayRecord {
  readonly id: string;
  readonly startedAt: number;
  readonly kind: string;
  /** As recorded: allow, approve, deny, limit … */
  readonly decision: string;
  readonly rule: string | null;
  readonly method: string | null;
  /** As recorded (masked as the recording is). */
  readonly target: string | null;
  readonly model: string | null;
  /** The recorded summary JSON (pipeline.ts recordableSummary): any shape, read defensively. */
  readonly summary: unknown;
  readonly principal: {
    readonly id: string | null;
    readonly name: string;
    /** The principal's groups as stored now; null when the principal no longer exists. */
    readonly groups: readonly string[] | null;
  };
  readonly connection: {
    readonly name: string;
    /** From the connection registry now; null when the connection no longer exists. */
    readonly type: ConnectionType | null;
    readonly tags: readonly string[] | null;
  };
  /** The caller's grants for the connection that were live at `startedAt`; null when not looked up. */
  readonly grants?: readonly GrantFact[] | null;
}

/** A fact of the decision input that the recording cannot give back exactly. */
export type ReplayGap = 'message_text' | 'sql_text' | 'entities' | 'groups' | 'connection' | 'grants' | 'summary';

/** Where each gap sits, as a condition names it (for reports). */
export const GAP_FACTS: Readonly<Record<ReplayGap, string>> = {
  message_text: 'request.llm.message_text (the prompt is recorded only in the masked body)',
  sql_text: 'request.sql.text (the statement is recorded only masked)',
  entities: 'request.entities (recorded only when the policy of the time read them, and never for refusals)',
  groups: 'identity.groups (the principal no longer exists)',
  connection: 'connection.type and connection.tags (the connection no longer exists)',
  grants: 'grants (the access grants of the time could not be read)',
  summary: 'request facts (the recorded summary is missing or malformed)',
};

const KINDS: ReadonlySet<string> = new Set<InteractionKind>([
  'llm.chat', 'llm.completion', 'llm.responses', 'llm.embeddings', 'llm.other', 'http.request', 'sql.query', 'mcp.tool_call', 'mcp.other',
]);

export const isInteractionKind = (kind: string): kind is InteractionKind => KINDS.has(kind);

const PRINCIPAL_PREFIX: Readonly<Record<string, PrincipalKind>> = { usr: 'user', sa: 'service_account', adm: 'admin' };

/** Ids say what they name (util/ids.ts), so the kind of a principal survives its deletion. */
function principalKind(id: string | null): PrincipalKind {
  return PRINCIPAL_PREFIX[id?.slice(0, id.indexOf('_')) ?? ''] ?? 'user';
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const str = (value: unknown, fallback = ''): string => (typeof value === 'string' ? value : fallback);
const strOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(value)) for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function boolRecord(value: unknown): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  if (isObject(value)) for (const [k, v] of Object.entries(value)) if (typeof v === 'boolean') out[k] = v;
  return out;
}

const DEFAULT_TYPE: Readonly<Record<string, ConnectionType>> = { llm: 'openai', http: 'http', sql: 'postgres', mcp: 'mcp' };

export interface RebuiltInput {
  readonly input: PolicyInput;
  /** The facts this input holds only approximately or not at all. */
  readonly gaps: ReadonlySet<ReplayGap>;
}

/**
 * The decision input of a recorded request, as close to the original as the record allows. Facts
 * the recording left out are filled with neutral values and named in `gaps`, so a rule that reads
 * one is reported as not replayable exactly instead of being trusted.
 */
export function rebuildInput(record: ReplayRecord): RebuiltInput {
  const gaps = new Set<ReplayGap>();
  const kind = record.kind as InteractionKind;
  const family = kind.slice(0, kind.indexOf('.'));
  const recorded = isObject(record.summary) ? record.summary : {};

  const entities = strings(recorded.entities);
  // An empty list is what the recorder writes both when nothing was found and when nothing was looked for.
  if (entities.length === 0) gaps.add('entities');
  const summary: { -readonly [K in keyof RequestSummary]: RequestSummary[K] } = { entities };

  // Families are rebuilt as recorded: the recorder keeps every family the request had (an OpenAI
  // request has http facts, and llm ones unless it is llm.other), so one absent was absent then too.
  const { llm, sql, http, mcp } = recorded;
  if (!isObject(record.summary) || [llm, sql, http, mcp].every((f) => f === undefined)) gaps.add('summary');
  for (const f of [llm, sql, http, mcp]) if (f !== undefined && !isObject(f)) gaps.add('summary');
  if (isObject(llm)) {
    gaps.add('message_text');
    summary.llm = {
      model: strOrNull(llm.model),
      stream: llm.stream === true,
      messageText: '',
      toolNames: strings(llm.toolNames),
      maxTokens: num(llm.maxTokens),
      estimatedInputTokens: num(llm.estimatedInputTokens) ?? 0,
    } satisfies LlmFacts;
  }
  if (isObject(sql)) {
    gaps.add('sql_text');
    if (!Array.isArray(sql.kinds) || typeof sql.hasWhere !== 'boolean') gaps.add('summary');
    summary.sql = {
      // The masked statement: closer than nothing for a condition, and never exact.
      text: record.target ?? '',
      kinds: strings(sql.kinds),
      tables: strings(sql.tables),
      hasWhere: sql.hasWhere !== false,
      functions: strings(sql.functions),
      multiStatement: sql.multiStatement === true,
      parseError: strOrNull(sql.parseError),
      flags: boolRecord(sql.flags),
    } satisfies SqlFacts;
  }
  if (isObject(http)) {
    summary.http = { method: str(http.method), path: str(http.path), query: str(http.query), headers: stringRecord(http.headers) } satisfies HttpFacts;
  }
  if (isObject(mcp)) {
    // Facts added to McpFacts later (tool flags) pass through as recorded, when they are string lists.
    const lists = Object.fromEntries(Object.entries(mcp).filter(([k, v]) => !['method', 'tool', 'arguments'].includes(k) && Array.isArray(v)).map(([k, v]) => [k, strings(v)]));
    summary.mcp = { ...lists, method: str(mcp.method), tool: strOrNull(mcp.tool), arguments: mcp.arguments ?? null } satisfies McpFacts;
  }

  const { principal, connection } = record;
  if (principal.groups === null) gaps.add('groups');
  if (connection.type === null || connection.tags === null) gaps.add('connection');
  if (record.grants === null || record.grants === undefined) gaps.add('grants');
  const time = new Date(record.startedAt);
  const kindOfPrincipal = principalKind(principal.id);
  return {
    gaps,
    input: {
      identity: { id: principal.id ?? principal.name, name: principal.name, kind: kindOfPrincipal, groups: [...(principal.groups ?? [])] },
      // No rule reads the credential; it is filled for the shape's sake.
      credential: {
        tokenId: 'policy-replay',
        kind: kindOfPrincipal === 'service_account' ? 'service_account' : kindOfPrincipal === 'admin' ? 'admin' : 'agent',
        name: principal.name,
        connections: null,
        issuedAt: record.startedAt,
        expiresAt: null,
      },
      connection: { name: connection.name, type: connection.type ?? DEFAULT_TYPE[family] ?? 'http', tags: [...(connection.tags ?? [])] },
      kind,
      summary,
      time,
      grants: { items: [...(record.grants ?? [])], consulted: false },
    },
  };
}
