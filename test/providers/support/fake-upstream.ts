/**
 * A loopback stand-in for a paid inference API: it records each request and answers with the
 * steps the test scripts, byte for byte (the provider's real wire format, written by the test).
 * A step that is a promise is waited for, so a test drives a stream by events, never by time.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type Step = string | Buffer | Promise<unknown>;

export interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly steps: readonly Step[];
}

export interface FakeUpstream {
  readonly url: string;
  readonly received: Received[];
  /** What the next requests get; the default answers 500. */
  respond: (request: Received) => Reply;
  close(): Promise<void>;
}

/** Sends the headers at once, then each step as scripted: bytes are written, a promise is waited for. */
export async function writeReply(res: ServerResponse, reply: Reply): Promise<void> {
  res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'application/json' });
  res.flushHeaders();
  for (const step of reply.steps) {
    if (typeof step === 'string' || Buffer.isBuffer(step)) res.write(step);
    else await step;
  }
  res.end();
}

/** Listens on a free loopback port; close() also cuts the connections still open. */
export async function listenLoopback(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const received: Received[] = [];
  const self = {
    url: '',
    received,
    respond: (_: Received): Reply => ({ status: 500, steps: ['{"error":"not scripted"}'] }),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: Received = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      void writeReply(res, self.respond(request)).catch(() => res.destroy());
    });
  });
  const listening = await listenLoopback(server);
  self.url = listening.url;
  self.close = listening.close;
  return self;
}

/** A promise the test resolves when it has seen what it waits for. */
export function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export const json = (value: unknown): Reply => ({ headers: { 'content-type': 'application/json' }, steps: [JSON.stringify(value)] });

/** An AWS access key id the `secrets` profile finds (and no real one). */
export const SECRET = 'AKIAQ7XZ4M2P9WLK3TRB';
