/**
 * The audit trail as the gateway runs it: the store wrapped so every audit event is chained,
 * this writer's ledger, and (when a key is configured) its signed checkpoints. server.ts wraps
 * the store before anything writes, and starts the trail once the replica id is known.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.ts';
import type { CheckpointRow, Store } from '../store/types.ts';
import { chainedStore } from './chained-store.ts';
import { Checkpointer, loadSigningKey, parsePublicKeys, type SigningKey } from './checkpoints.ts';
import { Ledger, LOCAL_WRITER } from './ledger.ts';
import { verifyTrail, type TrailReport } from './verify-trail.ts';
import { Purger, type PurgeReport } from './purge.ts';
import type { AuditRetentionConfig } from '../config/audit-retention.ts';
import { newId } from '../util/ids.ts';

/** `audit` in gatehouse.yaml (config/schema.ts). */
export interface AuditTrailConfig {
  readonly checkpoints?: {
    /** The Ed25519 private key as PEM, usually `${GATEHOUSE_AUDIT_KEY}`. */
    readonly key?: string;
    /** Or a file holding it (relative to the config file). */
    readonly keyFile?: string;
    readonly every: number;
    /** A file every checkpoint is appended to as a JSON line. */
    readonly sink?: string;
    /** Files of public keys retired by a rotation: their checkpoints still verify. */
    readonly trustedKeys?: readonly string[];
  };
  /** How long each kind of record is kept; without it nothing is purged. */
  readonly retention?: AuditRetentionConfig;
}

export interface TrailStart {
  /** The replica id, on PostgreSQL; SQLite is one writer, `local`. */
  readonly replicaId: string;
  /** A chain of its own for an offline command, which may run beside a gateway that holds `local`. */
  readonly writer?: string;
  readonly config: AuditTrailConfig | undefined;
  /** Where relative paths in the config are read from. */
  readonly baseDir: string;
  readonly now?: () => number;
  /**
   * PostgreSQL: how long this process holds its writer chain without renewing it. A restarted
   * replica carries on a chain whose holder stopped (released it) or went silent this long,
   * rather than starting one more chain per start.
   */
  readonly writerLeaseMs?: number;
}

const WRITER_LEASE_MS = 60_000;

export class AuditTrail {
  private base: Store | null = null;
  private chained: Store | null = null;
  private now: (() => number) | undefined;
  private ledger: Ledger | null = null;
  private checkpointer: Checkpointer | null = null;
  private key: SigningKey | null = null;
  private trusted = new Map<string, KeyObject>();
  private purger: Purger | null = null;
  private lease: { holder: string; ttlMs: number; timer: NodeJS.Timeout } | null = null;
  private checkpointConfig: { sink?: string; every: number } | null = null;

  constructor(private readonly logger: Logger) {}

  wrap(store: Store): Store {
    this.base = store;
    this.chained = chainedStore(store, () => this.ledger);
    return this.chained;
  }

  async start(options: TrailStart): Promise<void> {
    const store = this.store();
    const clock = options.now ?? Date.now;
    const ttlMs = options.writerLeaseMs ?? WRITER_LEASE_MS;
    const leased = options.writer === undefined && store.postgres !== null;
    const writer = options.writer ?? (leased ? await store.claimLedgerWriter(options.replicaId, options.replicaId, clock(), ttlMs) : LOCAL_WRITER);
    const at = (path: string) => (isAbsolute(path) ? path : resolve(options.baseDir, path));
    const cp = options.config?.checkpoints;
    if (cp) {
      if ((cp.key === undefined) === (cp.keyFile === undefined)) throw new ConfigError('audit.checkpoints needs exactly one of key (a PEM, e.g. ${GATEHOUSE_AUDIT_KEY}) and keyFile');
      const pem = cp.key ?? (await readKeyFile(at(cp.keyFile!)));
      this.key = loadSigningKey(pem, cp.key !== undefined ? 'audit.checkpoints.key' : 'audit.checkpoints.keyFile');
      for (const file of cp.trustedKeys ?? []) for (const [id, key] of parsePublicKeys(await readKeyFile(at(file)))) this.trusted.set(id, key);
    }
    this.now = options.now;
    this.checkpointConfig = cp ? { sink: cp.sink ? at(cp.sink) : undefined, every: cp.every } : null;
    await this.openWriter(writer);
    if (leased) {
      const timer = setInterval(() => void this.renewWriter(), Math.max(1_000, Math.floor(ttlMs / 3)));
      timer.unref();
      this.lease = { holder: options.replicaId, ttlMs, timer };
    }
    const retention = options.config?.retention;
    if (retention && options.writer === undefined) {
      this.purger = new Purger({ store: this.wrapped(), retention, logger: this.logger, now: options.now, checkpoint: () => this.checkpoint(), replicaId: store.postgres ? options.replicaId : null });
      this.purger.start();
    }
  }

  /** Opens `writer`'s chain where it ends, and its checkpoints. */
  private async openWriter(writer: string): Promise<void> {
    const store = this.store();
    this.ledger = await Ledger.open(store, writer, this.logger, this.now);
    if (this.checkpointConfig && this.key) {
      this.checkpointer = new Checkpointer({ store, ledger: this.ledger, key: this.key, sink: this.checkpointConfig.sink, logger: this.logger, now: this.now });
      this.checkpointer.start(this.checkpointConfig.every);
    }
    this.logger.info({ writer, seq: this.ledger.position.seq, checkpoints: this.key ? this.key.keyId : 'off' }, 'audit ledger open');
  }

  /**
   * Keeps this process's hold on its chain. Lost (a pause longer than the lease let another
   * process take the chain over), it moves to a chain of its own: two appenders on one chain
   * would collide on every seq.
   */
  private async renewWriter(): Promise<void> {
    const lease = this.lease;
    const ledger = this.ledger;
    if (!lease || !ledger) return;
    const store = this.store();
    const now = (this.now ?? Date.now)();
    try {
      if (await store.renewLedgerWriter(ledger.writer, lease.holder, now, lease.ttlMs)) return;
      this.logger.error({ writer: ledger.writer }, 'this process lost its audit chain to another (it paused longer than the writer lease); moving to a new chain');
      await this.checkpointer?.stop();
      await this.openWriter(await store.claimLedgerWriter(lease.holder, newId('rep', now), now, lease.ttlMs));
    } catch (err) {
      this.logger.error({ err }, 'could not renew the audit writer lease; retrying');
    }
  }

  /** Runs the retention purge now (also scheduled every audit.retention.every); null without audit.retention. */
  purge(options: { dryRun?: boolean } = {}): Promise<PurgeReport> | null {
    return this.purger?.run(options) ?? null;
  }

  /**
   * A policy reload this process applied (from the API, a signal or a changed file), as an audit
   * event of the gateway's own: on the chain like every other. A failure is logged; the reload stands.
   */
  async noteReload(details: { version: number; rules: number }, replicaId: string | null): Promise<void> {
    const at = (this.now ?? Date.now)();
    try {
      await this.wrapped().insertAuditEvent({
        id: newId('aud', at), at, replicaId, actorId: 'gateway', actorName: 'gatehouse', actorKind: 'gateway', credentialId: null,
        action: 'policy.reloaded', target: null, outcome: 200, details,
      });
    } catch (err) {
      this.logger.error({ err }, 'could not record the policy reload in the audit trail');
    }
  }

  /** Signs this writer's head now; null without a key or when nothing new was appended. */
  checkpoint(): Promise<CheckpointRow | null> {
    return this.checkpointer?.checkpoint() ?? Promise.resolve(null);
  }

  /** Every writer's chain, with the signing key and the trusted retired keys when a key is configured. */
  async verify(): Promise<TrailReport> {
    await this.ledger?.settled();
    return verifyTrail(this.store(), { publicKeys: this.key ? this.publicKeys() : undefined });
  }

  /** The current key first, then the retired ones. */
  publicKeys(): Map<string, KeyObject> {
    return new Map([...(this.key ? [[this.key.keyId, this.key.publicKey] as const] : []), ...this.trusted]);
  }

  get signingKey(): Pick<SigningKey, 'keyId' | 'publicPem'> | null {
    return this.key;
  }

  get writer(): string | null {
    return this.ledger?.writer ?? null;
  }

  /** A last checkpoint covers what was appended until the stop. */
  async stop(): Promise<void> {
    await this.purger?.stop();
    await this.ledger?.settled();
    await this.checkpointer?.stop();
    if (this.lease && this.ledger) {
      clearInterval(this.lease.timer);
      // Let go only once the last checkpoint signed the head: the next process carries on from there.
      await this.store().releaseLedgerWriter(this.ledger.writer, this.lease.holder).catch((err: unknown) => this.logger.error({ err }, 'could not release the audit writer lease; it runs out by itself'));
      this.lease = null;
    }
  }

  private wrapped(): Store {
    if (!this.chained) throw new Error('AuditTrail.wrap must be called before use');
    return this.chained;
  }

  private store(): Store {
    if (!this.base) throw new Error('AuditTrail.wrap must be called before start');
    return this.base;
  }
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the audit key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}
