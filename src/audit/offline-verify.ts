/**
 * Verifying without the gateway and without the master key: straight against the database (a
 * SQLite file or a PostgreSQL URL), trusting only the public keys given and, optionally, the
 * checkpoints kept outside the database (the sink file). Nothing is written: the schema is not
 * migrated and no ledger is opened.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import { openPostgresStore } from '../store/postgres.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { CheckpointRow, PeerHead } from '../store/types.ts';
import { parsePublicKeys } from './checkpoints.ts';
import { verifyTrail, type TrailReport } from './verify-trail.ts';

export interface OfflineVerify {
  /** postgres://… or the path of the SQLite file. */
  readonly database: string;
  /** Files of PEM public keys (the current key and any retired ones). */
  readonly publicKeyFiles: readonly string[];
  /** The checkpoint sink: JSON lines as the gateway appended them. */
  readonly checkpointsFile?: string;
}

const TEXT_FIELDS = ['writer', 'headHash', 'keyId', 'signature', 'hash'] as const;

/** Each line one checkpoint; a line that is not one is refused by its number, not skipped. */
export function parseCheckpointLines(text: string, file: string): CheckpointRow[] {
  const rows: CheckpointRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ConfigError(`line ${i + 1} of ${file} is not JSON; each line must be one checkpoint as the gateway wrote it`);
    }
    const c = value as Record<string, unknown>;
    const shaped =
      typeof c === 'object' && c !== null && !Array.isArray(c) &&
      TEXT_FIELDS.every((f) => typeof c[f] === 'string') &&
      Number.isSafeInteger(c.seq) && Number.isSafeInteger(c.at) &&
      (c.prevCheckpointHash === null || typeof c.prevCheckpointHash === 'string');
    const peers = !shaped || c.peers === undefined || c.peers === null ? null : readPeers(c.peers);
    if (!shaped || peers === undefined) throw new ConfigError(`line ${i + 1} of ${file} is not a checkpoint (writer, seq, headHash, at, prevCheckpointHash, keyId, signature, hash, peers)`);
    rows.push({
      writer: c.writer as string, seq: c.seq as number, headHash: c.headHash as string, at: c.at as number,
      prevCheckpointHash: c.prevCheckpointHash as string | null, keyId: c.keyId as string, signature: c.signature as string, hash: c.hash as string,
      ...(peers ? { peers } : {}),
    });
  });
  return rows;
}

/** The other writers' heads a checkpoint signed; undefined when the value is not a list of them. */
function readPeers(value: unknown): PeerHead[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const peers: PeerHead[] = [];
  for (const p of value as Record<string, unknown>[]) {
    if (typeof p !== 'object' || p === null || typeof p.writer !== 'string' || !Number.isSafeInteger(p.seq) || typeof p.hash !== 'string') return undefined;
    peers.push({ writer: p.writer, seq: p.seq as number, hash: p.hash });
  }
  return peers;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

export async function verifyOffline(options: OfflineVerify): Promise<TrailReport> {
  if (options.publicKeyFiles.length === 0) throw new ConfigError('give at least one --public-key file (gatehouse audit public-key prints it)');
  const keys = new Map();
  for (const file of options.publicKeyFiles) for (const [id, key] of parsePublicKeys(await readText(file, 'the public key file'))) keys.set(id, key);
  const checkpoints = options.checkpointsFile ? parseCheckpointLines(await readText(options.checkpointsFile, 'the checkpoints file'), options.checkpointsFile) : undefined;
  const isUrl = /^postgres(ql)?:\/\//.test(options.database);
  if (!isUrl && !existsSync(options.database)) throw new ConfigError(`no database at ${options.database}: give the SQLite file or a postgres:// URL`);
  const store = isUrl ? openPostgresStore(options.database) : openSqliteStore(options.database);
  try {
    return await verifyTrail(store, { publicKeys: keys, checkpoints });
  } finally {
    await store.close();
  }
}
