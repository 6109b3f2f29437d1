import type { ConnectionInfo, ConnectionType } from '../interaction.ts';
import { ConfigError, Conflict, InvalidArgument, NotFound } from '../errors.ts';
import type { ConnectionRow, Store } from '../store/types.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { CONNECTION_NAME, credentialSchema, type ConnectionConfig, type UpstreamCredential } from '../config/schema.ts';
import { formatDuration } from '../util/durations.ts';
import { DEFAULT_MCP_OPTIONS, mcpOptionsSchema, type McpOptions } from '../config/mcp.ts';

export interface Connection extends ConnectionInfo {
  readonly upstream: URL;
  /** Decrypted only in memory; never serialized by the API, logs or recordings. */
  readonly credential: UpstreamCredential | undefined;
  /** Whether cookies pass between the agent and the upstream (both ways); false unless configured. */
  readonly passCookies: boolean;
  /** MCP connections: how the tool server is reached and the session bounds (defaults when not configured). */
  readonly mcp?: McpOptions;
  readonly source: 'config' | 'api';
}

/** What the API shows of a connection: everything except the credential. */
export interface ConnectionView {
  readonly name: string;
  readonly type: ConnectionType;
  readonly upstream: string;
  readonly tags: readonly string[];
  readonly hasCredential: boolean;
  readonly source: 'config' | 'api';
}

export function viewConnection(c: Connection): ConnectionView {
  return { name: c.name, type: c.type, upstream: c.upstream.href, tags: c.tags, hasCredential: c.credential !== undefined, source: c.source };
}

const aad = (name: string) => `connection:${name}`;

function freezeConnection(c: Connection): Connection {
  return Object.freeze({ ...c, tags: Object.freeze([...c.tags]) });
}

/**
 * Every connection the gateway can reach: the ones in gatehouse.yaml and the ones added through the
 * admin API (kept in the store with the credential sealed under the master key).
 */
export class ConnectionRegistry {
  private connections = new Map<string, Connection>();
  private readonly refreshing = new Map<string, Promise<void>>();

  private constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    private readonly fromConfig: ReadonlyMap<string, Connection>,
  ) {}

  static async create(configured: readonly ConnectionConfig[], store: Store, box: SecretBox): Promise<ConnectionRegistry> {
    const fromConfig = new Map<string, Connection>();
    for (const c of configured) {
      if (fromConfig.has(c.name)) throw new ConfigError(`connection "${c.name}" is defined twice in the configuration`);
      fromConfig.set(c.name, freezeConnection({ name: c.name, type: c.type, tags: c.tags, upstream: new URL(c.upstream), credential: c.credential, passCookies: c.passCookies, ...(c.type === 'mcp' ? { mcp: c.mcp ?? DEFAULT_MCP_OPTIONS } : {}), source: 'config' }));
    }
    const registry = new ConnectionRegistry(store, box, fromConfig);
    await registry.reload();
    return registry;
  }

  /** Re-reads API-defined connections (another replica may have changed them). */
  async reload(): Promise<void> {
    const next = new Map(this.fromConfig);
    for (const row of await this.store.listConnections()) {
      if (next.has(row.name)) continue;
      next.set(row.name, this.fromRow(row));
    }
    this.connections = next;
  }

  private fromRow(row: ConnectionRow): Connection {
    const credential = row.credential === null ? undefined : credentialSchema.parse(JSON.parse(this.box.open(row.credential, aad(row.name))));
    return freezeConnection({
      name: row.name,
      type: row.type as ConnectionType,
      tags: row.tags,
      upstream: new URL(row.upstream),
      credential,
      passCookies: row.options.passCookies === true,
      ...(row.type === 'mcp' ? { mcp: row.options.mcp === undefined ? DEFAULT_MCP_OPTIONS : mcpOptionsSchema.parse(row.options.mcp) } : {}),
      source: 'api',
    });
  }

  /**
   * Re-reads one API-defined connection after any replica changed it; a row gone means the
   * connection is gone. Refreshes of one name run in turn, so an older read never lands last.
   */
  refresh(name: string): Promise<void> {
    if (this.fromConfig.has(name)) return Promise.resolve();
    const next = (this.refreshing.get(name) ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const row = await this.store.getConnection(name);
      if (row) this.connections.set(name, this.fromRow(row));
      else this.connections.delete(name);
    });
    this.refreshing.set(name, next);
    void next.finally(() => {
      if (this.refreshing.get(name) === next) this.refreshing.delete(name);
    }).catch(() => undefined);
    return next;
  }

  get(name: string): Connection | undefined {
    return this.connections.get(name);
  }

  list(): Connection[] {
    return [...this.connections.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async put(input: { name: string; type: ConnectionType; upstream: string; tags: readonly string[]; credential?: UpstreamCredential; passCookies?: boolean; mcp?: McpOptions | undefined }): Promise<Connection> {
    if (!CONNECTION_NAME.test(input.name)) {
      throw new InvalidArgument('connection name: lower-case letters, digits, ".", "_" or "-", at most 63 characters');
    }
    // Whoever holds an admin API token must not gain a shell on the gateway's host.
    if (input.mcp?.command !== undefined) throw new InvalidArgument('a stdio MCP server (mcp.command) runs a program on the gateway host: define it in gatehouse.yaml, not through the API');
    if (this.fromConfig.has(input.name)) {
      throw new Conflict(`connection "${input.name}" is defined in the configuration file; change it there`);
    }
    const existing = await this.store.getConnection(input.name);
    const now = Date.now();
    // Omitting the credential on update keeps the stored one: the API never hands it back to resend.
    const credential = input.credential ? this.box.seal(JSON.stringify(input.credential), aad(input.name)) : (existing?.credential ?? null);
    const row: ConnectionRow = {
      name: input.name,
      type: input.type,
      upstream: new URL(input.upstream).href,
      tags: [...input.tags],
      credential,
      options: { ...(input.passCookies ? { passCookies: true } : {}), ...(input.mcp ? { mcp: mcpInput(input.mcp) } : {}) },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await this.store.upsertConnection(row);
    const connection = this.fromRow(row);
    this.connections.set(connection.name, connection);
    return connection;
  }

  async remove(name: string): Promise<void> {
    if (this.fromConfig.has(name)) throw new Conflict(`connection "${name}" is defined in the configuration file; remove it there`);
    if (!(await this.store.deleteConnection(name))) throw new NotFound(`no connection "${name}"`);
    this.connections.delete(name);
  }
}

/** What the store keeps of an API-defined MCP connection's options: durations and sizes as the schema reads them back. */
function mcpInput(options: McpOptions): Record<string, unknown> {
  return { args: options.args, maxSessions: options.maxSessions, maxMessageBytes: options.maxMessageBytes, callTimeout: formatDuration(options.callTimeout), idleTimeout: formatDuration(options.idleTimeout), pinTools: options.pinTools, approvers: [...options.approvers] };
}
