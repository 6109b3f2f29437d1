/**
 * docs/approvals.md › Trying a rule: `policy test`, as a reader runs it: the page's rule as
 * gatehouse.yaml, its command run with bash through the `gatehouse` CLI, its output exactly the
 * page's sample; and the same with --json carries the approval's fields.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, type ShellResult } from '../docs/support/shell.ts';

const RUNNER = '../approvals/policy-test-doc.test.ts';
const SECTION = 'docs/approvals.md › Trying a rule: `policy test`';

let shims: string;
let dir: string;
let command: string;
let result: ShellResult;
let json: ShellResult;

before(async () => {
  shims = await makeShims();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-approvals-policy-test-'));
  await writeFile(join(dir, 'gatehouse.yaml'), docBlock('docs/approvals.md › The rule › 1').text);
  const commands = commandsOf(docBlock(`${SECTION} › 1`).text);
  assert.equal(commands.length, 1);
  command = commands[0]!;
  [result, json] = await Promise.all([
    runBash(command, { cwd: dir, env: shellEnv(shims) }),
    runBash(command.replace(/\s+#.*$/, ' --json'), { cwd: dir, env: shellEnv(shims) }),
  ]);
});
after(async () => {
  await rm(shims, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

const CASES: Record<string, () => void> = {
  [`${SECTION} › 1`]: () => {
    const [, action, rule] = /#\s*(allow|deny|approve) \(([^)]+)\)\s*$/.exec(command) ?? [];
    assert.equal(action, 'approve', 'the example states its outcome');
    assert.ok(result.stdout.includes(`decision: approve (rule ${rule}):`), describe(command, result));
    assert.equal(result.code, 3, describe(command, result));
    // --json: the decision and what it means, as numbers and as the durations the config reads.
    assert.equal(json.code, 3, describe(command, json));
    const out = JSON.parse(json.stdout);
    assert.equal(out.decision.action, 'approve');
    assert.deepEqual(
      { ...out.approval, client: Object.keys(out.approval.client) },
      {
        approvers: ['oncall'], required: 1, breakGlassGroups: ['incident-commanders'], wait: '1m', waitMs: 60_000, timeout: '15m', timeoutMs: 900_000,
        client: ['http'], error: { status: 403, type: 'permission_error', code: 'approval_required', sqlstate: '42501' },
      },
    );
  },
  [`${SECTION} › 2`]: () => {
    assert.equal(result.stdout, docBlock(`${SECTION} › 2`).text, describe(command, result));
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
