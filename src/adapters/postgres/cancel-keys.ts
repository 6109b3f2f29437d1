/**
 * Cancel keys the gateway hands its clients in BackendKeyData, each mapped to the upstream
 * backend's own key. A client can cancel only what runs in its own session, and never learns
 * the upstream's process id or secret.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { sendUpstreamCancel, type UpstreamTarget } from './upstream-connect.ts';

interface Entry {
  /** The session's own answer to a cancel: true when it handled it (a statement waiting for approval withdrawn). */
  intercept: (() => boolean) | null;
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
    this.entries.set(processId, { intercept: null, secretKey, target, upstreamProcessId, upstreamSecretKey });
    return { processId, secretKey };
  }

  /** The session behind a key sees each cancel first; what it does not handle goes to the database. */
  intercept(processId: number, handler: () => boolean): void {
    const entry = this.entries.get(processId);
    if (entry !== undefined) entry.intercept = handler;
  }

  release(processId: number): void {
    this.entries.delete(processId);
  }

  /** Acts on a CancelRequest whose key matches; a wrong key is ignored, as PostgreSQL does. */
  cancel(processId: number, secretKey: Buffer, logger: Logger): void {
    const entry = this.entries.get(processId);
    if (entry === undefined || entry.secretKey.length !== secretKey.length || !timingSafeEqual(entry.secretKey, secretKey)) {
      logger.debug({ processId }, 'cancel request with an unknown key ignored');
      return;
    }
    if (entry.intercept?.() === true) return;
    this.forward(entry, logger);
  }

  /** Sends the database a cancel for the backend behind `processId` (a session's own, known key). */
  cancelUpstream(processId: number, logger: Logger): void {
    const entry = this.entries.get(processId);
    if (entry !== undefined) this.forward(entry, logger);
  }

  private forward(entry: Entry, logger: Logger): void {
    sendUpstreamCancel(entry.target, entry.upstreamProcessId, entry.upstreamSecretKey).catch((err) =>
      logger.warn({ err }, 'could not forward a cancel request to the database'),
    );
  }
}
