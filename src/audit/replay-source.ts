/** Reads one page of a session's replay from the store: its interactions, and the trail of each approval they involved. */
import { NotFound } from '../errors.ts';
import type { AuditEventRow, Store } from '../store/types.ts';
import { approvalIdOf, buildReplay, type ReplayPage } from './replay.ts';

/** A page never reads more approval trails than this; an approval's trail never more events. */
const MAX_APPROVALS_PER_PAGE = 200;
const MAX_EVENTS_PER_APPROVAL = 100;

export interface ReplayQuery {
  /** The first seq to show (1 for the session's start). */
  readonly from: number;
  readonly limit: number;
}

type ReplayStore = Pick<Store, 'getSession' | 'replayPage' | 'approvalsAskedBy' | 'listAuditEvents'>;

export async function loadReplay(store: ReplayStore, sessionId: string, query: ReplayQuery): Promise<ReplayPage> {
  const session = await store.getSession(sessionId);
  if (!session) throw new NotFound(`no session "${sessionId}"`);
  // One row before the page gives its first gap; one after says whether more follow.
  const first = Math.max(0, query.from - 1);
  const { interactions: rows, total, agent } = await store.replayPage(session.id, first, query.limit + 2);
  const previous = rows[0] !== undefined && rows[0].seq < query.from ? rows.shift()! : null;
  const page = rows.slice(0, query.limit);

  // Requests held and refused name their approval only in its approval.created event.
  const held = page.filter((r) => r.decision === 'approve' && typeof r.summary.approval !== 'string').map((r) => r.id);
  const asked = held.length === 0 ? new Map<string, string>() : await store.approvalsAskedBy(held, session.startedAt, page.at(-1)!.startedAt);
  const approvalOf = new Map<string, string>();
  for (const row of page) {
    const id = approvalIdOf(row, asked);
    if (id !== null && approvalOf.size < MAX_APPROVALS_PER_PAGE) approvalOf.set(row.id, id);
  }
  const trails = new Map<string, AuditEventRow[]>();
  for (const id of new Set(approvalOf.values())) {
    trails.set(id, await store.listAuditEvents({ limit: MAX_EVENTS_PER_APPROVAL, target: id }));
  }
  return buildReplay({
    session: { ...session, agent },
    interactions: page,
    total,
    hasMore: rows.length > query.limit,
    approvalOf,
    trails,
    previousStartedAt: previous?.startedAt ?? null,
  });
}
