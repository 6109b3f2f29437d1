/** Audit traffic on a real store, through the chained store the gateway uses, for the trail tests. */
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { chainedStore } from '../../src/audit/chained-store.ts';
import { Checkpointer, loadSigningKey, type SigningKey } from '../../src/audit/checkpoints.ts';
import { Ledger } from '../../src/audit/ledger.ts';
import { Recorder } from '../../src/audit/recorder.ts';
import type { AuditEventRow, Store } from '../../src/store/types.ts';
import { newId } from '../../src/util/ids.ts';

export const silent = pino({ level: 'silent' });

export function newKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return loadSigningKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'the test key');
}

/** A counter clock: no wall time reaches a row. */
export function counter(start = 1_700_000_000_000): () => number {
  let t = start;
  return () => ++t;
}

export interface Traffic {
  readonly writer: string;
  readonly sessionId: string;
  readonly interactions: string[];
  readonly openedEvent: string;
  readonly completeEvent: string;
  readonly ledger: Ledger;
  readonly store: Store;
}

/**
 * One writer's traffic: a session with `n` completed interactions, an admin action written
 * ahead and completed, one written complete, and the session's end. Entries, in order:
 * 1 session.start, 2…n+1 interaction, n+2 audit.open, n+3 audit.complete, n+4 audit.event, n+5 session.end.
 */
export async function traffic(base: Store, writer: string, n = 3, now = counter()): Promise<Traffic> {
  const ledger = await Ledger.open(base, writer, silent, now);
  const store = chainedStore(base, ledger);
  const recorder = new Recorder(store, silent, 64 * 1024, now, writer);
  const session = await recorder.openSession({ principalId: null, principalName: 'alice', tokenId: null, connection: 'openai', protocol: 'http', clientAddr: '127.0.0.1' });
  const interactions: string[] = [];
  for (let i = 0; i < n; i++) {
    const open = await recorder.open(session.id, { kind: 'llm.chat', decision: 'allow', rule: 'r', reason: null, method: 'POST', target: '/v1/chat', model: 'm', summary: {}, requestBody: `q${i}`, bytesIn: 2 }, { redact: (t) => t });
    await open.complete({ status: 'complete', responseStatus: 200, responseBody: `a${i}`, errorCode: null, bytesOut: 2 });
    interactions.push(open.row.id);
  }
  const event = (outcome: number | null): AuditEventRow => ({
    id: newId('aud', now()), at: now(), replicaId: writer, actorId: 'p1', actorName: 'root', actorKind: 'user', credentialId: 'tok1', action: 'revokeToken', target: 'tok9', outcome, details: { n: 1 },
  });
  const opened = event(null);
  await store.insertAuditEvent(opened);
  await store.completeAuditEvent(opened.id, { outcome: 200, target: 'tok9', details: { n: 1, revoked: ['tok9'] } });
  const complete = event(403);
  await store.insertAuditEvent(complete);
  await recorder.endSession(session.id, 'client_closed');
  await ledger.settled();
  return { writer, sessionId: session.id, interactions, openedEvent: opened.id, completeEvent: complete.id, ledger, store };
}

export function checkpointer(t: Traffic, key: SigningKey, sink?: string, now = counter(1_800_000_000_000)): Checkpointer {
  return new Checkpointer({ store: t.store, ledger: t.ledger, key, sink, logger: silent, now });
}
