/**
 * Tool names on an aggregate endpoint: `<connection>__<tool>`. A call is routed by the table the
 * last list built, never by splitting the name, so a tool server cannot reach another connection
 * by naming a tool `other__x` (it is listed as `<its connection>__other__x`, routed back to it).
 */
export const SEPARATOR = '__';

/** The names agents' model APIs accept for a function (OpenAI, Anthropic); a longer or odder combined name is left out. */
export const EXPOSED_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface ToolRoute {
  readonly connection: string;
  readonly tool: string;
}

export interface LeftOut {
  readonly connection: string;
  readonly tool: string;
  readonly why: 'invalid_name' | 'collision';
}

export interface MergedTools {
  readonly tools: Record<string, unknown>[];
  readonly routes: ReadonlyMap<string, ToolRoute>;
  readonly leftOut: readonly LeftOut[];
}

/** Merges each connection's (already filtered) list under prefixed names; a name two tools would share is given to neither. */
export function mergeTools(lists: readonly { connection: string; tools: readonly Record<string, unknown>[] }[]): MergedTools {
  const byName = new Map<string, { route: ToolRoute; tool: Record<string, unknown> }[]>();
  const leftOut: LeftOut[] = [];
  for (const { connection, tools } of lists) {
    for (const tool of tools) {
      const name = typeof tool.name === 'string' ? tool.name : '';
      const exposed = `${connection}${SEPARATOR}${name}`;
      if (name === '' || !EXPOSED_NAME.test(exposed)) {
        leftOut.push({ connection, tool: name, why: 'invalid_name' });
        continue;
      }
      const same = byName.get(exposed) ?? [];
      same.push({ route: { connection, tool: name }, tool });
      byName.set(exposed, same);
    }
  }
  const tools: Record<string, unknown>[] = [];
  const routes = new Map<string, ToolRoute>();
  for (const [exposed, same] of byName) {
    if (same.length > 1) {
      for (const { route } of same) leftOut.push({ ...route, why: 'collision' });
      continue;
    }
    const only = same[0]!;
    routes.set(exposed, only.route);
    tools.push({ ...only.tool, name: exposed });
  }
  return { tools, routes, leftOut };
}
