import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startTestGateway, ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';
import { SESSION_LEFT_OPEN } from '../../src/server.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function chat(url: string, token: string, model = 'demo', stream = false): Promise<Response> {
  return fetch(`${url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'record me' }] }),
  });
}

describe('recording', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(() => t.close());

  test('every request the upstream received has a completed, chained record', async () => {
    const token = await t.token();
    const before = t.demo.requests.length;
    for (let i = 0; i < 5; i++) assert.equal((await chat(t.url, token)).status, 200);
    await Promise.all([1, 2, 3].map(async () => (await chat(t.url, token, 'demo', true)).text()));
    const forwarded = t.demo.requests.length - before;
    const { json } = await t.api('GET', '/sessions?connection=openai');
    let recorded = 0;
    for (const s of json.sessions) {
      const shown = (await t.api('GET', `/sessions/${s.id}`)).json;
      assert.equal(shown.chain.ok, true, shown.chain.problems.join('; '));
      recorded += shown.interactions.filter((i: any) => i.decision === 'allow' && i.status === 'complete').length;
    }
    assert.equal(recorded, forwarded);
  });

  test('recordings survive a restart and still verify', async () => {
    const token = await t.token();
    await (await chat(t.url, token)).text();
    const before = (await t.api('GET', '/sessions')).json.sessions;
    const restarted = await t.restart();
    try {
      const afterRestart = await restarted.api('GET', '/sessions');
      assert.deepEqual(
        afterRestart.json.sessions.map((s: any) => s.id).sort(),
        before.map((s: any) => s.id).sort(),
      );
      for (const s of afterRestart.json.sessions) assert.equal((await restarted.api('GET', `/sessions/${s.id}`)).json.chain.ok, true);
      // The old token still works after the restart: only its hash was stored, and that is enough.
      assert.equal((await chat(restarted.url, token)).status, 200);
    } finally {
      await restarted.gateway.close();
    }
  });

  test('a tampered recording fails verification', async () => {
    const restarted = await t.restart();
    try {
      const token = await restarted.token();
      await (await chat(restarted.url, token)).text();
      await (await chat(restarted.url, token)).text();
      const sessions = (await restarted.api('GET', '/sessions?principal=admin')).json.sessions;
      const session = sessions.find((s: any) => s.interactionCount >= 2);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(t.dir, 'gatehouse.db'));
      db.prepare('UPDATE interactions SET response_body = ? WHERE session_id = ? AND seq = 1').run('{"rewritten":true}', session.id);
      db.close();
      const shown = (await restarted.api('GET', `/sessions/${session.id}`)).json;
      assert.equal(shown.chain.ok, false);
      assert.match(shown.chain.problems.join(' '), /altered/);
    } finally {
      await restarted.gateway.close();
    }
  });

  test('when the store fails, nothing is forwarded (fail closed)', async () => {
    const restarted = await t.restart();
    const token = await restarted.token();
    assert.equal((await chat(restarted.url, token)).status, 200);
    const before = restarted.demo.requests.length;
    await restarted.gateway.store.close();
    const response = await chat(restarted.url, token);
    assert.equal(response.status, 503);
    assert.equal(((await response.json()) as any).error.code, 'store_unavailable');
    assert.equal(restarted.demo.requests.length, before, 'the upstream saw nothing');
    assert.equal((await fetch(`${restarted.url}/readyz`)).status, 503, 'readiness reports the store down');
    await restarted.gateway.close();
  });

  test('a gateway killed mid-request leaves the request recorded as interrupted', async () => {
    const port = await freePort();
    const configFile = join(t.dir, 'crash.yaml');
    await writeFile(configFile, t.configText.replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', configFile], {
      env: { ...t.env, GATEHOUSE_MASTER_KEY: t.masterKey.toString('hex') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stderr.on('data', (d) => {
          out += d;
          if (out.includes('Gatehouse is running')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`gateway exited early (${code}): ${out}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const issued = await fetch(`${url}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ connections: ['openai'], name: 'crash' }),
      });
      const { token } = (await issued.json()) as any;
      const response = await chat(url, token, 'demo-hold', true);
      await response.body!.getReader().read();
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    t.demo.releaseHeld();
    const restarted = await t.restart();
    try {
      const sessions = (await restarted.api('GET', '/sessions')).json.sessions;
      const shown = await Promise.all(sessions.map((s: any) => restarted.api('GET', `/sessions/${s.id}`)));
      const interrupted = shown.flatMap((s) => s.json.interactions).filter((i: any) => i.model === 'demo-hold' && i.status === 'interrupted');
      assert.equal(interrupted.length, 1, 'the forwarded request is on record as interrupted');
      const killed = shown.find((s) => s.json.interactions.some((i: any) => i.model === 'demo-hold'))!.json.session;
      assert.equal(killed.endReason, SESSION_LEFT_OPEN, 'the session the kill left open is closed with the marker');
      assert.ok(killed.endedAt !== null);
    } finally {
      await restarted.gateway.close();
    }
  });

  // A session's own chain cannot tell its tail deleted from a shorter chain; the store's audit
  // ledger (one chain per writer over every event, docs/audit.md) names the missing record.
  test('deleting the last records of a session is detected', async () => {
    const restarted = await t.restart();
    try {
      const token = await restarted.token();
      for (let i = 0; i < 3; i++) await (await chat(restarted.url, token)).text();
      const sessions = (await restarted.api('GET', '/sessions?principal=admin')).json.sessions;
      const session = sessions.find((s: any) => s.interactionCount >= 3);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(t.dir, 'gatehouse.db'));
      const last = db.prepare('SELECT id FROM interactions WHERE session_id = ? ORDER BY seq DESC LIMIT 1').get(session.id) as { id: string };
      db.prepare('DELETE FROM interactions WHERE id = ?').run(last.id);
      db.close();
      const { json: trail } = await restarted.api('GET', '/audit/verify');
      assert.equal(trail.ok, false, 'a missing last record breaks verification');
      // An earlier test altered another record of this store: find this one's break by its id.
      const named = trail.problems.find((p: any) => p.refId === last.id);
      assert.equal(named?.kind, 'interaction');
      assert.match(named.problem, /missing \(deleted\)/);
    } finally {
      await restarted.gateway.close();
    }
  });
});
