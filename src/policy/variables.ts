/**
 * What a condition may read, with CEL names in snake_case. `map` marks values whose keys are data
 * (headers, flags, tool arguments); `leaf` values have no fields.
 */
export type FieldTree = { readonly [field: string]: FieldTree | 'leaf' | 'map' };

export const VARIABLES: FieldTree = {
  identity: { id: 'leaf', name: 'leaf', kind: 'leaf', groups: 'leaf' },
  connection: { name: 'leaf', type: 'leaf', tags: 'leaf' },
  request: {
    kind: 'leaf',
    entities: 'leaf',
    http: { method: 'leaf', path: 'leaf', query: 'leaf', headers: 'map' },
    llm: {
      model: 'leaf',
      stream: 'leaf',
      message_text: 'leaf',
      tool_names: 'leaf',
      max_tokens: 'leaf',
      estimated_input_tokens: 'leaf',
    },
    sql: {
      text: 'leaf',
      kinds: 'leaf',
      tables: 'leaf',
      has_where: 'leaf',
      functions: 'leaf',
      multi_statement: 'leaf',
      parse_error: 'leaf',
      flags: 'map',
    },
    mcp: { method: 'leaf', tool: 'leaf', arguments: 'map', tool_flags: 'leaf', description_flags: 'leaf' },
    s3: { operation: 'leaf', bucket: 'leaf', key: 'leaf', prefix: 'leaf', size: 'leaf', content_type: 'leaf' },
  },
  time: 'leaf',
  /** The agent the credential belongs to (agents.md); empty strings and an empty map when none. */
  agent: { name: 'leaf', owner: 'leaf', labels: 'map' },
  /** The caller's live just-in-time grants for this connection: a list of maps (policy.md). */
  grants: 'leaf',
};

/** Every documented field path below a variable, e.g. `request.sql.kinds`, as [path, root, fields]. */
export function fieldPaths(tree: FieldTree = VARIABLES, prefix: readonly string[] = []): Array<readonly string[]> {
  return Object.entries(tree).flatMap(([name, node]) => {
    const path = [...prefix, name];
    const below = typeof node === 'object' ? fieldPaths(node, path) : [];
    return prefix.length === 0 ? below : [path, ...below];
  });
}
