/**
 * An aggregate connection in gatehouse.yaml (`upstream: "aggregate:"` with mcp.aggregate), and the
 * name merging it serves: what is accepted, what each mistake is told, and how hostile tool names
 * (spoofed prefixes, collisions, over-long or odd names) are left out rather than rewritten.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.ts';
import { mergeTools } from '../../../src/adapters/mcp/aggregate-names.ts';

const load = (connections: string) => parseConfig(`connections:\n${connections}`, 'test.yaml', { TOKEN: 'secret-value-123' });
const aggregate = (extra: string) => `  - name: both\n    type: mcp\n    upstream: "aggregate:"\n${extra}`;

describe('aggregate connections in gatehouse.yaml', () => {
  test('an aggregate names the MCP connections it serves', () => {
    const config = load(aggregate('    mcp:\n      aggregate: [conn-a, conn_b]\n      maxSessions: 4\n'));
    assert.deepEqual(config.connections[0]!.mcp?.aggregate, ['conn-a', 'conn_b']);
    assert.equal(config.connections[0]!.mcp?.maxSessions, 4);
  });

  for (const [what, yaml, message] of [
    ['no member list', aggregate(''), /needs mcp\.aggregate/],
    ['an empty list', aggregate('    mcp: { aggregate: [] }\n'), /aggregate/],
    ['itself', aggregate('    mcp: { aggregate: [both, a] }\n'), /cannot serve itself/],
    ['a name with the separator', aggregate('    mcp: { aggregate: ["a__b"] }\n'), /no "__"/],
    ['a name with a dot', aggregate('    mcp: { aggregate: [db.tools] }\n'), /no "__"|lower-case/],
    ['an upper-case name', aggregate('    mcp: { aggregate: [Tools] }\n'), /lower-case/],
    ['a name twice', aggregate('    mcp: { aggregate: [a, a] }\n'), /named twice/],
    ['a credential', aggregate('    credential: ${TOKEN}\n    mcp: { aggregate: [a] }\n'), /holds no credential/],
    ['a command', aggregate('    mcp: { aggregate: [a], command: /bin/sh }\n'), /starts no process/],
    ['env', aggregate('    mcp: { aggregate: [a], env: { A: b } }\n'), /starts no process/],
    ['aggregate on an HTTP server', `  - name: tools\n    type: mcp\n    upstream: https://x.example/mcp\n    mcp: { aggregate: [a] }\n`, /upstream: "aggregate:"/],
    ['aggregate on a stdio server', `  - name: tools\n    type: mcp\n    upstream: "stdio:"\n    mcp: { command: /bin/tool, aggregate: [a] }\n`, /upstream: "aggregate:"/],
    ['aggregate on another type', `  - name: tools\n    type: http\n    upstream: https://x.example/\n    mcp: { aggregate: [a] }\n`, /only a connection of type mcp/],
    ['too many members', aggregate(`    mcp: { aggregate: [${Array.from({ length: 33 }, (_, i) => `m${i}`).join(', ')}] }\n`), /aggregate/],
  ] as const) {
    test(`refused: ${what}`, () => {
      assert.throws(() => load(yaml), (err: Error) => message.test(err.message));
    });
  }
});

describe('merging tool lists under <connection>__<tool>', () => {
  const t = (name: unknown) => ({ name, description: 'd', inputSchema: { type: 'object' } });

  test('each tool keeps its definition under its prefixed name, routed back to its connection and own name', () => {
    const merged = mergeTools([
      { connection: 'conn-a', tools: [t('echo')] },
      { connection: 'conn-b', tools: [t('echo'), t('conn-a__echo')] },
    ]);
    assert.deepEqual(merged.tools.map((x) => x.name), ['conn-a__echo', 'conn-b__echo', 'conn-b__conn-a__echo']);
    assert.deepEqual(merged.routes.get('conn-b__conn-a__echo'), { connection: 'conn-b', tool: 'conn-a__echo' });
    assert.equal(merged.tools[0]!.description, 'd');
    assert.deepEqual(merged.leftOut, []);
  });

  for (const [what, lists, leftOut] of [
    ['a name listed twice by one server', [{ connection: 'a', tools: [t('x'), t('x')] }], [{ connection: 'a', tool: 'x', why: 'collision' }, { connection: 'a', tool: 'x', why: 'collision' }]],
    ['two connections meeting at one name', [{ connection: 'a', tools: [t('_y')] }, { connection: 'a_', tools: [t('y')] }], [{ connection: 'a', tool: '_y', why: 'collision' }, { connection: 'a_', tool: 'y', why: 'collision' }]],
    ['65 characters', [{ connection: 'a', tools: [t('x'.repeat(62))] }], [{ connection: 'a', tool: 'x'.repeat(62), why: 'invalid_name' }]],
    ['a dot', [{ connection: 'a', tools: [t('read.file')] }], [{ connection: 'a', tool: 'read.file', why: 'invalid_name' }]],
    ['a space', [{ connection: 'a', tools: [t('read file')] }], [{ connection: 'a', tool: 'read file', why: 'invalid_name' }]],
    ['a NUL', [{ connection: 'a', tools: [t('x\u0000')] }], [{ connection: 'a', tool: 'x\u0000', why: 'invalid_name' }]],
    ['a zero-width space', [{ connection: 'a', tools: [t('ec\u200Bho')] }], [{ connection: 'a', tool: 'ec\u200Bho', why: 'invalid_name' }]],
    ['a Cyrillic letter', [{ connection: 'a', tools: [t('еcho')] }], [{ connection: 'a', tool: 'еcho', why: 'invalid_name' }]],
    ['a newline', [{ connection: 'a', tools: [t('echo\n')] }], [{ connection: 'a', tool: 'echo\n', why: 'invalid_name' }]],
    ['a slash', [{ connection: 'a', tools: [t('../b__echo')] }], [{ connection: 'a', tool: '../b__echo', why: 'invalid_name' }]],
    ['an empty name', [{ connection: 'a', tools: [t('')] }], [{ connection: 'a', tool: '', why: 'invalid_name' }]],
    ['a name that is not a string', [{ connection: 'a', tools: [t(42), t(null), t({ toString: 'x' })] }], [0, 1, 2].map(() => ({ connection: 'a', tool: '', why: 'invalid_name' }))],
  ] as const) {
    test(`left out, not rewritten: ${what}`, () => {
      const merged = mergeTools(lists as never);
      assert.deepEqual(merged.tools, []);
      assert.equal(merged.routes.size, 0);
      assert.deepEqual(merged.leftOut, leftOut);
    });
  }

  test('exactly 64 characters fits', () => {
    const merged = mergeTools([{ connection: 'a', tools: [t('x'.repeat(61))] }]);
    assert.equal((merged.tools[0]!.name as string).length, 64);
  });
});
