/**
 * Cancel keys the gateway hands its clients in BackendKeyData, each mapped to the upstream
 * backend's own key. A client can cancel only what runs in its own session, and never learns
 * the upstream's process id or secret.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { sendUpstreamCancel, type UpstreamTarget } from './upstream-connect.ts';

interface Entry {
  readonly secretKey: Buffer;
  readonly target: UpstreamTarget;
  readonly upstreamProcessId: number;
  readonly upstreamSecretKey: number;
}

export interface IssuedKey {
  readonly processId: number;
  readonly secretKey: Buffer;
}

export class CancelKeys {
  private readonly entries = new Map<number, Entry>();

  issue(target: UpstreamTarget, upstreamProcessId: number, upstreamSecretKey: number): IssuedKey {
    let processId: number;
    do processId = randomInt(1, 0x7fffffff);
    while (this.entries.has(processId));
    const secretKey = randomBytes(4);
    this.entries.set(processId, { secretKey, target, upstreamProcessId, upstreamSecretKey });
    return { processId, secretKey };
  }

  release(processId: number): void {
    this.entries.delete(processId);
  }

  /** Forwards a CancelRequest whose key matches; a wrong key is ignored, as PostgreSQL does. */
  cancel(processId: number, secretKey: Buffer, logger: Logger): void {
    const entry = this.entries.get(processId);
    if (entry === undefined || entry.secretKey.length !== secretKey.length || !timingSafeEqual(entry.secretKey, secretKey)) {
      logger.debug({ processId }, 'cancel request with an unknown key ignored');
      return;
    }
    sendUpstreamCancel(entry.target, entry.upstreamProcessId, entry.upstreamSecretKey).catch((err) =>
      logger.warn({ err }, 'could not forward a cancel request to the database'),
    );
  }
}
