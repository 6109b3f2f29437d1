/**
 * Two rows as a session recorded them before interactions had an upstreamCode (the PostgreSQL
 * adapter then wrote the SQLSTATE into errorCode). The digests were computed by the hash-chain.ts
 * of commit 221f7b5, the last one without upstreamCode, so they pin the old sealing byte for byte.
 * Shared by the chain test and the store's migration test.
 */
import type { InteractionRow } from '../../src/store/types.ts';

export type OldRow = Omit<InteractionRow, 'upstreamCode'>;

export const OLD_SESSION_ID = 'ses_old';

export const OLD_FIRST: OldRow = {
  id: 'int_old', sessionId: OLD_SESSION_ID, seq: 1, kind: 'sql.query', status: 'complete', decision: 'allow', rule: 'read-only',
  reason: null, method: null, target: 'SELECT * FROM missing', model: null, summary: { sql: { kinds: ['select'], tables: ['missing'] } },
  requestBody: 'SELECT * FROM missing', responseStatus: null, responseBody: null, errorCode: '42P01', bytesIn: 21, bytesOut: 0,
  startedAt: 1_700_000_000_000, completedAt: 1_700_000_000_007, latencyMs: 7, prevHash: null,
  hash: '59a57c297fb402e16309e4b8573e74297e0ff5c702db9e6035b9f5b726b28629',
};

export const OLD_SECOND: OldRow = {
  ...OLD_FIRST, id: 'int_old2', seq: 2, errorCode: null, target: 'SELECT 1', requestBody: 'SELECT 1',
  summary: { sql: { kinds: ['select'], tables: [] } }, startedAt: 1_700_000_000_010, completedAt: 1_700_000_000_011, latencyMs: 1,
  bytesOut: 40, prevHash: OLD_FIRST.hash, hash: 'e671738c63e9b3cdefd0d4514fc771577bf4eda69b1e5d1fd3e9f027e32a6300',
};

/** The old rows as a migrated store reads them back: the new column is null. */
export const oldRowsReadBack = (): InteractionRow[] => [OLD_FIRST, OLD_SECOND].map((r) => ({ ...r, upstreamCode: null }));
