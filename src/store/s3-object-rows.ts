/**
 * Which request wrote an object through the S3 adapter (migration 20): one row per successful
 * PutObject or CompleteMultipartUpload, so "which request wrote traces/x.json" is one query.
 */
import type { SqlValue } from './rows.ts';
import type { S3ObjectRow } from './types.ts';

type DbRecord = Record<string, unknown>;

const COLUMNS = 'interaction_id, connection, bucket, object_key, etag, version_id, written_at';

export const S3_OBJECT_SQL = {
  insert: `INSERT INTO s3_object_writes (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  list: `SELECT ${COLUMNS} FROM s3_object_writes WHERE bucket = ? AND object_key = ? ORDER BY written_at DESC, interaction_id DESC LIMIT ?`,
  listOnConnection: `SELECT ${COLUMNS} FROM s3_object_writes WHERE bucket = ? AND object_key = ? AND connection = ? ORDER BY written_at DESC, interaction_id DESC LIMIT ?`,
} as const;

export function s3ObjectParams(r: S3ObjectRow): SqlValue[] {
  return [r.interactionId, r.connection, r.bucket, r.key, r.etag, r.versionId, r.writtenAt];
}

export function toS3Object(r: DbRecord): S3ObjectRow {
  return {
    interactionId: r.interaction_id as string,
    connection: r.connection as string,
    bucket: r.bucket as string,
    key: r.object_key as string,
    etag: (r.etag as string | null) ?? null,
    versionId: (r.version_id as string | null) ?? null,
    writtenAt: Number(r.written_at),
  };
}
