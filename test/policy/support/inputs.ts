import type { ConnectionInfo, InteractionKind, Principal, RequestSummary, SqlFacts } from '../../../src/interaction.ts';
import type { PolicyInput } from '../../../src/policy/types.ts';

/** SqlFacts as the classifier reports a plain, safe `SELECT … WHERE …`, with overrides. */
export function sqlFacts(overrides: Partial<SqlFacts> = {}): SqlFacts {
  return {
    text: 'select id from orders where id = 1',
    kinds: ['select'],
    tables: ['orders'],
    hasWhere: true,
    functions: [],
    multiStatement: false,
    parseError: null,
    flags: {},
    ...overrides,
  };
}

export interface InputOverrides {
  readonly identity?: Partial<Principal>;
  readonly connection?: Partial<ConnectionInfo>;
  readonly kind?: InteractionKind;
  readonly summary?: Partial<RequestSummary>;
  readonly time?: Date;
}

/** A PolicyInput for user alice on the postgres connection prod-db, overridable field by field. */
export function policyInput(overrides: InputOverrides = {}): PolicyInput {
  const identity: Principal = { id: 'u-alice', kind: 'user', name: 'alice', groups: ['analysts'], ...overrides.identity };
  return {
    identity,
    credential: {
      tokenId: 't1',
      kind: identity.kind === 'service_account' ? 'service_account' : 'agent',
      name: identity.name,
      connections: null,
      issuedAt: 0,
      expiresAt: null,
    },
    connection: { name: 'prod-db', type: 'postgres', tags: [], ...overrides.connection },
    kind: overrides.kind ?? 'sql.query',
    summary: { entities: [], ...overrides.summary },
    time: overrides.time ?? new Date('2025-03-04T10:30:00Z'),
  };
}

export const sqlInput = (facts: Partial<SqlFacts>, overrides: InputOverrides = {}): PolicyInput =>
  policyInput({ ...overrides, kind: 'sql.query', summary: { sql: sqlFacts(facts), entities: [], ...overrides.summary } });

export const llmInput = (text: string, overrides: InputOverrides & { model?: string | null; maxTokens?: number | null } = {}): PolicyInput =>
  policyInput({
    ...overrides,
    connection: { name: 'openai', type: 'openai', tags: [], ...overrides.connection },
    kind: overrides.kind ?? 'llm.chat',
    summary: {
      llm: {
        model: overrides.model === undefined ? 'gpt-4o' : overrides.model,
        stream: false,
        messageText: text,
        toolNames: [],
        maxTokens: overrides.maxTokens ?? null,
        estimatedInputTokens: Math.ceil(text.length / 4),
      },
      entities: [],
      ...overrides.summary,
    },
  });
