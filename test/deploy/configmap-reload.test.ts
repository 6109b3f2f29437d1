/**
 * The chart mounts gatehouse.yaml and the policy folder as whole ConfigMap folders, which the
 * kubelet updates by swapping a `..data` symlink (support/kubelet-writer.ts). Here a real
 * `gatehouse start` runs with its config and policies in the chart's own layout (taken from the
 * rendered Deployment), the folders are swapped as a `helm upgrade` would have the kubelet swap
 * them, and each new policy is seen in force through the proxy. Nothing sleeps: each step polls
 * the answer to a request until it changes (test/support/poll.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import YAML from 'yaml';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { DEFAULT_RULE } from '../../src/policy/engine.ts';
import { ADMIN_TOKEN, UPSTREAM_KEY } from '../support/gateway.ts';
import { pollUntil } from '../support/poll.ts';
import { only, renderChart } from './support/helm-render.ts';
import type { Deployment } from './support/k8s-schema.ts';
import { kubeletWrite } from './support/kubelet-writer.ts';

const MAIN = resolve('src/cli/main.ts');

/** Where the chart puts the config file and the policy folder, and what policy.dir it gives. */
async function chartLayout() {
  const rendered = await renderChart();
  const container = (only(rendered, 'Deployment') as unknown as Deployment).spec.template.spec.containers[0]!;
  const configFile = container.args![2]!;
  const mountOf = (volume: string) => container.volumeMounts!.find((m) => m.name === volume)!.mountPath;
  const configText = (only(rendered, 'ConfigMap', '-config').data as Record<string, string>)[posix.basename(configFile)]!;
  const policyDir = (YAML.parse(configText) as { policy: { dir: string } }).policy.dir;
  return { configFile, configMount: mountOf('config'), policiesMount: mountOf('policies'), policyDir };
}

const allow = (name: string) => `rules:\n  - name: ${name}\n    action: allow\n`;
const deny = (name: string) => `rules:\n  - name: ${name}\n    action: deny\n    reason: closed by a ConfigMap update\n`;

describe('a ConfigMap update reaches the running gateway through its file watch', { timeout: 90_000 }, () => {
  let root: string;
  let demo: DemoModel;
  let child: ChildProcess;
  let url: string;
  let token: string;
  let layout: Awaited<ReturnType<typeof chartLayout>>;
  const lines: { msg: string; [key: string]: unknown }[] = [];
  const waiters = new Set<() => void>();

  const configDir = () => join(root, layout.configMount);
  const policiesDir = () => join(root, layout.policiesMount);
  const config = (policy: string) => `http:
  listen: 127.0.0.1:0
store:
  sqlitePath: ${join(root, 'data', 'gatehouse.db')}
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
policy:
${policy}
`;
  const withFolder = () => config(`  dir: ${layout.policyDir}`);

  /** The decision for one chat request: status and, when refused, the rule that refused it. */
  const chat = async () => {
    const response = await fetch(`${url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] }),
    });
    const body = (await response.json()) as { error?: { gatehouse?: { rule?: string } } };
    return `${response.status}${body.error?.gatehouse?.rule ? ` ${body.error.gatehouse.rule}` : ''}`;
  };
  /** Polls until requests get `expected` (e.g. `200`, `403 closed-1`); fails naming the last answer. */
  const answersWith = async (expected: string) => {
    let last = '';
    await pollUntil(async () => (last = await chat()) === expected, `waiting for "${expected}" (last answer "${last}")`, 400);
  };
  /** Resolves at the first log line from `from` on that matches; rejects if the gateway exits. */
  const logLine = (match: (line: (typeof lines)[number]) => boolean, from: number) =>
    new Promise<void>((done, fail) => {
      const look = () => {
        if (!lines.slice(from).some(match)) return;
        waiters.delete(look);
        done();
      };
      child.once('exit', (code) => fail(new Error(`gatehouse exited (${code})`)));
      waiters.add(look);
      look();
    });

  before(async () => {
    layout = await chartLayout();
    root = await realpath(await mkdtemp(join(tmpdir(), 'gatehouse-configmap-')));
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    await kubeletWrite(configDir(), { [posix.basename(layout.configFile)]: withFolder() });
    await kubeletWrite(policiesDir(), { '50-llm.yaml': allow('allow-llm') });
    child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', join(root, layout.configFile)], {
      env: { ...process.env, UPSTREAM_KEY, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'), GATEHOUSE_DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    let banner = '';
    url = await new Promise<string>((done, fail) => {
      child.stdout!.on('data', (chunk) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 1);
          if (line.startsWith('{')) lines.push(JSON.parse(line) as (typeof lines)[number]);
        }
        for (const wake of waiters) wake();
      });
      // The banner is on stderr; stdout is the JSON log stream alone.
      child.stderr!.on('data', (chunk) => {
        banner += chunk;
        const found = /data plane: (http:\/\/[^/\s]+)\/proxy/.exec(banner);
        if (found) done(found[1]!);
      });
      child.once('exit', (code) => fail(new Error(`gatehouse exited (${code}) before it was running:\n${banner}`)));
    });
    const issued = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connections: ['openai'] }),
    });
    assert.equal(issued.status, 201);
    token = ((await issued.json()) as { token: string }).token;
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await demo?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('the layout is the chart\'s: config and policies in sibling ConfigMap folders, policy.dir between them', () => {
    assert.equal(posix.resolve(posix.dirname(layout.configFile), layout.policyDir), layout.policiesMount);
    assert.equal(posix.dirname(layout.configFile), layout.configMount);
  });

  test('the policy folder\'s first rule file allows requests', async () => {
    assert.equal(await chat(), '200');
  });

  test('a changed policy file takes effect, and so does each later change', async () => {
    await kubeletWrite(policiesDir(), { '50-llm.yaml': deny('closed-1') });
    await answersWith('403 closed-1');
    await kubeletWrite(policiesDir(), { '50-llm.yaml': allow('allow-llm') });
    await answersWith('200');
    await kubeletWrite(policiesDir(), { '50-llm.yaml': deny('closed-3') });
    await answersWith('403 closed-3');
  });

  test('a file added to the ConfigMap is read, and a file removed from it no longer applies', async () => {
    await kubeletWrite(policiesDir(), { '10-first.yaml': deny('added-file'), '50-llm.yaml': allow('allow-llm') });
    await answersWith('403 added-file');
    await kubeletWrite(policiesDir(), { '50-llm.yaml': allow('allow-llm') });
    await answersWith('200');
  });

  test('a broken policy file is refused and the policy in force stays; the fix then applies', async () => {
    const from = lines.length;
    await kubeletWrite(policiesDir(), { '50-llm.yaml': 'rules:\n  - name: [unclosed\n' });
    await logLine((line) => line.msg === 'reload refused; the previous policy stays in force', from);
    assert.equal(await chat(), '200');
    await kubeletWrite(policiesDir(), { '50-llm.yaml': deny('fixed') });
    await answersWith('403 fixed');
  });

  test('a ConfigMap emptied of rule files leaves only the default decision (deny); other files are not rules', async () => {
    await kubeletWrite(policiesDir(), { 'README.txt': 'rules:\n  - { name: not-a-rule-file, action: allow }\n' });
    await answersWith(`403 ${DEFAULT_RULE}`);
    await kubeletWrite(policiesDir(), { '50-llm.yaml': allow('allow-llm') });
    await answersWith('200');
  });

  test('the config ConfigMap is followed too: inline rules replace the folder, then the folder comes back', async () => {
    await kubeletWrite(configDir(), { [posix.basename(layout.configFile)]: config('  rules:\n    - { name: inline-only, action: deny }') });
    await answersWith('403 inline-only');
    await kubeletWrite(policiesDir(), { '50-llm.yaml': allow('allow-llm') });
    await kubeletWrite(configDir(), { [posix.basename(layout.configFile)]: withFolder() });
    await answersWith('200');
    // The folder is followed again after the config named it anew.
    await kubeletWrite(policiesDir(), { '50-llm.yaml': deny('after-retarget') });
    await answersWith('403 after-retarget');
  });
});
