/**
 * Signed checkpoints: now and then each writer signs its chain head with an Ed25519 key. A chain
 * alone cannot tell its last entries deleted from a shorter chain; a checkpoint can, and written
 * to a sink outside the database (a file of JSON lines), it survives whoever rewrites the database.
 *
 * The key id is derived from the public key, so a checkpoint names the key that signed it and a
 * rotated key's old checkpoints still verify with its public key.
 */
import { appendFile } from 'node:fs/promises';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.ts';
import type { CheckpointRow, LedgerStore, PeerHead, Store } from '../store/types.ts';
import type { Ledger } from './ledger.ts';

export interface SigningKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SPKI PEM, what `gatehouse audit public-key` prints. */
  readonly publicPem: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  return `ed25519:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
}

/** A PKCS#8 PEM Ed25519 private key; anything else is refused by name (never echoing the key). */
export function loadSigningKey(pem: string, where: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new ConfigError(`${where} is not a PEM private key; make one with: openssl genpkey -algorithm ed25519`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ConfigError(`${where} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; checkpoints are signed with Ed25519 (openssl genpkey -algorithm ed25519)`);
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Every Ed25519 public key in a text of PEM blocks (one file may hold the current and the retired keys), by key id. */
export function parsePublicKeys(text: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  for (const block of blocks) {
    const key = createPublicKey(block);
    if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`a ${key.asymmetricKeyType ?? 'unknown'} public key was given; checkpoints are verified with Ed25519 keys`);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new ConfigError('no PEM public key (-----BEGIN PUBLIC KEY-----) was found; export one with: gatehouse audit public-key');
  return keys;
}

type Unsigned = Omit<CheckpointRow, 'signature' | 'hash'>;

/**
 * v2 also signs the other writers' heads the writer saw (cross-linking): one writer's chain cut
 * short, or gone whole, is then caught by another's later checkpoint. v1 (no peers) is how
 * checkpoints were signed before; an empty peer list is v2, so the two never read alike.
 */
function canonical(c: Unsigned): string {
  if (c.peers === undefined || c.peers === null) return JSON.stringify(['gatehouse.checkpoint.v1', c.writer, c.seq, c.headHash, c.at, c.prevCheckpointHash, c.keyId]);
  const peers = c.peers.map((p) => [p.writer, p.seq, p.hash]);
  return JSON.stringify(['gatehouse.checkpoint.v2', c.writer, c.seq, c.headHash, c.at, c.prevCheckpointHash, c.keyId, peers]);
}

export function signCheckpoint(c: Unsigned, key: SigningKey): CheckpointRow {
  const text = canonical({ ...c, keyId: key.keyId });
  return {
    ...c,
    keyId: key.keyId,
    signature: sign(null, Buffer.from(text), key.privateKey).toString('base64'),
    hash: createHash('sha256').update(text).digest('hex'),
  };
}

/** Null when the checkpoint is intact and signed by one of `keys`; else what is wrong. */
export function checkpointProblem(c: CheckpointRow, keys: ReadonlyMap<string, KeyObject>): string | null {
  const text = canonical(c);
  if (createHash('sha256').update(text).digest('hex') !== c.hash) return 'its fields do not match its hash (altered)';
  const key = keys.get(c.keyId);
  if (!key) return `it is signed by key ${c.keyId}, which is not among the trusted public keys`;
  let ok = false;
  try {
    ok = typeof c.signature === 'string' && verify(null, Buffer.from(text), key, Buffer.from(c.signature, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? null : 'its signature does not verify (forged or altered)';
}

export interface CheckpointerOptions {
  readonly store: Pick<LedgerStore, 'ledgerHead' | 'lastCheckpoint' | 'insertCheckpoint'> & Pick<Store, 'ledgerHeads'>;
  readonly ledger: Ledger;
  readonly key: SigningKey;
  /** A file that every checkpoint is appended to as one JSON line, outside the database. */
  readonly sink?: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class Checkpointer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CheckpointRow | null> = Promise.resolve(null);

  constructor(private readonly options: CheckpointerOptions) {}

  /** Signs the writer's committed head, unless the last checkpoint already covers it. Runs one at a time. */
  checkpoint(): Promise<CheckpointRow | null> {
    this.running = this.running.catch(() => null).then(() => this.take());
    return this.running;
  }

  private async take(): Promise<CheckpointRow | null> {
    const { store, ledger, key, sink } = this.options;
    await ledger.settled();
    const heads = await store.ledgerHeads();
    const head = heads.find((h) => h.writer === ledger.writer);
    const peers: PeerHead[] = heads.filter((h) => h.writer !== ledger.writer).map((h) => ({ writer: h.writer, seq: h.seq, hash: h.hash }));
    const last = await store.lastCheckpoint(ledger.writer);
    // One checkpoint per head (the store keys them so): a writer that appended nothing since signs nothing.
    if (!head || (last && last.seq >= head.seq)) return null;
    const row = signCheckpoint(
      { writer: ledger.writer, seq: head.seq, headHash: head.hash, at: (this.options.now ?? Date.now)(), prevCheckpointHash: last?.hash ?? null, keyId: key.keyId, peers },
      key,
    );
    await store.insertCheckpoint(row);
    if (sink) await appendFile(sink, `${JSON.stringify(row)}\n`, { mode: 0o600 });
    return row;
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      void this.checkpoint().catch((err: unknown) => this.options.logger.error({ err }, 'could not write an audit checkpoint'));
    }, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and signs the last head, so a clean stop leaves its tail covered. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checkpoint().catch((err: unknown) => this.options.logger.error({ err }, 'could not write the final audit checkpoint'));
  }
}
