/**
 * Tool-definition pinning (OWASP MCP Top 10: rug pulls, tool poisoning). For a connection with
 * `mcp.pinTools`, each tool is usable only while its definition hashes (pin-hash.ts) to the one
 * the connection's approvers approved. The first list a connection ever shows asks, in one
 * approval, to pin all its tools; after that each added, changed, renamed or removed tool asks on
 * its own, with the diff (pin-diff.ts). Until approved, a tool is not listed and not callable.
 * Approvals are asked in the name of the connection, not of the agent that listed, so every
 * agent's list finds the one approval and the first list after the decision applies it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Approvals, HoldRequest } from '../../approvals/service.ts';
import { foldedText } from '../../policy/packs/folded-text.ts';
import { fieldChanges, shownText, textChange, type Mask } from './pin-diff.ts';
import { canonicalJson, pinnedForm, UnpinnableDefinition } from './pin-hash.ts';
import { toolFlags, type ToolFlag } from './tool-flags.ts';

export const PIN_RULE = 'mcp/pinned-tools';
/** How long an approval of tool definitions stays open (and, approved, waits to be applied by a list). */
export const PIN_APPROVAL_TIMEOUT_MS = 7 * 24 * 3600_000;
/** Approvals one list asks at most; the other changed tools stay blocked until a later list. */
export const MAX_ASKS_PER_LIST = 20;
/** Tools one list may hold; the rest are dropped (and logged). */
export const MAX_TOOLS = 1_000;
const NAME_LIMIT = 256;
const SUMMARY_TOOLS = 200;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A pin as the store keeps it (store/types.ts ToolPinRow; adapters do not import the store). */
export interface ToolPinRow {
  connection: string;
  tool: string;
  hash: string;
  definitionJson: string;
  pinnedAt: number;
  approvalId: string | null;
  /** Who pinned it directly (an admin, `gatehouse mcp pin`); null when an approval did. */
  pinnedBy: string | null;
}

/** The store's pin methods (migration 14). */
export interface PinStore {
  listToolPins(connection: string): Promise<ToolPinRow[]>;
  putToolPin(row: ToolPinRow): Promise<void>;
  deleteToolPin(connection: string, tool: string): Promise<boolean>;
  /** Recent denials of the connection's asks (store.listApprovals), so a denied change is not asked again at every list. */
  listApprovals(filter: { status: 'denied'; principalId: string; limit: number }): Promise<{ id: string; fingerprint: string; decidedAt: number | null }[]>;
}

export interface ToolPinsDeps {
  readonly store: PinStore;
  readonly approvals: Pick<Approvals, 'hold'>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** One tool as a list shows it: its definition, its flags, and why it is blocked (null: usable). */
export interface ToolVerdict {
  readonly tool: Record<string, unknown>;
  readonly flags: readonly ToolFlag[];
  readonly blocked: string | null;
}

/** What an admin's direct pinning did. */
export interface PinnedList {
  readonly pinned: { readonly tool: string; readonly hash: string; readonly flags: readonly ToolFlag[] }[];
  /** Pins of tools the server no longer lists, dropped. */
  readonly removed: string[];
  /** Names the server listed more than once: pinned for neither. */
  readonly duplicates: string[];
  /** Entries not pinned: duplicates, and entries without a usable name or that cannot be pinned. */
  readonly skipped: number;
}

export interface PinSettings {
  readonly connection: string;
  readonly pinTools: boolean;
  readonly approvers: readonly string[];
  readonly mask: Mask;
}

interface Candidate {
  readonly tool: Record<string, unknown>;
  readonly name: string;
  readonly json: string;
  readonly hash: string;
  readonly flags: ToolFlag[];
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const approveHint = (id: string, approvers: readonly string[], connection: string) =>
  `approval ${id} asks a member of ${approvers.join(', ')} to approve it (gatehouse approvals approve ${id}), or an admin pins the list as the tool server shows it now (gatehouse mcp pin ${connection}); list the tools again once approved`;

/** Tool entries a list can carry: an object with a well-formed name of 1 to 256 characters without NUL, pinnable. */
function candidates(tools: unknown, logger: Logger, connection: string): Candidate[] {
  if (!Array.isArray(tools)) return [];
  const out: Candidate[] = [];
  for (const tool of tools.slice(0, MAX_TOOLS)) {
    if (typeof tool !== 'object' || tool === null || Array.isArray(tool)) continue;
    const name = (tool as { name?: unknown }).name;
    if (typeof name !== 'string' || name === '' || name.length > NAME_LIMIT || LONE_SURROGATE.test(name) || name.includes('\u0000')) continue;
    try {
      const { json, hash } = pinnedForm(tool as Record<string, unknown>);
      out.push({ tool: tool as Record<string, unknown>, name, json, hash, flags: toolFlags(tool as Record<string, unknown>) });
    } catch (err) {
      if (!(err instanceof UnpinnableDefinition)) throw err;
      logger.warn({ connection, tool: name.slice(0, 100), why: err.message }, 'an MCP tool definition was dropped: it cannot be pinned');
    }
  }
  if (tools.length > MAX_TOOLS) logger.warn({ connection, listed: tools.length, kept: MAX_TOOLS }, 'an MCP tool list was cut');
  return out;
}

/** A definition without its name: what stays the same when a tool is only renamed. */
function withoutName(json: string): string {
  const { name: _name, ...rest } = JSON.parse(json) as Record<string, unknown>;
  return canonicalJson(rest);
}

export class ToolPins {
  private readonly now: () => number;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ToolPinsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * The verdict on each tool of a list. `complete` says the list is the server's whole list (no
   * cursor in or out), so a pinned tool missing from it was removed.
   */
  review(settings: PinSettings, tools: unknown, complete: boolean): Promise<ToolVerdict[]> {
    const found = candidates(tools, this.deps.logger, settings.connection);
    if (!settings.pinTools) return Promise.resolve(found.map((c) => ({ tool: c.tool, flags: duplicates(found).has(c.name) ? [...c.flags, 'duplicate_name'] : c.flags, blocked: null })));
    return this.queued(settings.connection, () => this.pinned(settings, found, complete));
  }

  /**
   * Trust on first use by an admin (`gatehouse mcp pin`): the connection's pins become exactly this
   * list, the server's whole list as the gateway just read it. A name listed twice is pinned for
   * neither; a definition that cannot be pinned is skipped; a pin whose tool is no longer listed goes.
   */
  pinList(connection: string, tools: unknown, by: string): Promise<PinnedList> {
    return this.queued(connection, async () => {
      const found = candidates(tools, this.deps.logger, connection);
      const twice = duplicates(found);
      const listed = Array.isArray(tools) ? tools.length : 0;
      const pinned: PinnedList['pinned'] = [];
      for (const c of found) {
        if (twice.has(c.name)) continue;
        await this.deps.store.putToolPin({ connection, tool: c.name, hash: c.hash, definitionJson: c.json, pinnedAt: this.now(), approvalId: null, pinnedBy: by });
        pinned.push({ tool: c.name, hash: c.hash, flags: c.flags });
      }
      const keep = new Set(pinned.map((p) => p.tool));
      const removed: string[] = [];
      for (const pin of await this.deps.store.listToolPins(connection)) {
        if (!keep.has(pin.tool) && (await this.deps.store.deleteToolPin(connection, pin.tool))) removed.push(pin.tool);
      }
      const skipped = listed - pinned.length;
      this.deps.logger.info({ connection, tools: pinned.length, removed: removed.length, skipped, by }, 'MCP tools pinned by an admin');
      return { pinned, removed, duplicates: [...twice], skipped };
    });
  }

  /** Reviews and pinnings of one connection run one at a time on this replica, so two lists do not ask twice. */
  private queued<T>(connection: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(connection) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    const tail = run.catch(() => undefined);
    this.queues.set(connection, tail);
    void tail.then(() => {
      if (this.queues.get(connection) === tail) this.queues.delete(connection);
    });
    return run;
  }

  private async pinned(settings: PinSettings, found: Candidate[], complete: boolean): Promise<ToolVerdict[]> {
    const twice = duplicates(found);
    const pins = new Map((await this.deps.store.listToolPins(settings.connection)).map((pin) => [pin.tool, pin]));
    const unique = found.filter((c) => !twice.has(c.name));
    const verdicts = new Map<Candidate, ToolVerdict>();
    for (const c of found) {
      if (twice.has(c.name)) verdicts.set(c, { tool: c.tool, flags: [...c.flags, 'duplicate_name', 'unpinned'], blocked: `the tool server listed more than one tool named "${c.name}"; none of them is usable` });
    }
    if (pins.size === 0 && unique.length > 0) {
      const blocked = await this.bootstrap(settings, unique);
      for (const c of unique) verdicts.set(c, { tool: c.tool, flags: blocked === null ? c.flags : [...c.flags, 'unpinned'], blocked });
    } else {
      let asks = 0;
      const listed = new Set(found.map((c) => c.name));
      const removed = complete ? [...pins.values()].filter((pin) => !listed.has(pin.tool)) : [];
      for (const c of unique) {
        const pin = pins.get(c.name);
        if (pin?.hash === c.hash) {
          verdicts.set(c, { tool: c.tool, flags: c.flags, blocked: null });
          continue;
        }
        const flags: ToolFlag[] = [...c.flags, pin ? 'changed' : 'unpinned'];
        if (!pin && lookalike(c.name, pins)) flags.push('lookalike_name');
        if (asks++ >= MAX_ASKS_PER_LIST) {
          verdicts.set(c, { tool: c.tool, flags, blocked: `tool "${c.name}" is not approved as it is now, and this list changed more than ${MAX_ASKS_PER_LIST} tools at once: decide the pending approvals, then list the tools again` });
          continue;
        }
        const renamedFrom = pin ? null : (removed.find((old) => safeWithoutName(old.definitionJson) === safeWithoutName(c.json))?.tool ?? null);
        const blocked = await this.change(settings, c, pin ?? null, flags, renamedFrom);
        verdicts.set(c, { tool: c.tool, flags: blocked === null ? c.flags : flags, blocked });
      }
      for (const pin of removed) {
        if (asks++ >= MAX_ASKS_PER_LIST) break;
        await this.removal(settings, pin);
      }
    }
    return found.map((c) => verdicts.get(c)!);
  }

  /** One approval for the connection's first list: null once approved (and pinned), else why the tools wait. */
  private async bootstrap(settings: PinSettings, tools: Candidate[]): Promise<string | null> {
    const sorted = [...tools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const fingerprint = sha256(JSON.stringify(['mcp.tool_pin', settings.connection, sorted.map((c) => [c.name, c.hash])]));
    const summary = {
      connection: settings.connection,
      change: 'first pins',
      count: tools.length,
      tools: sorted.slice(0, SUMMARY_TOOLS).map((c) => ({
        tool: shownText(c.name, settings.mask),
        ...(typeof c.tool.description === 'string' ? { description: shownText(c.tool.description, settings.mask) } : {}),
        flags: c.flags,
        hash: c.hash,
      })),
      ...(tools.length > SUMMARY_TOOLS ? { more: tools.length - SUMMARY_TOOLS } : {}),
    };
    const denied = await this.denied(settings, fingerprint);
    if (denied) return `the first pins of connection "${settings.connection}" were denied (approval ${denied}); nothing is usable until the tool server's list changes or an approver is asked again after 7 days`;
    const outcome = await this.deps.approvals.hold(this.request(settings, 'mcp.tool_pin', fingerprint, summary), { waitMs: 0 });
    if (outcome.state !== 'approved') {
      return `the tools of connection "${settings.connection}" are not pinned yet: ${approveHint(outcome.id, settings.approvers, settings.connection)}`;
    }
    for (const c of tools) await this.pin(settings.connection, c, outcome.id);
    this.deps.logger.info({ connection: settings.connection, tools: tools.length, approvalId: outcome.id }, 'MCP tools pinned');
    return null;
  }

  private async change(settings: PinSettings, c: Candidate, pin: ToolPinRow | null, flags: readonly ToolFlag[], renamedFrom: string | null): Promise<string | null> {
    const fingerprint = sha256(JSON.stringify(['mcp.tool_change', settings.connection, c.name, pin?.hash ?? null, c.hash]));
    const old = pin ? (JSON.parse(pin.definitionJson) as Record<string, unknown>) : null;
    const oldText = typeof old?.description === 'string' ? old.description : '';
    const newText = typeof c.tool.description === 'string' ? c.tool.description : '';
    const { changes, more } = fieldChanges(old, c.tool, settings.mask);
    const summary = {
      connection: settings.connection,
      tool: shownText(c.name, settings.mask),
      change: pin ? 'changed' : renamedFrom !== null ? 'renamed' : 'added',
      ...(renamedFrom !== null ? { renamedFrom: shownText(renamedFrom, settings.mask) } : {}),
      description: pin ? textChange(oldText, newText, settings.mask) : { to: shownText(newText, settings.mask) },
      changes,
      ...(more > 0 ? { moreChanges: more } : {}),
      flags,
      fromHash: pin?.hash ?? null,
      toHash: c.hash,
    };
    const denied = await this.denied(settings, fingerprint);
    if (denied) return `tool "${c.name}" is not usable: this definition was denied (approval ${denied}); it stays blocked until the tool server changes it again`;
    const outcome = await this.deps.approvals.hold(this.request(settings, 'mcp.tool_change', fingerprint, summary), { waitMs: 0 });
    if (outcome.state !== 'approved') {
      const what = pin ? 'changed since it was approved' : renamedFrom !== null ? `is "${renamedFrom}" renamed, which needs approving` : 'is new and not approved yet';
      return `tool "${c.name}" ${what}: ${approveHint(outcome.id, settings.approvers, settings.connection)}`;
    }
    await this.pin(settings.connection, c, outcome.id);
    this.deps.logger.info({ connection: settings.connection, tool: c.name, approvalId: outcome.id }, 'MCP tool definition pinned');
    return null;
  }

  /** A pinned tool the server no longer lists: approved, its pin goes (a tool of that name later is new). */
  private async removal(settings: PinSettings, pin: ToolPinRow): Promise<void> {
    const fingerprint = sha256(JSON.stringify(['mcp.tool_change', settings.connection, pin.tool, pin.hash, null]));
    const summary = { connection: settings.connection, tool: shownText(pin.tool, settings.mask), change: 'removed', fromHash: pin.hash, toHash: null };
    const outcome = await this.deps.approvals.hold(this.request(settings, 'mcp.tool_change', fingerprint, summary), { waitMs: 0 });
    if (outcome.state === 'approved') await this.deps.store.deleteToolPin(settings.connection, pin.tool);
  }

  /** The id of an approval that denied exactly this ask within PIN_APPROVAL_TIMEOUT_MS, if any. */
  private async denied(settings: PinSettings, fingerprint: string): Promise<string | null> {
    const since = this.now() - PIN_APPROVAL_TIMEOUT_MS;
    const rows = await this.deps.store.listApprovals({ status: 'denied', principalId: requesterId(settings.connection), limit: 500 });
    return rows.find((row) => row.fingerprint === fingerprint && (row.decidedAt ?? 0) >= since)?.id ?? null;
  }

  private pin(connection: string, c: Candidate, approvalId: string): Promise<void> {
    return this.deps.store.putToolPin({ connection, tool: c.name, hash: c.hash, definitionJson: c.json, pinnedAt: this.now(), approvalId, pinnedBy: null });
  }

  private request(settings: PinSettings, kind: string, fingerprint: string, summary: Record<string, unknown>): HoldRequest {
    return {
      // Asked in the connection's name: one approval whichever agent listed, and no agent approves its own tools.
      principal: { id: requesterId(settings.connection), name: `tool definitions of ${settings.connection}`, kind: 'service_account' },
      tokenId: null,
      agent: 'gatehouse',
      connection: settings.connection,
      kind,
      fingerprint,
      rule: PIN_RULE,
      approvers: [...settings.approvers],
      required: 1,
      timeoutMs: PIN_APPROVAL_TIMEOUT_MS,
      summary,
    };
  }
}

const requesterId = (connection: string) => `mcp-tools:${connection}`;

function duplicates(found: readonly Candidate[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const c of found) (seen.has(c.name) ? twice : seen).add(c.name);
  return twice;
}

/** A new name that reads like a pinned one (`dеlete` with a Cyrillic е, `Delete`, `delete_` …): approvers are told. */
function lookalike(name: string, pins: ReadonlyMap<string, ToolPinRow>): boolean {
  const skeleton = (text: string) => foldedText(text).split('\n')[0]!.replace(/[^\p{L}\p{N}]/gu, '');
  const mine = skeleton(name);
  for (const other of pins.keys()) if (other !== name && skeleton(other) === mine) return true;
  return false;
}

function safeWithoutName(json: string): string | null {
  try {
    return withoutName(json);
  } catch {
    return null;
  }
}
