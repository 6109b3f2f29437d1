/**
 * docs/policy.md › Prompts held for approval: high-risk-prompts, as a reader runs it: the page's
 * YAML as gatehouse.yaml, its `policy test` commands run with bash through the `gatehouse` CLI,
 * each getting the outcome its comment states, and the sample output matching the real one.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, type ShellResult } from '../docs/support/shell.ts';

const RUNNER = '../policy/high-risk-prompts-doc.test.ts';
const SECTION = 'docs/policy.md › Prompts held for approval: high-risk-prompts';

let shims: string;
let dir: string;
let results: Array<[string, ShellResult]>;

before(async () => {
  shims = await makeShims();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-high-risk-doc-'));
  await writeFile(join(dir, 'gatehouse.yaml'), docBlock(`${SECTION} › 1`).text);
  const commands = commandsOf(docBlock(`${SECTION} › 2`).text);
  // The commands only read the folder, so they run side by side.
  results = await Promise.all(commands.map(async (command) => [command, await runBash(command, { cwd: dir, env: shellEnv(shims) })] as [string, ShellResult]));
});
after(async () => {
  await rm(shims, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

const CASES: Record<string, () => void> = {
  [`${SECTION} › 2`]: () => {
    assert.equal(results.length, 3);
    for (const [command, result] of results) {
      // Every example states its outcome, `# approve (rule)` or `# allow (rule)`, and gets it.
      const expected = /#\s*(allow|deny|approve) \(([^)]+)\)\s*$/.exec(command);
      assert.ok(expected, `the example states no outcome: ${command}`);
      const [, action, rule] = expected;
      // The whole rule name: `)` ends it in an approve or deny line, `;` in an allow line.
      assert.ok([')', ';'].some((end) => result.stdout.includes(`decision: ${action} (rule ${rule}${end}`)), describe(command, result));
      assert.equal(result.code, action === 'allow' ? 0 : 3, describe(command, result));
    }
  },
  [`${SECTION} › 3`]: () => {
    const [command, result] = results[0]!;
    const last = result.stdout.trimEnd().split('\n').at(-1);
    assert.equal(`${last}\n`, docBlock(`${SECTION} › 3`).text, describe(command, result));
  },
};

for (const id of assignedTo(RUNNER)) {
  test(id, () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo(RUNNER));
});
