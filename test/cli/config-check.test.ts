/**
 * `gatehouse config check` on real files: every finding with its key, all at once; and the
 * `policy check` traps it replaces (no config found, the main config given as a file).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generate } from 'selfsigned';
import { checkConfigFile, type ConfigFinding } from '../../src/cli/config-check.ts';
import { policyCheckOf } from '../../src/cli/local-commands.ts';

let dir: string;
const NOW = Date.parse('2026-12-07T12:00:00Z');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-config-check-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

async function check(name: string, text: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigFinding[]> {
  const file = join(dir, name);
  await writeFile(file, text);
  return checkConfigFile(file, env, (c, f) => policyCheckOf(c, f), NOW);
}

const messages = (findings: ConfigFinding[], level: 'error' | 'warning') => findings.filter((f) => f.level === level).map((f) => `${f.key}: ${f.message}`);

const BASE = `http:\n  listen: 127.0.0.1:0\nconnections:\n  - name: model\n    type: openai\n    upstream: https://api.example\n    credential: \${MODEL_KEY}\npolicy:\n  rules:\n    - name: llm\n      match: { connections: [model] }\n      action: allow\n`;

function gatehouse(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [resolve('bin/gatehouse.js'), ...args], { cwd, env: { ...process.env, MODEL_KEY: 'sk-x' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

describe('config check', () => {
  it('a sound file has no findings', async () => {
    assert.deepEqual(await check('ok.yaml', BASE, { MODEL_KEY: 'sk-x' }), []);
  });

  it('names every missing environment variable and secret file, and still checks the rest of the file', async () => {
    const text = BASE.replace('policy:', `  - name: other\n    type: http\n    upstream: https://other.example\n    credential: \${file:${join(dir, 'missing-secret')}}\npolicy:`) + '    - name: everything\n      action: allow\n    - name: never\n      action: deny\n';
    const findings = await check('env.yaml', text, {});
    const errors = messages(findings, 'error');
    assert.ok(errors.some((e) => /connections\[0\]\.credential: environment variable MODEL_KEY is not set/.test(e)), errors.join('\n'));
    assert.ok(errors.some((e) => /connections\[1\]\.credential: secret file .*missing-secret is missing/.test(e)), errors.join('\n'));
    assert.ok(messages(findings, 'warning').some((w) => /rule "never" can never match/.test(w)), 'the policy was checked too');
  });

  it('a schema error stops there, with line and key', async () => {
    const findings = await check('schema.yaml', BASE.replace('type: openai', 'type: mysql'), { MODEL_KEY: 'k' });
    assert.equal(findings.length, 1);
    assert.match(`${findings[0]!.key}: ${findings[0]!.message}`, /line 5: connections\[0\]\.type/);
  });

  it('a rule naming a connection the file does not define is a warning (it may come from the API)', async () => {
    const findings = await check('unknown-conn.yaml', BASE.replace('connections: [model]', 'connections: [model, billing]'), { MODEL_KEY: 'k' });
    assert.deepEqual(messages(findings, 'warning'), ['policy.rules[0] (llm): names connection "billing", which this file does not define (fine if it is added through the API)']);
    assert.deepEqual(messages(findings, 'error'), []);
  });

  it('an approve rule without approvers is refused by the schema', async () => {
    const findings = await check('approve.yaml', BASE.replace('action: allow', 'action: approve'), { MODEL_KEY: 'k' });
    assert.ok(findings.some((f) => f.level === 'error' && /approvers/.test(`${f.key} ${f.message}`)), JSON.stringify(findings));
  });

  it('listeners: two on one port clash (also through 0.0.0.0); a port in use now is a warning', async () => {
    const clash = await check('clash.yaml', BASE.replace('listen: 127.0.0.1:0', 'listen: 127.0.0.1:18080') + 'admin:\n  listen: 0.0.0.0:18080\n', { MODEL_KEY: 'k' });
    assert.ok(messages(clash, 'error').includes('admin.listen: 0.0.0.0:18080 is also http.listen; give each listener its own port'), JSON.stringify(clash));
    const busy: Server = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    try {
      const port = (busy.address() as { port: number }).port;
      const findings = await check('busy.yaml', BASE.replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`), { MODEL_KEY: 'k' });
      assert.deepEqual(messages(findings, 'warning'), [`http.listen: 127.0.0.1:${port} is in use now (a running gateway?); start would fail on it`]);
    } finally {
      await new Promise((done) => busy.close(done));
    }
    const foreign = await check('foreign.yaml', BASE.replace('listen: 127.0.0.1:0', 'listen: 203.0.113.7:8080'), { MODEL_KEY: 'k' });
    assert.deepEqual(messages(foreign, 'error'), ['http.listen: 203.0.113.7 is not an address of this machine']);
  });

  it('TLS files: missing, not a key, the wrong key, expired, expiring soon; never a key in the output', async () => {
    const good = await generate([{ name: 'commonName', value: 'db.test' }], { keySize: 2048, algorithm: 'sha256', notBeforeDate: new Date(NOW - 86_400_000), notAfterDate: new Date(NOW + 365 * 86_400_000) });
    const other = await generate([{ name: 'commonName', value: 'other.test' }], { keySize: 2048, algorithm: 'sha256', notBeforeDate: new Date(NOW - 86_400_000), notAfterDate: new Date(NOW + 365 * 86_400_000) });
    const expired = await generate([{ name: 'commonName', value: 'old.test' }], { keySize: 2048, algorithm: 'sha256', notBeforeDate: new Date(NOW - 400 * 86_400_000), notAfterDate: new Date(NOW - 86_400_000) });
    const soon = await generate([{ name: 'commonName', value: 'soon.test' }], { keySize: 2048, algorithm: 'sha256', notBeforeDate: new Date(NOW - 86_400_000), notAfterDate: new Date(NOW + 5 * 86_400_000) });
    const files: Record<string, string> = { 'good.crt': good.cert, 'good.key': good.private, 'other.key': other.private, 'old.crt': expired.cert, 'old.key': expired.private, 'soon.crt': soon.cert, 'soon.key': soon.private, 'junk.key': 'not a key at all' };
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const withTls = (cert: string, key: string) => `${BASE}postgres:\n  listen: 127.0.0.1:0\n  tls:\n    cert: ${join(dir, cert)}\n    key: ${join(dir, key)}\n`;
    const cases: [string, string, RegExp | null][] = [
      ['good.crt', 'good.key', null],
      ['missing.crt', 'good.key', /postgres\.tls\.cert: .*missing\.crt: no such file/],
      ['good.crt', 'junk.key', /postgres\.tls\.key: .*junk\.key: not a PEM private key/],
      ['good.crt', 'other.key', /postgres\.tls\.key: .*other\.key is not the key of .*good\.crt/],
      ['old.crt', 'old.key', /postgres\.tls\.cert: .*old\.crt expired on/],
      ['soon.crt', 'soon.key', /postgres\.tls\.cert: .*soon\.crt expires on .*in less than 30 days/],
    ];
    for (const [cert, key, expected] of cases) {
      const findings = await check(`tls-${cert}-${key}.yaml`, withTls(cert, key), { MODEL_KEY: 'k' });
      const shown = findings.map((f) => `${f.key}: ${f.message}`).join('\n');
      if (expected === null) assert.deepEqual(findings, [], shown);
      else assert.match(shown, expected);
      assert.ok(!shown.includes('PRIVATE KEY') && !shown.includes(good.private.slice(40, 80)), 'no key material in a finding');
    }
  });

  it('the CLI: exit 1 on errors, 0 on a sound file, JSON on request; --version', async () => {
    await writeFile(join(dir, 'gatehouse.yaml'), BASE);
    const ok = await gatehouse(['config', 'check'], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^config OK: .*gatehouse\.yaml \(0 warning\(s\)\)$/m);
    await writeFile(join(dir, 'broken.yaml'), BASE.replace('action: allow', 'action: maybe'));
    const bad = await gatehouse(['--json', 'config', 'check', 'broken.yaml'], dir);
    assert.equal(bad.code, 1);
    const parsed = JSON.parse(bad.stdout) as { findings: ConfigFinding[] };
    assert.ok(parsed.findings.some((f) => f.level === 'error' && /policy\.rules\[0\]\.action/.test(f.key)), bad.stdout);
    const version = await gatehouse(['--version'], dir);
    assert.equal(version.stdout.trim(), (await import('../../package.json', { with: { type: 'json' } })).default.version);
  });
});

describe('policy check, the traps config check replaced', () => {
  it('with no config found and no files it says there is nothing to check, and fails', async () => {
    const empty = await mkdtemp(join(dir, 'empty-'));
    const result = await gatehouse(['policy', 'check'], empty);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nothing to check: no \.\/gatehouse\.yaml here/);
    assert.doesNotMatch(result.stdout, /policy OK/);
  });

  it('the main config given as a file is read as the config', async () => {
    await writeFile(join(dir, 'main.yaml'), BASE.replace('action: allow', 'action: allow\n    - name: shadowed\n      match: { connections: [model] }\n      action: deny'));
    const result = await gatehouse(['policy', 'check', 'main.yaml'], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rule "shadowed" can never match/);
    assert.match(result.stdout, /policy OK \(1 warning\(s\)\)/);
  });
});
