/**
 * Audit export (migration 17): each sink's delivery cursor per ledger writer, and the lease that
 * lets one replica at a time deliver a sink. Both statements run unchanged on both engines.
 */
export const SINK_SQL = {
  cursors: 'SELECT writer, seq FROM sink_cursors WHERE sink = ?',
  // A cursor only moves forward: a replica that lost its lease mid-batch cannot pull one back.
  advance: `INSERT INTO sink_cursors (sink, writer, seq, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (sink, writer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
    WHERE sink_cursors.seq < excluded.seq`,
  // Taken when free, expired, or already this holder's (a renewal); no row changes otherwise.
  takeLease: `INSERT INTO sink_leases (sink, holder, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (sink) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE sink_leases.holder = excluded.holder OR sink_leases.expires_at <= ?`,
  releaseLease: 'DELETE FROM sink_leases WHERE sink = ? AND holder = ?',
} as const;
