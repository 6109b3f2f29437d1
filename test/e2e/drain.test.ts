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
});
