/**
 * One MCP session's view of its tools: the verdict (pins.ts) on each tool of the last list, what
 * `tools/call` is checked against, and the flags a call's policy facts carry. After the tool server
 * says its list changed, the gateway lists again itself (under its own id) and every call waits
 * for that list, so a tool changed behind the agent's back is never called under its old approval.
 */
import { PolicyDenied } from '../../errors.ts';
import type { RequestDraft } from '../../adapter-contract.ts';
import { PIN_RULE, type PinSettings, type ToolPins, type ToolVerdict } from './pins.ts';
import { toolFlags } from './tool-flags.ts';

const named = (tool: unknown): tool is Record<string, unknown> =>
  typeof tool === 'object' && tool !== null && typeof (tool as { name?: unknown }).name === 'string';

export class SessionTools {
  private verdicts = new Map<string, ToolVerdict>();
  private last: { tools: unknown; complete: boolean } | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly pins: ToolPins | undefined,
    private readonly settings: () => PinSettings,
    /** The tool server's list, asked under the gateway's own id. */
    private readonly listUpstream: () => Promise<Record<string, unknown>>,
  ) {}

  private get enforcing(): boolean {
    return this.pins !== undefined && this.settings().pinTools;
  }

  /** A `tools/list` result as the agent may see it: blocked tools left out, verdicts kept for calls. */
  async review(result: Record<string, unknown>, cursor: unknown): Promise<{ tools: Record<string, unknown>[]; flagsOf: (name: string) => readonly string[] | undefined }> {
    const complete = cursor === undefined && result.nextCursor === undefined;
    this.last = { tools: result.tools, complete };
    const verdicts = this.pins
      ? await this.pins.review(this.settings(), result.tools, complete)
      : (Array.isArray(result.tools) ? result.tools : []).filter(named).map((tool) => ({ tool, flags: toolFlags(tool), blocked: null }));
    // A page holds part of the list: it adds to what earlier pages said.
    if (cursor === undefined) this.verdicts = new Map();
    for (const v of verdicts) this.verdicts.set(v.tool.name as string, v);
    const shown = verdicts.filter((v) => v.blocked === null).map((v) => v.tool);
    return { tools: shown, flagsOf: (name) => this.verdicts.get(name)?.flags };
  }

  /** The tool server said its tools changed: list them again now (approvals for changes are asked at once). */
  listChanged(): void {
    if (!this.enforcing) return;
    this.relist();
  }

  private relist(): void {
    this.refreshing = this.listUpstream()
      .then((result) => this.review(result, undefined))
      .then(
        () => undefined,
        () => {
          // Not listed again: nothing is known to be approved as it is now.
          this.verdicts = new Map();
        },
      )
      .finally(() => {
        this.refreshing = null;
      });
  }

  /** Refuses a call of a tool that is not usable as listed (with why); a blocked tool's approval is looked at again first. */
  async checkCall(name: string): Promise<void> {
    if (!this.enforcing) return;
    await this.refreshing;
    let verdict = this.verdicts.get(name);
    if (verdict?.blocked && this.last) {
      // Approved since the list: the same list again applies the approval.
      const again = await this.pins!.review(this.settings(), this.last.tools, false);
      for (const v of again) this.verdicts.set(v.tool.name as string, v);
      verdict = this.verdicts.get(name);
    }
    if (!verdict) throw new PolicyDenied(PIN_RULE, `tool "${name}" is not in this session's approved tool list (connection "${this.settings().connection}" pins its tools): list the tools (tools/list), then call one listed`);
    if (verdict.blocked) throw new PolicyDenied(PIN_RULE, verdict.blocked);
  }

  /**
   * A tools/call draft with the called tool's flags as `request.mcp.tool_flags`. A tool this session
   * has not seen listed is looked up (the gateway lists the tools itself, once), so calling a tool
   * without listing it first does not pass a rule that reads the flags; one the server does not list
   * is `unlisted`.
   */
  async withFlags(draft: RequestDraft): Promise<RequestDraft> {
    const mcp = draft.summary.mcp;
    if (!mcp || mcp.tool === null) return draft;
    await this.refreshing;
    if (!this.verdicts.has(mcp.tool) && this.last === null) {
      this.relist();
      await this.refreshing;
    }
    const flags = this.verdicts.get(mcp.tool)?.flags ?? ['unlisted'];
    return { ...draft, summary: { ...draft.summary, mcp: { ...mcp, toolFlags: flags, descriptionFlags: flags } } };
  }
}
