/**
 * The store as the rest of the gateway sees it once the ledger is on: every write of an audit
 * event (sessions, completed interactions, audit_events rows from admin actions, approvals,
 * grants, tokens and identities) appends its ledger entry, whoever made the write. Wrapping the
 * store once, rather than each writer, keeps a new kind of audit event from being left off the chain.
 */
import type { AuditEventCompletion, AuditEventRow, InteractionCompletion, SessionRow, Store } from '../store/types.ts';
import { auditCompleteHash, auditEventHash, auditOpenHash, sessionEndHash, sessionStartHash } from './canonical.ts';
import type { Ledger } from './ledger.ts';

type Overrides = Pick<Store, 'insertSession' | 'endSession' | 'completeInteraction' | 'insertAuditEvent' | 'completeAuditEvent'>;

/** `ledgerOf` is read per write: before the ledger is opened (while the store is being set up) nothing is chained. */
export function chainedStore(store: Store, ledgerOf: Ledger | (() => Ledger | null)): Store {
  const noLedger = { append: async () => undefined };
  const current = typeof ledgerOf === 'function' ? ledgerOf : () => ledgerOf;
  const chain = () => current() ?? noLedger;
  const overrides: Overrides = {
    insertSession: (row: SessionRow) => {
      const written = store.insertSession(row);
      void chain().append('session.start', row.id, sessionStartHash(row));
      return written;
    },
    endSession: async (id: string, at: number, reason: string) => {
      await store.endSession(id, at, reason);
      // The first end is kept (a second changes nothing), so the entry covers what is stored.
      const stored = await store.getSession(id);
      if (stored?.endedAt === at && stored.endReason === reason) void chain().append('session.end', id, sessionEndHash(id, at, reason));
    },
    completeInteraction: (id: string, fields: InteractionCompletion) => {
      const written = store.completeInteraction(id, fields);
      // The interaction's own seal covers every recorded field: its hash is the event's.
      if (fields.hash !== null) void chain().append('interaction', id, fields.hash);
      return written;
    },
    insertAuditEvent: (row: AuditEventRow) => {
      const written = store.insertAuditEvent(row);
      void (row.outcome === null ? chain().append('audit.open', row.id, auditOpenHash(row)) : chain().append('audit.event', row.id, auditEventHash(row)));
      return written;
    },
    completeAuditEvent: async (id: string, fields: AuditEventCompletion) => {
      await store.completeAuditEvent(id, fields);
      // Only the first completion is stored: chain what the row now holds, and only if this call set it.
      const stored = await store.getAuditEvent(id);
      if (stored && stored.outcome === fields.outcome && stored.target === fields.target && JSON.stringify(stored.details) === JSON.stringify(fields.details)) {
        void chain().append('audit.complete', id, auditCompleteHash(id, stored));
      }
    },
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof Overrides];
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let fn = bound.get(prop);
      if (!fn) bound.set(prop, (fn = (value as (...args: unknown[]) => unknown).bind(target)));
      return fn;
    },
  });
}
