/**
 * A stop drains: no new connection is taken, requests under way finish (within drainTimeout) and
 * their records and sessions are sealed; past the timeout what still runs is cut and recorded so.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { openStore } from '../../src/store/index.ts';
import { GATEWAY_STOPPED } from '../../src/server.ts';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { startPgGateway } from '../adapters/postgres/fixture.ts';

async function heldStream(t: TestGateway, token: string, marker: string) {
  const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-hold', stream: true, messages: [{ role: 'user', content: marker }] }),
  });
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  await reader.read();
  return reader;
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ text: string; cut: boolean }> {
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, cut: false };
      text += new TextDecoder().decode(value);
    }
  } catch {
    return { text, cut: true };
  }
}

/** The stopped gateway's records, read from its store file. */
async function recordOf(t: TestGateway, marker: string) {
  const store = await openStore({ sqlitePath: join(t.dir, 'gatehouse.db') });
  try {
    for (const s of await store.listSessions({ limit: 100 })) {
      const found = (await store.listInteractions(s.id)).find((i) => i.requestBody?.includes(marker));
      if (found) return { interaction: found, session: (await store.getSession(s.id))! };
    }
    throw new Error(`no record of ${marker}`);
  } finally {
    await store.close();
  }
}

describe('stopping drains', () => {
  test('a request under way when the stop begins finishes, is recorded complete, and no new connection is taken', async () => {
    const t = await startTestGateway({ extraYaml: 'shutdown:\n  drainTimeout: 1m\n' });
    try {
      const token = await t.token();
      const reader = await heldStream(t, token, 'drain-finishes');
      const closing = t.gateway.close();
      await assert.rejects(fetch(`${t.url}/healthz`), 'the listener takes no new connection once the stop began');
      t.demo.releaseHeld();
      const { text, cut } = await readAll(reader);
      assert.equal(cut, false);
      assert.ok(text.includes('[DONE]'), 'the stream finished normally');
      await closing;
      const { interaction, session } = await recordOf(t, 'drain-finishes');
      assert.equal(interaction.status, 'complete');
      assert.equal(interaction.errorCode, null);
      assert.ok(interaction.hash !== null, 'sealed into the chain');
      assert.equal(session.endReason, GATEWAY_STOPPED);
    } finally {
      t.demo.releaseHeld();
      await t.demo.close();
      await rm(t.dir, { recursive: true, force: true });
    }
  });

  test('past drainTimeout a request still under way is cut, and its record and session are closed', async () => {
    const t = await startTestGateway({ extraYaml: 'shutdown:\n  drainTimeout: 0s\n' });
    try {
      const token = await t.token();
      const reader = await heldStream(t, token, 'drain-cut');
      await t.gateway.close();
      const { text } = await readAll(reader);
      assert.ok(!text.includes('[DONE]'), 'the stream did not finish');
      const { interaction, session } = await recordOf(t, 'drain-cut');
      assert.notEqual(interaction.status, 'open', 'no record is left open by a stop');
      assert.ok(interaction.completedAt !== null);
      assert.equal(session.endReason, GATEWAY_STOPPED);
    } finally {
      t.demo.releaseHeld();
      await t.demo.close();
      await rm(t.dir, { recursive: true, force: true });
    }
  });

  test('a keep-alive client cannot hold the drain open: its connection is closed after the response under way', { timeout: 60_000 }, async () => {
    const t = await startTestGateway({ extraYaml: 'shutdown:\n  drainTimeout: 10m\n' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const token = await t.token();
      const url = new URL(`${t.url}/proxy/openai/v1/chat/completions`);
      const send = (content: string, model = 'demo') =>
        new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
          const req = request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
          });
          req.on('error', reject);
          req.end(JSON.stringify({ model, messages: [{ role: 'user', content }] }));
        });
      assert.equal((await send('warm the connection')).status, 200);
      const held = send('held through the stop', 'demo-hold');
      await new Promise<void>((resolve) => {
        const check = () => (t.demo.requests.some((r) => JSON.stringify(r.bodyJson ?? '').includes('held through the stop')) ? resolve() : setImmediate(check));
        check();
      });
      // The drain waits ten minutes at most: only closing the keep-alive connection lets it end now.
      const closing = t.gateway.close();
      t.demo.releaseHeld();
      assert.equal((await held).status, 200);
      await assert.rejects(send('after the drain began'), 'the connection was closed and no new one is taken');
      await closing;
    } finally {
      agent.destroy();
      t.demo.releaseHeld();
      await t.demo.close();
      await rm(t.dir, { recursive: true, force: true });
    }
  });

  test('Postgres sessions end only when idle outside a transaction: a transaction under way commits first', { timeout: 60_000 }, async () => {
    const g = await startPgGateway({ extraYaml: 'shutdown:\n  drainTimeout: 10m\n' });
    try {
      const token = await g.token();
      const idle = await g.client(token);
      const busy = await g.client(token);
      const ended = (c: typeof idle) => new Promise<string | undefined>((resolve) => c.on('error', (err: Error & { code?: string }) => resolve(err.code)));
      const idleEnded = ended(idle);
      await busy.query('CREATE TABLE IF NOT EXISTS drained (v int)');
      await busy.query('BEGIN');
      await busy.query('INSERT INTO drained VALUES (1)');
      const busyEnded = ended(busy);

      const closing = g.t.gateway.close();
      assert.equal(await idleEnded, '57P01', 'the idle session is told the gateway is stopping (admin_shutdown)');
      await busy.query('INSERT INTO drained VALUES (2)');
      await busy.query('COMMIT');
      assert.equal(await busyEnded, '57P01', 'ended once its transaction was over');
      await closing;
      const direct = await g.direct();
      assert.deepEqual((await direct.query('SELECT v FROM drained ORDER BY v')).rows, [{ v: 1 }, { v: 2 }], 'the transaction under way committed whole');
    } finally {
      await g.close();
    }
  });
});

