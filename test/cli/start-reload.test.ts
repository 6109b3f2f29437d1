/**
 * `gatehouse start` as a real process: policy edits saved the way editors and Kubernetes save them
 * (a new file renamed over the old one) take effect, every time, without a restart; settings that
 * need a restart are named in the log. The test waits on the gateway's own log lines, never on time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { ADMIN_TOKEN, UPSTREAM_KEY } from '../support/gateway.ts';

const MAIN = resolve('src/cli/main.ts');

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** The child's JSON log lines as they arrive, and a way to wait for the next one that matches. */
function followLogs(child: ChildProcess) {
  const lines: LogLine[] = [];
  let text = '';
  let banner = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (chunk) => {
    text += chunk;
    let end: number;
    while ((end = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, end);
      text = text.slice(end + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line) as LogLine);
    }
    for (const wake of waiters) wake();
  });
  // The banner goes to stderr so that stdout is the JSON log stream alone.
  child.stderr!.on('data', (chunk) => {
    banner += chunk;
    for (const wake of waiters) wake();
  });
  return {
    lines,
    get banner() {
      return banner;
    },
    /** Resolves with the first line from index `from` on that matches; rejects if the process exits first. */
    next(match: (line: LogLine) => boolean, from: number): Promise<LogLine> {
      return new Promise((resolveLine, reject) => {
        const look = () => {
          const found = lines.slice(from).find(match);
          if (!found) return false;
          waiters.delete(look);
          child.off('exit', exited);
          resolveLine(found);
          return true;
        };
        const exited = (code: number | null) => reject(new Error(`gatehouse exited (${code}); logs:\n${lines.map((l) => l.msg).join('\n')}`));
        if (look()) return;
        waiters.add(look);
        child.once('exit', exited);
      });
    },
    /** Resolves once the banner names the data plane's URL. */
    url(): Promise<string> {
      return new Promise((resolveUrl, reject) => {
        const look = () => {
          const found = /data plane: (http:\/\/[^/\s]+)\/proxy/.exec(banner);
          if (found) {
            waiters.delete(look);
            resolveUrl(found[1]!);
          }
        };
        waiters.add(look);
        child.once('exit', (code) => reject(new Error(`gatehouse exited (${code}) before it was running`)));
        look();
      });
    },
  };
}

const reloaded = (line: LogLine) => line.msg === 'configuration reloaded';

// A timeout only so that a missed reload fails the run instead of hanging it.
describe('gatehouse start follows its config file across rename-style saves', { timeout: 60_000 }, () => {
  let dir: string;
  let demo: DemoModel;
  let child: ChildProcess;
  let logs: ReturnType<typeof followLogs>;
  let url: string;
  let token: string;
  let file: string;

  const config = (policy: string, extra = '') => `
http:
  listen: 127.0.0.1:0
  bodyLimit: 1mb
store:
  sqlitePath: ${join(dir, 'gatehouse.db')}
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
policy:
  rules:
${policy}
${extra}`;
  const allow = '    - name: allow-all\n      action: allow\n';
  const deny = (name: string) => `    - name: ${name}\n      action: deny\n      reason: maintenance\n`;

  /** Writes a new file beside the config and renames it over, as vim, `sed -i` and the kubelet do. */
  const renameSave = async (text: string) => {
    const tmp = join(dir, `.gatehouse.yaml.${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, text);
    await rename(tmp, file);
  };
  const chat = async () => {
    const response = await fetch(`${url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] }),
    });
    const body = (await response.json()) as { error?: { gatehouse?: { rule?: string } } };
    return { status: response.status, rule: body.error?.gatehouse?.rule };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
    file = join(dir, 'gatehouse.yaml');
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    await writeFile(file, config(allow));
    child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', file], {
      env: {
        ...process.env,
        UPSTREAM_KEY,
        GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'),
        GATEHOUSE_DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    logs = followLogs(child);
    url = await logs.url();
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
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every rename-over save reloads the policy, not only the first', async () => {
    assert.equal((await chat()).status, 200);
    for (const [i, text] of [config(deny('closed-1')), config(allow), config(deny('closed-3'))].entries()) {
      const from = logs.lines.length;
      await renameSave(text);
      await logs.next(reloaded, from);
      const answer = await chat();
      if (i === 1) assert.equal(answer.status, 200, `save ${i + 1} reopened`);
      else assert.deepEqual(answer, { status: 403, rule: `closed-${i + 1}` }, `save ${i + 1} took effect`);
    }
  });

  test('a setting that needs a restart is named in the log; the policy beside it still reloads', async () => {
    const from = logs.lines.length;
    await renameSave(config(allow).replace('bodyLimit: 1mb', 'bodyLimit: 2mb'));
    const warning = await logs.next((line) => line.msg === 'these settings changed but need a restart to take effect', from);
    assert.deepEqual(warning.keys, ['http.bodyLimit']);
    assert.equal((await chat()).status, 200);
  });

  test('SIGHUP and a save at the same moment: both reload, the newest file wins, nothing is refused', async () => {
    const from = logs.lines.length;
    await renameSave(config(deny('closed-together')));
    child.kill('SIGHUP');
    // The watcher always reports the save, whether or not the SIGHUP reload already read it.
    await logs.next((line) => reloaded(line) && (line.why as string[]).includes('file changed'), from);
    assert.deepEqual(await chat(), { status: 403, rule: 'closed-together' });
    assert.deepEqual(logs.lines.slice(from).filter((line) => line.level === 'error' || line.level === 'fatal').map((line) => line.msg), []);
  });
});
