/**
 * `tools/list` as the caller may use it: each tool is put to the caller's policy as a call to that
 * tool (with no arguments), and the ones a rule denies are left out. A tool held for approval stays
 * listed: calling it asks for the approval. A rule that reads the arguments is still checked at
 * every call; the list only spares the agent tools it could never call.
 */
import type { Session } from '../../adapter-contract.ts';
import type { RuntimeState } from '../../runtime-state.ts';

const NO_ENTITIES: readonly string[] = Object.freeze([]);

/** `flagsOf` gives each tool's `request.mcp.tool_flags` (pin-session.ts), so a rule can leave out a poisoned tool. */
export function allowedTools(state: RuntimeState, session: Session, tools: unknown, flagsOf: (name: string) => readonly string[] | undefined = () => undefined): unknown[] {
  if (!Array.isArray(tools)) return [];
  const policy = state.plan(session.connection).policy;
  const time = new Date();
  return tools.filter((tool: unknown) => {
    const name = typeof tool === 'object' && tool !== null ? (tool as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || name === '') return false;
    try {
      const decision = policy.decide({
        identity: session.auth.principal,
        credential: session.auth.credential,
        connection: session.connection,
        kind: 'mcp.tool_call',
        summary: { mcp: { method: 'tools/call', tool: name, arguments: {}, toolFlags: flagsOf(name) ?? [] }, entities: NO_ENTITIES },
        time,
      });
      return decision.action !== 'deny';
    } catch {
      // Policy that fails is a denial, here as in the runner.
      return false;
    }
  });
}
