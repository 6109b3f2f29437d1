/**
 * The gateway's side of the tool server: the SDK's own client transports, Streamable HTTP with the
 * credential only the gateway holds, or a process started for the session over stdio. Whatever the
 * server sends back is bounded: a message larger than the connection's limit ends the stream and
 * fails the requests it was answering, so a hostile server cannot grow the gateway's memory.
 */
import type { Logger } from 'pino';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { UpstreamCredential } from '../../config/schema.ts';
import type { Connection } from '../../connections/registry.ts';
import type { McpOptions } from '../../config/mcp.ts';

export interface UpstreamHooks {
  /** A response stream broke off (too large, cut, or ended without answering): these request ids get no answer from it. */
  readonly onStreamFailed: (ids: readonly (string | number)[], reason: string) => void;
}

export interface Upstream {
  readonly transport: Transport;
  /** HTTP only: later requests carry the protocol version initialize agreed on. */
  setProtocolVersion(version: string): void;
  /** Ends the session with the tool server (stdio: stops the process). */
  close(): Promise<void>;
}

function authHeaders(credential: UpstreamCredential | undefined): Record<string, string> {
  if (credential === undefined) return {};
  switch (credential.type) {
    case 'bearer':
      return { authorization: `Bearer ${credential.value}` };
    case 'header':
      return { [credential.header]: credential.value };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${credential.username}:${credential.value}`).toString('base64')}` };
    case 'entra':
      // Config refuses an entra credential outside azure-openai connections.
      return {};
    default:
      // Other kinds (aws signing …) belong to other connection types; config refuses them here.
      return {};
  }
}

/** The JSON-RPC request ids a POST body carries. */
function requestIds(body: unknown): (string | number)[] {
  if (typeof body !== 'string') return [];
  try {
    const parsed = JSON.parse(body) as unknown;
    return (Array.isArray(parsed) ? parsed : [parsed])
      .filter((m): m is { id: string | number; method: string } => typeof m === 'object' && m !== null && 'method' in m && 'id' in m)
      .map((m) => m.id);
  } catch {
    return [];
  }
}

const EVENT_END = /\r?\n\r?\n|\r\r/g;

/**
 * A response body no larger than `limit` per message: for an event stream, per event (bytes since
 * the last blank line); otherwise the whole body. Past it the stream errors, which the SDK reports.
 */
function bounded(body: ReadableStream<Uint8Array>, limit: number, eventStream: boolean, onEnd: (outcome: 'done' | 'failed', reason: string, resumable: boolean) => void): ReadableStream<Uint8Array> {
  let pending = 0;
  let resumable = false;
  const decoder = new TextDecoder();
  let tail = '';
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (eventStream) {
          const text = tail + decoder.decode(chunk, { stream: true });
          // An event id makes the stream resumable: a server may close it and answer after a reconnect.
          if (!resumable && /(^|\n)id:/.test(text)) resumable = true;
          let last = -1;
          for (const match of text.matchAll(EVENT_END)) last = match.index + match[0].length;
          pending = last === -1 ? pending + chunk.length : Buffer.byteLength(text.slice(last));
          tail = text.slice(-3);
        } else {
          pending += chunk.length;
        }
        if (pending > limit) {
          const reason = `the tool server sent a message larger than ${limit} bytes (mcp.maxMessageBytes)`;
          onEnd('failed', reason, false);
          controller.error(new Error(reason));
          return;
        }
        controller.enqueue(chunk);
      },
      flush() {
        onEnd('done', 'the tool server ended its response stream without answering', resumable);
      },
    }),
  );
}

function httpUpstream(connection: Connection, options: McpOptions, hooks: UpstreamHooks): Upstream {
  const limit = options.maxMessageBytes;
  const boundedFetch = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const response = await fetch(url, init);
    if (response.body === null) return response;
    const ids = init?.method === 'POST' ? requestIds(init.body) : [];
    const eventStream = (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (!eventStream && declared > limit) {
      await response.body.cancel().catch(() => undefined);
      throw new Error(`the tool server's answer is larger than ${limit} bytes (mcp.maxMessageBytes)`);
    }
    const body = bounded(response.body, limit, eventStream, (outcome, reason, resumable) => {
      // A stream that ends after its answer fails nothing: the session drops ids already answered.
      if (ids.length > 0 && eventStream && (outcome === 'failed' || !resumable)) setImmediate(() => hooks.onStreamFailed(ids, reason));
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  const transport = new StreamableHTTPClientTransport(new URL(connection.upstream.href), {
    requestInit: { headers: authHeaders(connection.credential) },
    fetch: boundedFetch,
    // One try: a broken stream fails its requests at once rather than being retried behind the agent's back.
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
  });
  return {
    transport,
    setProtocolVersion: (version) => transport.setProtocolVersion(version),
    close: async () => {
      // Tell the server the session is over, but never wait on a server that does not answer.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([transport.terminateSession().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
      await transport.close();
    },
  };
}

function stdioUpstream(options: McpOptions, logger: Logger, connection: string): Upstream {
  const transport = new StdioClientTransport({
    command: options.command!,
    args: [...options.args],
    env: { ...options.env },
    stderr: 'pipe',
    maxBufferSize: options.maxMessageBytes,
  });
  // Read and dropped (its text may hold the secrets it was given): a full pipe would stall the process.
  let stderrBytes = 0;
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderrBytes += chunk.length;
  });
  transport.stderr?.on('end', () => {
    if (stderrBytes > 0) logger.debug({ connection, stderrBytes }, 'MCP server process wrote to stderr');
  });
  return { transport, setProtocolVersion: () => undefined, close: () => transport.close() };
}

export function openUpstream(connection: Connection, options: McpOptions, hooks: UpstreamHooks, logger: Logger): Upstream {
  return connection.upstream.protocol === 'stdio:' ? stdioUpstream(options, logger, connection.name) : httpUpstream(connection, options, hooks);
}
