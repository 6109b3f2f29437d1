/**
 * The documented local commands (`policy check`, `policy test`, `mask test`) run with bash, as a
 * reader would type them, in a folder holding the config the docs describe. They need no gateway.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute } from './support/shell.ts';

let shims: string;
let cwd: string;
before(async () => {
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-local-'));
});
after(async () => {
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** A fresh folder per block, so one block's gatehouse.yaml never answers for another's. */
async function folder(name: string): Promise<string> {
  const dir = join(cwd, name);
  await mkdir(dir);
  return dir;
}

const run = (command: string, dir: string, input?: string) => runBash(command, { cwd: dir, env: shellEnv(shims), input });

/** `mask test`'s human output: the masked text, a blank line, then one line per finding. */
function maskedText(stdout: string): string {
  return stdout.split('\n\n')[0]!;
}

const CASES: Record<string, () => Promise<void>> = {
  'README.md › Policy › 2': async () => {
    // The README says what its examples decide against its minimal config with this section's policy.
    const dir = await folder('policy');
    const minimal = YAML.parse(docBlock('README.md › Running it for real › 2').text) as Record<string, unknown>;
    const policy = (YAML.parse(docBlock('README.md › Policy › 1').text) as { policy: unknown }).policy;
    await writeFile(join(dir, 'gatehouse.yaml'), YAML.stringify({ ...minimal, policy }));
    await mkdir(join(dir, 'policy.d'));
    // [FILES]: extra rule files to check with the config; docs/policy.md's example rule is one.
    await writeFile(join(dir, 'extra-rules.yaml'), YAML.stringify({ rules: YAML.parse(docBlock('docs/policy.md › Rules › 1').text) }));
    const commands = commandsOf(substitute(docBlock('README.md › Policy › 2').text, [['[FILES]', 'extra-rules.yaml']]));
    assert.equal(commands.length, 4);
    // The commands only read the folder, so they run side by side.
    const results = await Promise.all(commands.map((command) => run(command, dir)));
    for (const [i, command] of commands.entries()) {
      const result = results[i]!;
      if (/policy check/.test(command)) {
        assert.equal(result.code, 0, describe(command, result));
        assert.match(result.stdout, /^policy OK \(0 warning\(s\)\)$/m, describe(command, result));
        continue;
      }
      // Every `policy test` example states its outcome, `# allow (rule)` or `# deny (rule)`, and gets it.
      const expected = /#\s*(allow|deny|approve) \(([^)]+)\)\s*$/.exec(command);
      assert.ok(expected, `the README example states no outcome: ${command}`);
      const [, action, rule] = expected;
      assert.ok(result.stdout.includes(`decision: ${action} (rule ${rule}`), describe(command, result));
      assert.equal(result.code, action === 'allow' ? 0 : 3, describe(command, result));
    }
  },

  'README.md › Masking › 1': async () => {
    const dir = await folder('readme-mask');
    const [command] = commandsOf(docBlock('README.md › Masking › 1').text);
    const result = await run(command!, dir);
    assert.equal(result.code, 0, describe(command!, result));
    const text = maskedText(result.stdout);
    assert.ok(!text.includes('jane@example.com') && !text.includes('4111 1111 1111 1111'), describe(command!, result));
    assert.match(result.stdout, /^\s+email\s/m);
    assert.match(result.stdout, /^\s+credit_card\s/m);
  },

  'docs/masking.md › Trying a profile › 1': async () => {
    const dir = await folder('masking-doc');
    // --config gatehouse.yaml: the profile `support` defined in the same doc.
    await writeFile(join(dir, 'gatehouse.yaml'), docBlock('docs/masking.md › Profiles › 1').text);
    // "…": text with something for each of the profile's entity styles, pattern and dictionary.
    const sample = 'employee EMP-123456 (jane@example.com, +1 415-555-0100) works on Bluebird';
    const commands = commandsOf(substitute(docBlock('docs/masking.md › Trying a profile › 1').text, [['"…"', `"${sample}"`]]));
    assert.equal(commands.length, 3);
    const [pii, secrets, support] = await Promise.all(commands.map((c) => run(c, dir)));

    assert.equal(pii!.code, 0, describe(commands[0]!, pii!));
    assert.equal(maskedText(pii!.stdout), 'mail [EMAIL], card ****1111', describe(commands[0]!, pii!));

    assert.equal(secrets!.code, 0, describe(commands[1]!, secrets!));
    assert.equal(maskedText(secrets!.stdout), 'key [AWS_ACCESS_KEY]', describe(commands[1]!, secrets!));
    assert.match(secrets!.stdout, /aws_access_key/);

    assert.equal(support!.code, 0, describe(commands[2]!, support!));
    const json = JSON.parse(support!.stdout) as { text: string; findings: { type: string; replacement: string }[] };
    // The profile's styles as its comments describe them: e-mail pseudonym, phone partial, pattern and dictionary redacted.
    assert.match(json.text, /^employee \[EMPLOYEE_ID\] \(EMAIL_[0-9a-f]{8}, \*{4}0100\) works on \[CODENAME\]$/, json.text);
    assert.deepEqual(json.findings.map((f) => f.type), ['employee_id', 'email', 'phone', 'codename']);
  },
};

for (const id of assignedTo('local-cli.test.ts')) {
  test(id, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('local-cli.test.ts'));
});
