/**
 * The tool pins (migrations 14 and 22) on both engines: a pin replaced whole, pins per connection, names and
 * definitions kept exactly (Unicode outside the BMP, quotes, a 256 KiB definition), deletion once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../../../src/store/index.ts';
import type { Store, ToolPinRow } from '../../../src/store/types.ts';
import { startPostgres, type PostgresServer } from '../../support/postgres-server.ts';

const row = (over: Partial<ToolPinRow> = {}): ToolPinRow => ({
  connection: 'tools',
  tool: 'echo',
  hash: 'a'.repeat(64),
  definitionJson: '{"description":"Echoes","name":"echo"}',
  pinnedAt: 1_700_000_000_000,
  approvalId: 'apr_1',
  pinnedBy: null,
  ...over,
});

function contract(engine: string, open: () => Promise<Store>) {
  describe(`tool pins on ${engine}`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    test('put, read back, replace whole, per connection, delete once', async () => {
      await store.putToolPin(row());
      await store.putToolPin(row({ connection: 'other', hash: 'b'.repeat(64) }));
      assert.deepEqual(await store.listToolPins('tools'), [row()]);
      await store.putToolPin(row({ hash: 'c'.repeat(64), definitionJson: '{"description":"Changed","name":"echo"}', pinnedAt: 1_700_000_000_001, approvalId: 'apr_2' }));
      assert.deepEqual(await store.listToolPins('tools'), [row({ hash: 'c'.repeat(64), definitionJson: '{"description":"Changed","name":"echo"}', pinnedAt: 1_700_000_000_001, approvalId: 'apr_2' })]);
      assert.equal((await store.listToolPins('other'))[0]!.hash, 'b'.repeat(64));
      assert.equal(await store.deleteToolPin('tools', 'echo'), true);
      assert.equal(await store.deleteToolPin('tools', 'echo'), false);
      assert.deepEqual(await store.listToolPins('tools'), []);
    });

    test('names and definitions come back exactly as stored', async () => {
      const odd = row({ connection: 'odd', tool: "dеploy 🙂 'x' \"y\" \\ %_", definitionJson: JSON.stringify({ name: 'x', description: `${'é'.repeat(1000)}🙂\u200B`.repeat(200) }), approvalId: null, pinnedBy: "root (adm_1) 'x'" });
      await store.putToolPin(odd);
      await store.putToolPin(row({ connection: 'odd', tool: 'deploy' }));
      const back = await store.listToolPins('odd');
      assert.deepEqual(back.map((p) => p.tool).sort(), ['deploy', odd.tool].sort());
      assert.deepEqual(back.find((p) => p.tool === odd.tool), odd);
    });
  });
}

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

contract('SQLite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-pin-store-'));
  dirs.push(dir);
  return openStore({ sqlitePath: path.join(dir, 'g.db') });
});

let pg: PostgresServer | undefined;
after(async () => {
  await pg?.stop();
});
contract('PostgreSQL', async () => {
  pg = await startPostgres();
  return openStore({ databaseUrl: pg.url });
});
