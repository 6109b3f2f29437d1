/**
 * Syslog (RFC 5424) over TCP or TLS with octet-counting framing (RFC 6587), or UDP. No npm
 * package we found frames by octet counting with a callback per batch, and the format is small,
 * so it is written here (syslog-format.ts).
 *
 * TCP has no application acknowledgement: a batch written just before the receiver went away may
 * sit unread in a socket buffer. So the last batch written on a connection that is then found
 * closed is written again first on the next one (duplicates of the same writer:seq, which
 * at-least-once allows). UDP delivery is best effort by nature: the cursor moves once sent.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setImmediate as turn } from 'node:timers/promises';
import { datagram, formatMessage, frame, type SyslogHeader } from './syslog-format.ts';
import { describeError, SinkError, type AuditSink, type ExportRecord } from './types.ts';

export interface SyslogSinkOptions {
  readonly name: string;
  readonly transport: 'tcp' | 'tls' | 'udp';
  readonly host: string;
  readonly port: number;
  readonly facility: number;
  readonly appName: string;
  readonly ca?: string;
  readonly servername?: string;
  readonly maxDatagram: number;
}

export class SyslogSink implements AuditSink {
  readonly name: string;
  private readonly header: SyslogHeader;
  private socket: Socket | null = null;
  private udp: UdpSocket | null = null;
  /** Frames of the last batch written on the current connection. */
  private lastBatch: Buffer[] = [];
  /** Written on a connection found closed afterwards: sent again first. */
  private resend: Buffer[] = [];

  constructor(private readonly options: SyslogSinkOptions) {
    this.name = options.name;
    this.header = { facility: options.facility, hostname: hostname(), appName: options.appName, procId: String(process.pid) };
  }

  async send(records: readonly ExportRecord[], signal: AbortSignal): Promise<void> {
    if (this.options.transport === 'udp') return this.sendUdp(records);
    const frames = records.map((r) => frame(formatMessage(r, this.header)));
    // Lets a close the receiver already sent be seen before writing into a dead connection.
    await turn();
    if (this.socket && !isOpen(this.socket)) this.drop();
    try {
      const socket = this.socket ?? (this.socket = await this.connect(signal));
      await write(socket, Buffer.concat([...this.resend, ...frames]), signal);
      this.resend = [];
      this.lastBatch = frames;
    } catch (err) {
      this.drop();
      if (err instanceof SinkError) throw err;
      throw new SinkError(`syslog over ${this.options.transport} failed: ${describeError(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket?.destroy();
    this.socket = null;
    const udp = this.udp;
    this.udp = null;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  private drop(): void {
    if (this.lastBatch.length > 0) this.resend = this.lastBatch;
    this.lastBatch = [];
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(signal: AbortSignal): Promise<Socket> {
    const o = this.options;
    return new Promise<Socket>((resolve, reject) => {
      const socket =
        o.transport === 'tls'
          ? tlsConnect({ host: o.host, port: o.port, servername: o.servername ?? (isIp(o.host) ? undefined : o.host), ...(o.ca ? { ca: o.ca } : {}) })
          : tcpConnect({ host: o.host, port: o.port });
      const ready = o.transport === 'tls' ? 'secureConnect' : 'connect';
      const fail = (err: unknown) => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const abort = () => fail(signal.reason ?? new Error('aborted'));
      const cleanup = () => {
        socket.off('error', fail);
        socket.off(ready, ok);
        signal.removeEventListener('abort', abort);
      };
      const ok = () => {
        cleanup();
        // Errors after connecting are seen at the next write; a receiver's own bytes are discarded.
        socket.on('error', () => undefined);
        socket.resume();
        resolve(socket);
      };
      socket.once('error', fail);
      socket.once(ready, ok);
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  private async sendUdp(records: readonly ExportRecord[]): Promise<void> {
    if (!this.udp) {
      this.udp = createSocket(this.options.host.includes(':') ? 'udp6' : 'udp4');
      this.udp.on('error', () => undefined);
    }
    const udp = this.udp;
    for (const record of records) {
      const message = datagram(record, this.header, this.options.maxDatagram);
      await new Promise<void>((resolve, reject) =>
        udp.send(message, this.options.port, this.options.host, (err) => (err ? reject(new SinkError(`syslog over udp failed: ${describeError(err)}`, { cause: err })) : resolve())),
      );
    }
  }
}

function isOpen(socket: Socket): boolean {
  return !socket.destroyed && socket.writable && !socket.readableEnded;
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function write(socket: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const closed = () => finish(new Error('the receiver closed the connection'));
    const abort = () => finish(signal.reason ?? new Error('aborted'));
    const finish = (err?: unknown) => {
      socket.off('close', closed);
      signal.removeEventListener('abort', abort);
      if (err) reject(err);
      else resolve();
    };
    socket.once('close', closed);
    signal.addEventListener('abort', abort, { once: true });
    socket.write(data, (err) => finish(err ?? undefined));
  });
}
