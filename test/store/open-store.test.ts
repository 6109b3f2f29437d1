import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { GatewayError } from '../../src/errors.ts';
import { openStore } from '../../src/store/index.ts';

const PASSWORD = 'pa55:w/rd@s3cr3t';

/** A port nothing listens on: bound, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
  return err;
}

/** The whole error, as a log line would carry it, cause included. */
function everything(err: Error): string {
  const seen: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) seen.push(e.message, e.stack ?? '', JSON.stringify(e));
  return seen.join('\n');
}

describe('openStore on PostgreSQL', () => {
  const cases = [
    { name: 'password in the URL', url: (port: number) => `postgres://gatehouse:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/gh` },
    { name: 'password in the query', url: (port: number) => `postgresql://127.0.0.1:${port}/gh?password=${encodeURIComponent(PASSWORD)}` },
  ];
  for (const c of cases) {
    it(`an unreachable server gives store_unavailable without the password (${c.name})`, async () => {
      const err = await failure(openStore({ databaseUrl: c.url(await closedPort()) }));
      assert.equal(err.code, 'store_unavailable');
      assert.match(err.message, /postgres/);
      assert.match(err.message, /ECONNREFUSED/);
      for (const form of [PASSWORD, encodeURIComponent(PASSWORD)]) assert.ok(!everything(err).includes(form));
    });
  }

  it('a malformed URL gives store_unavailable without echoing it', async () => {
    const err = await failure(openStore({ databaseUrl: `postgres://gatehouse:${PASSWORD}@[bad-host/gh` }));
    assert.equal(err.code, 'store_unavailable');
    assert.ok(!everything(err).includes('s3cr3t'));
  });
});

describe('openStore on SQLite', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-open-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates ./data/gatehouse.db by default, folder 0700 and file 0600, in WAL mode', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const store = await openStore({});
      await store.setSetting('k', 'v');
      await store.close();
    } finally {
      process.chdir(cwd);
    }
    const folder = path.join(dir, 'data');
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(folder, 'gatehouse.db'))).mode & 0o777, 0o600);
    const db = new Database(path.join(folder, 'gatehouse.db'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('a path it cannot create gives store_unavailable naming the engine', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    await writeFile(blocker, '');
    const err = await failure(openStore({ sqlitePath: path.join(blocker, 'gatehouse.db') }));
    assert.equal(err.code, 'store_unavailable');
    assert.match(err.message, /sqlite/);
  });

  it('a file that is not a database gives store_unavailable', async () => {
    const garbage = path.join(dir, 'garbage.db');
    await writeFile(garbage, 'this is not an SQLite database, just some text that is long enough '.repeat(20));
    const err = await failure(openStore({ sqlitePath: garbage }));
    assert.equal(err.code, 'store_unavailable');
  });
});
