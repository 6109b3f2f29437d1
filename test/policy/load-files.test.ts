import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { checkPolicy } from '../../src/policy/compile.ts';
import { loadPolicy, loadPolicyFiles } from '../../src/policy/load-files.ts';
import { sqlInput } from './support/inputs.ts';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-policy-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

describe('loadPolicyFiles', () => {
  it('reads *.yaml and *.yml in name order and skips other files', async () => {
    const dir = await folder('ordered', {
      '20-team.yml': 'rules:\n  - { name: team, action: allow }\n',
      '10-base.yaml': 'rules:\n  - { name: base, action: deny }\n',
      'README.md': '# not a rule file',
      'notes.yaml.bak': 'rules: []',
      '15-empty.yaml': '',
    });
    const files = await loadPolicyFiles(dir);
    assert.deepEqual(
      files.map((f) => f.file),
      ['10-base.yaml', '15-empty.yaml', '20-team.yml'].map((n) => join(dir, n)),
    );
    assert.deepEqual(files[0]!.content, { rules: [{ name: 'base', action: 'deny' }] });
    assert.deepEqual(checkPolicy({}, { files }).errors, []);
  });

  it('reads rule files mounted as symlinks, as a Kubernetes ConfigMap mounts them, and skips dangling ones', async () => {
    const dir = await folder('configmap', {});
    const data = await folder('configmap/..2026_12_07', { '10-base.yaml': 'rules:\n  - { name: mounted, action: allow }\n' });
    await symlink(data, join(dir, '..data'));
    await symlink(join('..data', '10-base.yaml'), join(dir, '10-base.yaml'));
    await symlink(join('..data', 'gone.yaml'), join(dir, 'gone.yaml'));
    const files = await loadPolicyFiles(dir);
    assert.deepEqual(files.map((f) => f.file), [join(dir, '10-base.yaml')]);
    assert.deepEqual(files[0]!.content, { rules: [{ name: 'mounted', action: 'allow' }] });
  });

  it('names the file on a YAML syntax error', async () => {
    const dir = await folder('broken', { '10-ok.yaml': 'rules: []\n', '20-bad.yaml': 'rules:\n  - name: x\n   action: allow\n' });
    await assert.rejects(loadPolicyFiles(dir), (err: ConfigError) => {
      assert.equal(err.code, 'config_invalid');
      assert.equal(err.details.file, join(dir, '20-bad.yaml'));
      assert.match(err.message, /20-bad\.yaml: invalid YAML/);
      return true;
    });
  });

  it('refuses a missing folder with ConfigError', async () => {
    await assert.rejects(loadPolicyFiles(join(root, 'nope')), (err: ConfigError) => err.code === 'config_invalid');
  });
});

describe('loadPolicy', () => {
  it('appends folder rules after the inline ones, resolving dir against baseDir', async () => {
    await folder('project/policy.d', {
      '10-a.yaml': 'rules:\n  - { name: from-file, match: { connections: [prod-db] }, action: allow }\n',
    });
    const engine = await loadPolicy(
      { dir: './policy.d', rules: [{ name: 'inline-deny', match: { groups: ['contractors'] }, action: 'deny' }] },
      { baseDir: join(root, 'project') },
    );
    assert.equal(engine.ruleCount, 2);
    assert.equal(engine.decide(sqlInput({}, { identity: { groups: ['contractors'] } })).rule, 'inline-deny');
    assert.equal(engine.decide(sqlInput({})).rule, 'from-file');
  });

  it('rejects an invalid rule file, naming it', async () => {
    const base = join(root, 'invalid');
    await folder('invalid/rules', { 'a.yaml': 'rules:\n  - { name: x, action: allow, when: "request.nope" }\n' });
    await assert.rejects(loadPolicy({ dir: 'rules' }, { baseDir: base }), (err: ConfigError) => {
      assert.equal(err.code, 'config_invalid');
      assert.match(err.message, /a\.yaml: rules\[0\]\.when/);
      return true;
    });
  });
});
