/**
 * One MCP session's view of its prompts and resources: what the gateway found in their
 * descriptions (tool-flags.ts, scanned as tool definitions are), kept from the last lists so
 * `prompts/get` and `resources/read` carry `request.mcp.description_flags`, and each list filtered
 * by the caller's policy as the get or read of each entry. A prompt or resource used before any
 * list makes the gateway list once itself, so skipping the list does not skip the flags.
 */
import type { RequestDraft, Session } from '../../adapter-contract.ts';
import type { RuntimeState } from '../../runtime-state.ts';
import { descriptionFlags, type ToolFlag } from './tool-flags.ts';
import { allowedEntries } from './tool-filter.ts';

/** Entries one list keeps flags for; more are shown as their policy allows but not remembered. */
const MAX_ENTRIES = 1_000;
const LIST_METHODS = ['prompts/list', 'resources/list', 'resources/templates/list'] as const;
type ListMethod = (typeof LIST_METHODS)[number];

export const isCatalogList = (method: string): method is ListMethod => (LIST_METHODS as readonly string[]).includes(method);

/** A template's URIs all start with its text before the first expression (RFC 6570); the longest such prefix names it. */
const templatePrefix = (template: string) => template.split('{', 1)[0]!;

/** A name listed twice carries the flags of both entries: a clean twin does not launder a poisoned one. */
function add(into: Map<string, ToolFlag[]>, key: string, flags: ToolFlag[]): void {
  const had = into.get(key);
  if (had === undefined && into.size >= MAX_ENTRIES) return;
  into.set(key, had === undefined ? flags : [...new Set([...had, ...flags, 'duplicate_name' as const])]);
}

export class SessionCatalog {
  private readonly prompts = new Map<string, ToolFlag[]>();
  private readonly resources = new Map<string, ToolFlag[]>();
  private templates: { prefix: string; flags: ToolFlag[] }[] = [];
  private readonly listed = new Set<ListMethod>();

  constructor(
    private readonly session: Session,
    private readonly state: () => RuntimeState,
    /** The tool server's answer to a list, asked under the gateway's own id. */
    private readonly listUpstream: (method: ListMethod) => Promise<Record<string, unknown>>,
  ) {}

  /** A list's result as the agent may see it: entries a rule denies (reading their flags) left out. */
  review(method: ListMethod, result: Record<string, unknown>, cursor: unknown): Record<string, unknown> {
    this.remember(method, result, cursor === undefined);
    const key = method === 'prompts/list' ? 'prompts' : method === 'resources/list' ? 'resources' : 'resourceTemplates';
    const shown = allowedEntries(this.state(), this.session, result[key], (entry) => {
      // A name listed twice is judged by the flags of both entries (what a get or read will carry).
      if (method === 'prompts/list') {
        if (typeof entry.name !== 'string') return null;
        const flags = this.prompts.get(entry.name) ?? descriptionFlags(entry);
        return { kind: 'mcp.other', mcp: { method: 'prompts/get', tool: null, arguments: { name: entry.name }, descriptionFlags: flags } };
      }
      const uri = method === 'resources/list' ? entry.uri : entry.uriTemplate;
      if (typeof uri !== 'string') return null;
      const flags = (method === 'resources/list' ? this.resources.get(uri) : undefined) ?? descriptionFlags(entry);
      return { kind: 'mcp.other', mcp: { method: 'resources/read', tool: null, arguments: { uri }, descriptionFlags: flags } };
    });
    return { ...result, [key]: shown };
  }

  /** A prompts/get or resources/read (subscribe) draft with what its entry's description carries. */
  async withFlags(draft: RequestDraft): Promise<RequestDraft> {
    const mcp = draft.summary.mcp;
    if (!mcp) return draft;
    const args = mcp.arguments as Record<string, unknown>;
    let flags: readonly string[] | undefined;
    if (mcp.method === 'prompts/get' && typeof args.name === 'string') {
      flags = (await this.seen('prompts/list', () => this.prompts.get(args.name as string))) ?? ['unlisted'];
    } else if ((mcp.method === 'resources/read' || mcp.method === 'resources/subscribe') && typeof args.uri === 'string') {
      const uri = args.uri;
      flags = (await this.seen('resources/list', () => this.resources.get(uri))) ?? (await this.seen('resources/templates/list', () => this.templateFlags(uri))) ?? ['unlisted'];
    } else {
      return draft;
    }
    return { ...draft, summary: { ...draft.summary, mcp: { ...mcp, descriptionFlags: flags } } };
  }

  /** What `find` finds, after listing once if this session never listed (a server without the list finds nothing). */
  private async seen(method: ListMethod, find: () => ToolFlag[] | undefined): Promise<ToolFlag[] | undefined> {
    const found = find();
    if (found !== undefined || this.listed.has(method)) return found;
    this.listed.add(method);
    try {
      this.remember(method, await this.listUpstream(method), true);
    } catch {
      // Not listed: nothing is known of it, and the draft says so (`unlisted`).
    }
    return find();
  }

  private templateFlags(uri: string): ToolFlag[] | undefined {
    let best: { prefix: string; flags: ToolFlag[] } | undefined;
    for (const t of this.templates) if (t.prefix !== '' && uri.startsWith(t.prefix) && (!best || t.prefix.length > best.prefix.length)) best = t;
    return best?.flags;
  }

  private remember(method: ListMethod, result: Record<string, unknown>, first: boolean): void {
    this.listed.add(method);
    const entries = (value: unknown) => (Array.isArray(value) ? value : []).filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && !Array.isArray(e)).slice(0, MAX_ENTRIES);
    if (method === 'prompts/list') {
      if (first) this.prompts.clear();
      for (const p of entries(result.prompts)) if (typeof p.name === 'string') add(this.prompts, p.name, descriptionFlags(p));
    } else if (method === 'resources/list') {
      if (first) this.resources.clear();
      for (const r of entries(result.resources)) if (typeof r.uri === 'string') add(this.resources, r.uri, descriptionFlags(r));
    } else {
      if (first) this.templates = [];
      for (const t of entries(result.resourceTemplates)) {
        if (typeof t.uriTemplate === 'string' && this.templates.length < MAX_ENTRIES) this.templates.push({ prefix: templatePrefix(t.uriTemplate), flags: descriptionFlags(t) });
      }
    }
  }
}
