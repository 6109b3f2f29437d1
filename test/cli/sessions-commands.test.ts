/**
 * `gatehouse sessions list | replay` and `gatehouse audit search` against a running gateway: the
 * real command (a child process) has them; in process, pages print the command for the next page
 * (which works as printed), --json keeps stdout JSON, and bad flag values are refused before any call.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { startTestGateway, ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';
import { addSearchCommand, sessionsCommand } from '../../src/cli/sessions-commands.ts';

const MAIN = resolve('src/cli/main.ts');

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

/** Splits a printed command line as a shell would (the hints quote with '…'). */
function words(line: string): string[] {
  return [...line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!));
}

describe('sessions and audit search commands', () => {
  let t: TestGateway;
  const calls: string[] = [];

  before(async () => {
    t = await startTestGateway();
    for (const name of ['first agent', "o'brien", 'third']) {
      const { json } = await t.api('POST', '/tokens', { connections: ['openai'], name });
      const res = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${json.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: `from ${name}` }] }),
      });
      await res.arrayBuffer();
    }
  });
  after(() => t?.close());

  async function run(args: string[]): Promise<{ out: string; notes: string; sleeps: number[] }> {
    const out: string[] = [];
    const notes: string[] = [];
    const sleeps: number[] = [];
    const deps = {
      sleep: async (ms: number) => void sleeps.push(ms),
      settings: async () => {
        calls.push(args.join(' '));
        return { url: t.url, token: ADMIN_TOKEN };
      },
      note: (text: string) => notes.push(text),
    };
    const program = new Command('gatehouse').option('--json').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    program.addCommand(sessionsCommand((text) => out.push(text), deps).exitOverride());
    const audit = new Command('audit').exitOverride();
    addSearchCommand(audit, (text) => out.push(text), deps);
    program.addCommand(audit);
    for (const sub of [...program.commands.flatMap((c) => c.commands)]) sub.exitOverride();
    await program.parseAsync(args, { from: 'user' });
    return { out: out.join('\n'), notes: notes.join('\n'), sleeps };
  }

  test('the gatehouse command has replay and search, with their flags', async () => {
    const replay = await gatehouse(['sessions', 'replay', '--help'], {});
    for (const flag of ['--speed', '--instant', '--from', '--limit']) assert.match(replay.stdout, new RegExp(flag));
    const search = await gatehouse(['audit', 'search', '--help'], {});
    for (const flag of ['--principal', '--agent', '--connection', '--kind', '--decision', '--rule', '--since', '--until', '--text', '--after']) assert.match(search.stdout, new RegExp(flag));
  });

  test('the real command replays a session', async () => {
    const id = (await t.api('GET', '/sessions?limit=1')).json.sessions[0].id;
    const result = await gatehouse(['sessions', 'replay', id, '--instant'], { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: t.dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /#1 llm\.chat demo  allowed \(rule allow-all\)/);
    assert.match(result.stdout, /user: from third/);
  });

  test('a page of sessions ends with the command for the next one, which prints the rest', async () => {
    const first = await run(['sessions', 'list', '--limit', '2', '--connection', 'openai']);
    const lines = first.out.split('\n');
    assert.equal(lines.filter((l) => l.startsWith('ses_')).length, 2);
    assert.match(lines.at(-1)!, /^next page: gatehouse sessions list --connection openai --limit 2 --after [A-Za-z0-9_-]+$/);
    assert.match(lines[0]!, /AGENT$/);
    const next = words(lines.at(-1)!.replace(/^next page: gatehouse /, ''));
    const second = await run(next);
    assert.equal(second.out.split('\n').filter((l) => l.startsWith('ses_')).length, 1);
    assert.doesNotMatch(second.out, /next page/);
    assert.match(second.out, /first agent$/m, 'the oldest, with its agent');
  });

  test('--json keeps stdout JSON; the next page goes to stderr', async () => {
    const { out, notes } = await run(['--json', 'audit', 'search', '--limit', '1', '--agent', "o'brien"]);
    const hits = JSON.parse(out);
    assert.equal(hits.length, 1);
    assert.equal(hits[0].session.agent, "o'brien");
    assert.equal(notes, '', 'one hit in all: no next page');
    const two = await run(['--json', 'sessions', 'list', '--limit', '1']);
    assert.equal(JSON.parse(two.out).length, 1);
    assert.match(two.notes, /^next page: gatehouse sessions list --limit 1 --after \S+$/);
  });

  test('search prints who, agent, decision, rule and target; hint quotes values for the shell', async () => {
    const { out } = await run(['audit', 'search', '--limit', '1', '--principal', 'admin', '--text', 'chat/COMPLETIONS']);
    assert.match(out, /^AT\s+WHO\s+AGENT\s+CONNECTION\s+KIND\s+DECISION\s+RULE\s+TARGET\s+ERROR\s+SESSION$/m);
    assert.match(out, /admin\s+third\s+openai\s+llm\.chat\s+allow\s+allow-all\s+\/v1\/chat\/completions\s+-\s+ses_\w+#1/);
    assert.match(out, /^next page: gatehouse audit search --principal admin --text chat\/COMPLETIONS --limit 1 --after \S+$/m);
    const quoted = await run(['audit', 'search', '--limit', '1', '--agent', 'first agent', '--since', '30d']);
    assert.doesNotMatch(quoted.out, /next page/);
    const page = await run(['audit', 'search', '--limit', '1', '--rule', "it's", '--connection', 'openai']);
    assert.equal(page.out, '(none)');
  });

  test('bad flag values are refused before the gateway is asked', async () => {
    const before = calls.length;
    const BAD: string[][] = [
      ['sessions', 'replay', 'ses_x', '--speed', '0'],
      ['sessions', 'replay', 'ses_x', '--speed', '-2'],
      ['sessions', 'replay', 'ses_x', '--speed', 'fast'],
      ['sessions', 'replay', 'ses_x', '--speed', 'NaN'],
      ['sessions', 'replay', 'ses_x', '--speed', '1e9'],
      ['sessions', 'replay', 'ses_x', '--speed', '20000'],
      ['sessions', 'replay', 'ses_x', '--from', '0'],
      ['sessions', 'replay', 'ses_x', '--from', '-3'],
      ['sessions', 'replay', 'ses_x', '--limit', '1001'],
      ['sessions', 'replay', 'ses_x', '--limit', '0x10'],
      ['sessions', 'list', '--limit', '99999999'],
      ['audit', 'search', '--limit', '2.5'],
    ];
    for (const args of BAD) await assert.rejects(run(args), (err: unknown) => err instanceof CommanderError && err.code === 'commander.invalidArgument', args.join(' '));
    await assert.rejects(run(['sessions', 'replay', 'ses_x', '--instant', '--speed', '2']), /--speed or --instant/);
    assert.equal(calls.length, before, 'no call made');
  });

  test('what the gateway refuses comes back with its code', async () => {
    await assert.rejects(run(['sessions', 'replay', 'ses_missing', '--instant']), (err: any) => err.code === 'not_found');
    await assert.rejects(run(['audit', 'search', '--decision', 'maybe']), (err: any) => err.code === 'invalid_argument');
    await assert.rejects(run(['sessions', 'list', '--after', 'tampered!']), (err: any) => err.code === 'invalid_argument');
  });
});
