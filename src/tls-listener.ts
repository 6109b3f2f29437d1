/**
 * TLS on the HTTP and admin listeners: the certificate and key are files (as cert-manager and
 * Kubernetes secrets provide them), read at start and again whenever they change or the config
 * reloads. A pair that does not load keeps the one in force, so a half-written renewal never takes
 * a listener down.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from './errors.ts';

export interface ListenerTls {
  readonly cert: string;
  readonly key: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function readPair(tls: ListenerTls, where: string): { cert: Buffer; key: Buffer } {
  let pair: { cert: Buffer; key: Buffer };
  try {
    pair = { cert: readFileSync(resolve(tls.cert)), key: readFileSync(resolve(tls.key)) };
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${(err as NodeJS.ErrnoException).path ?? 'the certificate or key'} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    // Checks that the files are PEM and that the key is the certificate's, before anything is served with them.
    createSecureContext(pair);
  } catch (err) {
    // Never the files' content: one is a private key.
    throw new ConfigError(`${where}: ${tls.cert} and ${tls.key} are not a PEM certificate and its private key (${(err as Error).message.split('\n')[0]})`);
  }
  return pair;
}

/** A plain HTTP server, or HTTPS when the listener has `tls`. */
export function createListener(handler: Handler, tls: ListenerTls | undefined, where: string): Server {
  if (!tls) return createHttpServer(handler);
  return createHttpsServer(readPair(tls, where), handler) as unknown as Server;
}

export class TlsReloader {
  private readonly watchers: FSWatcher[] = [];

  constructor(
    private readonly server: Server,
    private readonly tls: ListenerTls,
    private readonly where: string,
    private readonly logger: Logger,
  ) {}

  /** Re-reads the pair; a bad pair is logged and the one in force stays. */
  reload(): boolean {
    try {
      (this.server as unknown as { setSecureContext(options: object): void }).setSecureContext(readPair(this.tls, this.where));
      this.logger.info({ listener: this.where, cert: this.tls.cert }, 'tls certificate reloaded');
      return true;
    } catch (err) {
      this.logger.error({ listener: this.where, error: (err as Error).message }, 'tls certificate not reloaded; the one in force stays');
      return false;
    }
  }

  /** Follows the folders of both files: secret mounts replace files by renaming a symlink, not by writing them. */
  watch(): void {
    for (const dir of new Set([dirname(resolve(this.tls.cert)), dirname(resolve(this.tls.key))])) {
      try {
        const watcher = watch(dir, () => this.reload());
        watcher.on('error', (err) => this.logger.warn({ dir, error: err.message }, 'cannot watch the tls folder; a config reload (SIGHUP) still re-reads it'));
        this.watchers.push(watcher);
      } catch (err) {
        this.logger.warn({ dir, error: (err as Error).message }, 'cannot watch the tls folder; a config reload (SIGHUP) still re-reads it');
      }
    }
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
  }
}
