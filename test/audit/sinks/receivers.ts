/**
 * Real receivers for the export sinks' tests, on 127.0.0.1: a syslog server over TCP or TLS that
 * parses octet-counted frames, a UDP one, and an HTTP one (webhook, Splunk HEC, OTLP/HTTP JSON).
 * Each can be taken down and brought back on the same port, and told to misbehave.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';

export interface SyslogMessage {
  readonly raw: string;
  readonly pri: number;
  readonly msgid: string;
  readonly sd: Record<string, string>;
  /** The JSON after the BOM. */
  readonly json: any;
}

/** Parses one RFC 5424 message as the sink writes it. */
export function parseSyslog(raw: string): SyslogMessage {
  const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*?[^\\]\]) \uFEFF([\s\S]*)$/.exec(raw);
  if (!m) throw new Error(`not an RFC 5424 message: ${raw.slice(0, 200)}`);
  const sd: Record<string, string> = {};
  for (const p of m[7]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) sd[p[1]!] = p[2]!.replace(/\\(.)/g, '$1');
  return { raw, pri: Number(m[1]), msgid: m[6]!, sd, json: JSON.parse(m[8]!) };
}

/** Splits an octet-counted stream into messages; the rest waits for more bytes. */
export class OctetCounter {
  private buffer = Buffer.alloc(0);
  push(chunk: Buffer): string[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const out: string[] = [];
    for (;;) {
      const space = this.buffer.indexOf(0x20);
      if (space < 0) break;
      const length = Number(this.buffer.subarray(0, space).toString('ascii'));
      if (!Number.isInteger(length) || length <= 0) throw new Error(`bad frame length ${this.buffer.subarray(0, space).toString('ascii')}`);
      if (this.buffer.length < space + 1 + length) break;
      out.push(this.buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
      this.buffer = this.buffer.subarray(space + 1 + length);
    }
    return out;
  }
}

abstract class Receiver {
  port = 0;
  protected server: Server | null = null;
  protected sockets = new Set<Socket>();

  protected abstract make(): Server;

  async start(port = this.port): Promise<this> {
    const server = this.make();
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts every connection: the receiver is down. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export class SyslogTcpReceiver extends Receiver {
  readonly messages: SyslogMessage[] = [];
  /** Cut each connection after this many messages (a receiver that closes mid-batch). */
  cutAfter: number | null = null;

  constructor(private readonly tls?: { key: string; cert: string }) {
    super();
  }

  protected make(): Server {
    const onSocket = (socket: Socket) => {
      const counter = new OctetCounter();
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        let seen = 0;
        for (const raw of counter.push(chunk)) {
          this.messages.push(parseSyslog(raw));
          if (this.cutAfter !== null && ++seen >= this.cutAfter) {
            socket.destroy();
            return;
          }
        }
      });
    };
    return this.tls ? createTlsServer({ key: this.tls.key, cert: this.tls.cert }, onSocket) : createTcpServer(onSocket);
  }
}

export class SyslogUdpReceiver {
  readonly messages: SyslogMessage[] = [];
  port = 0;
  private socket = createSocket('udp4');

  async start(): Promise<this> {
    this.socket.on('message', (msg) => this.messages.push(parseSyslog(msg.toString('utf8'))));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    this.port = this.socket.address().port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

export interface HttpDelivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type HttpBehaviour = 'ok' | 'status-500' | 'status-413' | 'hang' | 'huge' | 'close' | 'redirect';

export class HttpReceiver extends Receiver {
  readonly deliveries: HttpDelivery[] = [];
  behaviour: HttpBehaviour = 'ok';
  /** Answers 413 to a body longer than this. */
  maxBody = Infinity;

  protected make(): Server {
    return createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        switch (this.behaviour) {
          case 'hang':
            return;
          case 'close':
            req.socket.destroy();
            return;
          case 'status-500':
            res.writeHead(500).end('no');
            return;
          case 'status-413':
            res.writeHead(413).end();
            return;
          case 'redirect':
            res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end();
            return;
        }
        if (body.length > this.maxBody) {
          res.writeHead(413).end();
          return;
        }
        this.deliveries.push({ headers: req.headers, body });
        if (this.behaviour === 'huge') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const block = Buffer.alloc(1024 * 1024, 120);
          let sent = 0;
          const more = () => {
            while (sent < 64 && res.write(block)) sent++;
            if (sent < 64) res.once('drain', more);
            else res.end();
          };
          res.on('error', () => undefined);
          more();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/audit`;
  }
}

/** Checks a gatehouse webhook delivery's signature the way a receiver would; false when it does not match. */
export function verifyWebhook(delivery: HttpDelivery, secret: string): boolean {
  const timestamp = String(delivery.headers['x-gatehouse-timestamp'] ?? '');
  const given = Buffer.from(String(delivery.headers['x-gatehouse-signature'] ?? ''));
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${delivery.body}`).digest('hex')}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
