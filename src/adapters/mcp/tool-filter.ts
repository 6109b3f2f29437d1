/**
 * `tools/list` as the caller may use it: each tool is put to the caller's policy as a call to that
 * tool (with no arguments), and the ones a rule denies are left out. A tool held for approval stays
 * listed: calling it asks for the approval. A rule that reads the arguments is still checked at
 * every call; the list only spares the agent tools it could never call.
 */
import type { Session } from '../../adapter-contract.ts';
import type { RuntimeState } from '../../runtime-state.ts';
import type { InteractionKind, McpFacts } from '../../interaction.ts';

const NO_ENTITIES: readonly string[] = Object.freeze([]);

/** `flagsOf` gives each tool's `request.mcp.tool_flags` (pin-session.ts), so a rule can leave out a poisoned tool. */
export function allowedTools(state: RuntimeState, session: Session, tools: unknown, flagsOf: (name: string) => readonly string[] | undefined = () => undefined): unknown[] {
  return allowedEntries(state, session, tools, (tool) => {
    const name = tool.name;
    if (typeof name !== 'string' || name === '') return null;
    const flags = flagsOf(name) ?? [];
    return { kind: 'mcp.tool_call', mcp: { method: 'tools/call', tool: name, arguments: {}, toolFlags: flags, descriptionFlags: flags } };
  });
}

/**
 * The entries of any list the caller may use: each is put to policy as the request that would use
 * it (`factsOf`: null leaves it out), and the ones a rule denies are left out.
 */
export function allowedEntries(state: RuntimeState, session: Session, entries: unknown, factsOf: (entry: Record<string, unknown>) => { kind: InteractionKind; mcp: McpFacts } | null): unknown[] {
  if (!Array.isArray(entries)) return [];
  const policy = state.plan(session.connection).policy;
  const time = new Date();
  return entries.filter((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
    const facts = factsOf(entry as Record<string, unknown>);
    if (facts === null) return false;
    try {
      const decision = policy.decide({
        identity: session.auth.principal,
        credential: session.auth.credential,
        connection: session.connection,
        kind: facts.kind,
        summary: { mcp: facts.mcp, entities: NO_ENTITIES },
        time,
      });
      return decision.action !== 'deny';
    } catch {
      // Policy that fails is a denial, here as in the runner.
      return false;
    }
  });
}
