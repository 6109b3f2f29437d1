import { InvalidArgument } from '../errors.ts';
import type { ConnectionType, InteractionKind, PrincipalKind, RequestSummary, SqlFacts } from '../interaction.ts';
import type { PolicyInput } from './types.ts';
import { foldModel } from '../classify/llm.ts';

/** The flags of `gatehouse policy test`: who, where, and exactly one of sql / http / llmPrompt / mcpTool. */
export interface TestInputFlags {
  readonly identity: string;
  readonly groups?: readonly string[];
  readonly kind?: PrincipalKind;
  readonly connection: string;
  readonly connectionType?: ConnectionType;
  readonly connectionTags?: readonly string[];
  readonly sql?: string;
  /** `METHOD /path?query`, e.g. `GET /v1/models`. */
  readonly http?: string;
  readonly llmPrompt?: string;
  readonly model?: string;
  readonly mcpTool?: string;
  readonly mcpArguments?: unknown;
  readonly time?: Date;
  /** Reasons of live just-in-time grants the identity holds for the connection (`--grant`), one grant each. */
  readonly grants?: readonly string[];
  /** The agent the credential belongs to (`--agent-name`, `--agent-owner`, `--agent-label`). */
  readonly agent?: { readonly name: string; readonly owner: string; readonly labels: Readonly<Record<string, string>> };
}

/** How long a grant given to a dry run lasts from its `time`. */
const TEST_GRANT_MS = 3_600_000;

export interface TestInputDeps {
  readonly classifySql?: (text: string) => SqlFacts;
  readonly detectEntities?: (text: string) => string[];
}

const invalid = (message: string) => new InvalidArgument(message);

function parseHttpFlag(flag: string): { method: string; path: string; query: string } {
  const match = /^([A-Za-z]+)\s+(\/\S*)$/.exec(flag.trim());
  if (match === null) throw invalid(`http must look like "GET /path", got ${JSON.stringify(flag)}`);
  const [, method = '', target = ''] = match;
  const q = target.indexOf('?');
  return { method: method.toUpperCase(), path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1) };
}

/** Builds the PolicyInput a real request with these facts would produce, for dry runs and tests. */
export function buildTestInput(flags: TestInputFlags, deps: TestInputDeps = {}): PolicyInput {
  const given = (['sql', 'http', 'llmPrompt', 'mcpTool'] as const).filter((key) => flags[key] !== undefined);
  if (given.length !== 1 && !(given.length === 0 && flags.model !== undefined)) {
    throw invalid('give exactly one of sql, http, llmPrompt (or just model) or mcpTool');
  }
  const entitiesOf = (text: string) => deps.detectEntities?.(text) ?? [];
  let kind: InteractionKind;
  let summary: RequestSummary;
  let defaultType: ConnectionType;

  if (flags.sql !== undefined) {
    if (deps.classifySql === undefined) throw invalid('testing SQL needs the SQL classifier');
    kind = 'sql.query';
    defaultType = 'postgres';
    summary = { sql: deps.classifySql(flags.sql), entities: entitiesOf(flags.sql) };
  } else if (flags.http !== undefined) {
    const http = parseHttpFlag(flags.http);
    kind = 'http.request';
    defaultType = 'http';
    summary = { http: { ...http, headers: {} }, entities: entitiesOf(`${http.path}?${http.query}`) };
  } else if (flags.mcpTool !== undefined) {
    kind = 'mcp.tool_call';
    defaultType = 'mcp';
    const args = flags.mcpArguments ?? {};
    summary = { mcp: { method: 'tools/call', tool: flags.mcpTool, arguments: args }, entities: entitiesOf(JSON.stringify(args)) };
  } else {
    const text = flags.llmPrompt ?? '';
    kind = 'llm.chat';
    defaultType = 'openai';
    summary = {
      llm: {
        // Folded as the live classifier folds it, so a dry run decides as the gateway would.
        model: flags.model === undefined ? null : foldModel(flags.model),
        stream: false,
        messageText: text,
        toolNames: [],
        maxTokens: null,
        // The usual rule of thumb of four characters per token; good enough for a dry run.
        estimatedInputTokens: Math.ceil(text.length / 4),
      },
      entities: entitiesOf(text),
    };
  }

  const time = flags.time ?? new Date();
  const principalKind = flags.kind ?? 'user';
  return {
    identity: { id: flags.identity, name: flags.identity, kind: principalKind, groups: [...(flags.groups ?? [])] },
    credential: {
      tokenId: 'policy-test',
      kind: principalKind === 'service_account' ? 'service_account' : principalKind === 'admin' ? 'admin' : 'agent',
      name: flags.identity,
      connections: null,
      issuedAt: time.getTime(),
      expiresAt: null,
      agent: flags.agent ? { id: 'policy-test', ...flags.agent } : null,
    },
    connection: { name: flags.connection, type: flags.connectionType ?? defaultType, tags: [...(flags.connectionTags ?? [])] },
    kind,
    summary,
    time,
    grants: {
      items: (flags.grants ?? []).map((reason, index) => ({
        id: `grt_policy_test_${index + 1}`,
        connection: flags.connection,
        reason,
        grantedAt: time.getTime(),
        expiresAt: time.getTime() + TEST_GRANT_MS,
        approvedBy: ['policy-test'],
      })),
      consulted: false,
    },
  };
}
