/**
 * What a sink delivers next: the ledger entries after its cursors, across every writer, each
 * writer's entries in seq order, interleaved by time; and for each entry the event built from the
 * row it covers. The ledger is already persistent and ordered per writer, so it is the outbox:
 * nothing is copied, a sink only keeps how far it got (sink_cursors).
 */
import type { LedgerEntryRow, Store } from '../store/types.ts';
import { buildEvent, type AuditEventV1, type EntryRefs } from './event-schema.ts';

export type OutboxStore = Pick<
  Store,
  'ledgerWriters' | 'listLedger' | 'ledgerHead' | 'getSession' | 'getInteraction' | 'getAuditEvent' | 'getToken' | 'getPrincipal' | 'sinkCursors'
>;

/**
 * Up to `limit` entries after `cursors`, oldest first across writers: a merge by time that takes
 * each writer's entries in seq order, so a writer's order is kept even when clocks step back.
 *
 * A writer's entries are taken only up to a gap in seq: an append issued earlier may still be on
 * its way to the store, and reading past it would skip it for good. A gap older than `gapGraceMs`
 * (an append that failed, which verify reports, or entries purged) is stepped over.
 */
export async function nextEntries(
  store: OutboxStore,
  cursors: ReadonlyMap<string, number>,
  limit: number,
  gap: { now: number; graceMs: number } = { now: Date.now(), graceMs: 60_000 },
): Promise<LedgerEntryRow[]> {
  const writers = await store.ledgerWriters();
  const pages = await Promise.all(writers.map((w) => store.listLedger(w, cursors.get(w) ?? 0, limit)));
  const queues = pages.map((page, i) => contiguous(page, cursors.get(writers[i]!) ?? 0, gap)).filter((q) => q.length > 0);
  const out: LedgerEntryRow[] = [];
  const heads = queues.map(() => 0);
  while (out.length < limit) {
    let best = -1;
    for (let q = 0; q < queues.length; q++) {
      const entry = queues[q]![heads[q]!];
      if (!entry) continue;
      const current = best < 0 ? undefined : queues[best]![heads[best]!]!;
      if (!current || entry.at < current.at || (entry.at === current.at && entry.writer < current.writer)) best = q;
    }
    if (best < 0) break;
    out.push(queues[best]![heads[best]!]!);
    heads[best]!++;
  }
  return out;
}

function contiguous(page: LedgerEntryRow[], after: number, gap: { now: number; graceMs: number }): LedgerEntryRow[] {
  let expected = after + 1;
  for (let i = 0; i < page.length; i++) {
    const entry = page[i]!;
    if (entry.seq !== expected && gap.now - entry.at < gap.graceMs) return page.slice(0, i);
    expected = entry.seq + 1;
  }
  return page;
}

/** Events behind: per writer, its head's seq less the cursor. */
export async function lagOf(store: OutboxStore, cursors: ReadonlyMap<string, number>): Promise<number> {
  const writers = await store.ledgerWriters();
  const heads = await Promise.all(writers.map((w) => store.ledgerHead(w)));
  return heads.reduce((sum, head, i) => sum + Math.max(0, (head?.seq ?? 0) - (cursors.get(writers[i]!) ?? 0)), 0);
}

const CACHE_LIMIT = 5_000;

/** Builds events from entries, remembering token names and principal kinds (they never change for an id). */
export class EventBuilder {
  private tokens = new Map<string, string | null>();
  private principals = new Map<string, string | null>();

  constructor(private readonly store: OutboxStore) {}

  async build(entries: readonly LedgerEntryRow[], options: { includeBodies: boolean }): Promise<AuditEventV1[]> {
    const out: AuditEventV1[] = [];
    for (const entry of entries) out.push(buildEvent(entry, await this.refs(entry), options));
    return out;
  }

  private async refs(entry: LedgerEntryRow): Promise<EntryRefs> {
    const refs: EntryRefs = {};
    if (entry.kind === 'session.start' || entry.kind === 'session.end') {
      refs.session = await this.store.getSession(entry.refId);
    } else if (entry.kind === 'interaction') {
      refs.interaction = await this.store.getInteraction(entry.refId);
      if (refs.interaction) refs.session = await this.store.getSession(refs.interaction.sessionId);
    } else {
      refs.auditEvent = await this.store.getAuditEvent(entry.refId);
      if (refs.auditEvent?.credentialId) refs.tokenName = await this.tokenName(refs.auditEvent.credentialId);
      return refs;
    }
    if (refs.session?.tokenId) refs.tokenName = await this.tokenName(refs.session.tokenId);
    if (refs.session?.principalId) refs.principalKind = await this.principalKind(refs.session.principalId);
    return refs;
  }

  private async tokenName(id: string): Promise<string | null> {
    if (this.tokens.has(id)) return this.tokens.get(id)!;
    const name = (await this.store.getToken(id))?.name ?? null;
    remember(this.tokens, id, name);
    return name;
  }

  private async principalKind(id: string): Promise<string | null> {
    if (this.principals.has(id)) return this.principals.get(id)!;
    const kind = (await this.store.getPrincipal(id))?.kind ?? null;
    remember(this.principals, id, kind);
    return kind;
  }
}

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
}
