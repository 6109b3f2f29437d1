/**
 * An approvals service on a real SQLite store, with a clock and wake-ups moved by hand, the people
 * who decide stored (deciders are read back from the store), logs kept, and a switch that makes
 * the store fail chosen audit writes: what the trail and the hostile tests run against.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Approvals, fingerprint, type FingerprintInput, type HoldOptions, type HoldRequest } from '../../../src/approvals/index.ts';
import { GatewayError, StoreError } from '../../../src/errors.ts';
import type { RoleGrant } from '../../../src/identity/roles.ts';
import type { Principal } from '../../../src/interaction.ts';
import { MemoryCoordination } from '../../../src/store/coordination.ts';
import { openStore } from '../../../src/store/index.ts';
import type { AuditEventRow, Store } from '../../../src/store/types.ts';
import { ManualTime } from '../manual-time.ts';

export const GRANTS: RoleGrant[] = [
  { group: 'oncall', role: 'approver' },
  { group: 'sre', role: 'approver' },
  { group: 'ic', role: 'approver' },
  { group: 'security', role: 'auditor' },
  { group: 'engineering', role: 'user', connections: ['openai'] },
];

export const person = (name: string, groups: string[], kind: Principal['kind'] = 'user'): Principal => ({ id: `usr_${name}`, kind, name, groups });
export const ADA = person('ada', ['engineering']);
export const BOB = person('bob', ['oncall']);
export const CAROL = person('carol', ['oncall', 'sre']);
export const DAN = person('dan', ['sre']);
export const IVY = person('ivy', ['ic']);

export const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code, `expected ${code}`);

let serial = 0;
/** A fingerprint of its own per call: every case holds a request nobody else holds. */
export function uniquePrint(over: Partial<FingerprintInput> = {}): string {
  serial++;
  return fingerprint({ principalId: ADA.id, agent: 'ci agent', connection: 'openai', kind: 'llm.chat', method: 'POST', target: `/v1/chat/completions#${serial}`, content: { json: { prompt: 'drop it' } }, ...over });
}

export function request(over: Partial<HoldRequest> = {}): HoldRequest {
  return {
    principal: ADA, tokenId: 'tok_1', agent: 'ci agent', connection: 'openai', kind: 'llm.chat', fingerprint: uniquePrint(),
    rule: 'hold-chat', approvers: ['oncall'], required: 1, timeoutMs: 15 * 60_000, summary: { method: 'POST', prompt: 'drop it' }, ...over,
  };
}

export interface Harness {
  store: Store;
  time: ManualTime;
  approvals: Approvals;
  logs: () => Record<string, any>[];
  /** Makes audit writes of these actions (or all, with '*') fail as a store down would; `completions` fails completing them instead. */
  failAudit(actions: readonly string[], opts?: { completions?: boolean }): void;
  /** The approval's trail, oldest first. */
  trail(approvalId: string): Promise<AuditEventRow[]>;
  /** Holds `req`, resolving the approval's id as soon as it exists. */
  held(req: HoldRequest, options?: Partial<HoldOptions>): { id: Promise<string>; outcome: ReturnType<Approvals['hold']> };
  /** A second service on the same store (another replica). */
  replica(): Approvals;
  grants: RoleGrant[];
  breakGlass: string[];
  close(): Promise<void>;
}

export async function startHarness(people: readonly Principal[] = []): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-approvals-harness-'));
  const inner = await openStore({ sqlitePath: path.join(dir, 'g.db') });
  let failing = new Set<string>();
  let failCompletions = false;
  const actionOf = new Map<string, string>();
  const store = Object.create(inner) as Store;
  store.insertAuditEvent = async (row) => {
    if (!failCompletions && (failing.has('*') || failing.has(row.action))) throw new StoreError('test: the store is down');
    actionOf.set(row.id, row.action);
    return inner.insertAuditEvent(row);
  };
  store.completeAuditEvent = async (id, fields) => {
    const action = actionOf.get(id) ?? '';
    if (failCompletions && (failing.has('*') || failing.has(action))) throw new StoreError('test: the store is down');
    return inner.completeAuditEvent(id, fields);
  };
  for (const p of [ADA, BOB, CAROL, DAN, IVY, ...people]) await inner.insertPrincipal({ ...p, groups: [...p.groups], createdAt: 1, disabledAt: null });
  const time = new ManualTime();
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
  const coordination = new MemoryCoordination('rep_a');
  const grants = [...GRANTS];
  const breakGlass = ['ic'];
  const make = () =>
    new Approvals({ store, coordination, logger: pino({ level: 'info' }, sink), roleGrants: () => grants, breakGlassGroups: () => breakGlass, now: time.now, timers: time });
  const approvals = make();
  const replicas: Approvals[] = [];
  return {
    store,
    time,
    approvals,
    grants,
    breakGlass,
    logs: () => lines.map((l) => JSON.parse(l)),
    failAudit(actions, opts = {}) {
      failing = new Set(actions);
      failCompletions = opts.completions === true;
    },
    async trail(approvalId) {
      // Ids order by millisecond; within one (the clock here stands still) by where the action comes in an approval's life.
      const rank = (a: string) => ['approval.created', 'approval.voted', 'approval.break_glass', 'approval.approved', 'approval.denied', 'approval.expired', 'approval.withdrawn', 'approval.used'].indexOf(a);
      return (await inner.listAuditEvents({ target: approvalId, limit: 1000 })).sort((x, y) => x.at - y.at || rank(x.action) - rank(y.action));
    },
    held(req, options = {}) {
      let created!: (id: string) => void;
      const id = new Promise<string>((resolve) => (created = resolve));
      const outcome = approvals.hold(req, { waitMs: 60_000, ...options, onCreated: (a) => created(a.id) });
      // A refusal before the approval exists rejects `outcome`; `id` then never resolves, so tests await `outcome` first there.
      outcome.catch(() => undefined);
      return { id, outcome };
    },
    replica() {
      const r = make();
      replicas.push(r);
      return r;
    },
    async close() {
      approvals.stop();
      for (const r of replicas) r.stop();
      await inner.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
