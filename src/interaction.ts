/**
 * The protocol-neutral vocabulary of the pipeline. Adapters translate wire traffic into
 * these shapes; policy, masking, approvals and audit only ever see these shapes.
 */

export type PrincipalKind = 'user' | 'service_account' | 'admin';

export interface Principal {
  readonly id: string;
  readonly kind: PrincipalKind;
  readonly name: string;
  readonly groups: readonly string[];
}

/** The credential a request arrived with (never the secret itself). */
export interface CredentialInfo {
  readonly tokenId: string;
  readonly kind: 'agent' | 'service_account' | 'admin' | 'scim';
  readonly name: string;
  /** Connection names this credential may reach; null means any. */
  readonly connections: readonly string[] | null;
  readonly issuedAt: number;
  readonly expiresAt: number | null;
  /** The agent the credential belongs to (src/inventory/); null or absent when it has none. */
  readonly agent?: AgentFacts | null;
}

/** What policy reads of an agent (`agent.name`, `agent.owner`, `agent.labels`). */
export interface AgentFacts {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
}

export type ConnectionType = 'openai' | 'http' | 'postgres' | 'mcp' | 'anthropic' | 'gemini' | 'azure-openai' | 'bedrock' | 's3';

export interface ConnectionInfo {
  readonly name: string;
  readonly type: ConnectionType;
  readonly tags: readonly string[];
}

export type InteractionKind =
  | 'llm.chat'
  | 'llm.completion'
  | 'llm.responses'
  | 'llm.embeddings'
  | 'llm.other'
  | 'http.request'
  | 'sql.query'
  | 'mcp.tool_call'
  | 'mcp.other'
  | 's3.request';

export interface HttpFacts {
  readonly method: string;
  /** Path below the connection, e.g. `/v1/chat/completions`, without the query string. */
  readonly path: string;
  readonly query: string;
  /** Lower-cased header names; credentials are never included. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface LlmFacts {
  readonly model: string | null;
  readonly stream: boolean;
  /** All message text (system, user, assistant, tool results) joined by newlines. */
  readonly messageText: string;
  readonly toolNames: readonly string[];
  readonly maxTokens: number | null;
  readonly estimatedInputTokens: number;
}

export type SqlStatementKind = string;

export interface SqlFacts {
  readonly text: string;
  /** Lower-case statement kinds in order: 'select', 'insert', 'delete', 'create_table', 'drop', ... */
  readonly kinds: readonly SqlStatementKind[];
  readonly tables: readonly string[];
  /** False when any UPDATE or DELETE (at any depth) lacks a WHERE clause. */
  readonly hasWhere: boolean;
  readonly functions: readonly string[];
  readonly multiStatement: boolean;
  /** Set when PostgreSQL's parser rejected the text. */
  readonly parseError: string | null;
  /** Extra classifier facts (e.g. copy_to_program, select_star, has_limit). */
  readonly flags: Readonly<Record<string, boolean>>;
}

export interface McpFacts {
  readonly method: string;
  readonly tool: string | null;
  readonly arguments: unknown;
  /** What the gateway found in the tool's definition (adapters/mcp/tool-flags.ts): hidden_text, markup_comment, injection_marker, changed, unpinned, … */
  readonly toolFlags?: readonly string[];
  /** What the gateway found in the description of what the request names: the tool, prompt or resource (adapters/mcp/tool-flags.ts). */
  readonly descriptionFlags?: readonly string[];
}

/** An object-storage request (adapters/s3): the S3 operation and what it names. */
export interface S3Facts {
  /** GetObject, PutObject, DeleteObject, ListObjectsV2, CreateMultipartUpload, UploadPart, … */
  readonly operation: string;
  readonly bucket: string | null;
  readonly key: string | null;
  /** The listing prefix (ListObjects), '' when none. */
  readonly prefix: string;
  /** Bytes of the object or part as the client declared them; null when unknown. */
  readonly size: number | null;
  readonly contentType: string;
}

/** Facts policy conditions can read. Only the part for the interaction's protocol is set. */
export interface RequestSummary {
  readonly http?: HttpFacts;
  readonly llm?: LlmFacts;
  readonly sql?: SqlFacts;
  readonly mcp?: McpFacts;
  readonly s3?: S3Facts;
  /** Masking entity types found in the request (e.g. 'email', 'aws_access_key'). */
  readonly entities: readonly string[];
}

export interface Interaction {
  readonly id: string;
  readonly sessionId: string;
  readonly kind: InteractionKind;
  readonly identity: Principal;
  readonly credential: CredentialInfo;
  readonly connection: ConnectionInfo;
  readonly summary: RequestSummary;
  readonly startedAt: number;
}

export interface LimitSpec {
  /** Concurrent sessions (agents) for one identity. */
  readonly concurrentSessionsPerIdentity?: number;
  /** Concurrent sessions on one connection, across identities. */
  readonly concurrentSessionsPerConnection?: number;
  readonly requestsPerMinute?: number;
  readonly llmTokensPerMinute?: number;
}

export interface Obligations {
  /** Masking profile to apply to request and response; null means no masking. */
  readonly maskingProfile: string | null;
  readonly limits: LimitSpec;
}

interface DecisionBase {
  /** Name of the matched rule, or '<default>' when none matched. */
  readonly rule: string;
  readonly obligations: Obligations;
}

export type Decision =
  | (DecisionBase & { readonly action: 'allow' })
  | (DecisionBase & { readonly action: 'deny'; readonly reason: string })
  | (DecisionBase & {
      readonly action: 'approve';
      readonly approvers: readonly string[];
      readonly required: number;
      /** When the approval expires, from its creation. */
      readonly timeoutMs: number;
      /** How long a client may block for a decision (≤ timeoutMs). */
      readonly waitMs: number;
    });
