/**
 * Migration 19 gives every credential that existed before agents its agent, in the migration
 * itself: a user's tokens one agent per token name, a service account one agent owned by its
 * owner (its secret and exchanged tokens with it), and recorded sessions the agent of their token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { openStore } from '../../src/store/index.ts';

test('migration 19 backfills agents for tokens, service accounts and sessions made before it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-m19-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'old.db');
  const db = new Database(path);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
  for (const m of MIGRATIONS.filter((m) => m.version < 19)) {
    for (const sql of m.statements) db.exec(sql);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, 1);
  }
  const insertPrincipal = db.prepare("INSERT INTO principals (id, kind, name, groups_json, created_at, disabled_at) VALUES (?, ?, ?, '[]', 1, NULL)");
  insertPrincipal.run('usr_alice', 'user', 'alice');
  insertPrincipal.run('sa_etl', 'service_account', 'etl');
  db.prepare("INSERT INTO service_accounts (id, name, owner, connections_json, created_at, expires_at, disabled_at, owner_id) VALUES ('sa_etl', 'etl', 'alice', '[\"openai\"]', 5, 99999999999999, NULL, 'usr_alice')").run();
  const insertToken = db.prepare('INSERT INTO tokens (id, hash, kind, principal_id, name, connections_json, created_at, expires_at, revoked_at, parent_id) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, NULL, ?)');
  insertToken.run('tok_1', 'h1', 'agent', 'usr_alice', 'nightly-eval', 10, null);
  insertToken.run('tok_2', 'h2', 'agent', 'usr_alice', 'nightly-eval', 20, null);
  insertToken.run('tok_3', 'h3', 'agent', 'usr_alice', 'chat-bot', 30, null);
  insertToken.run('tok_4', 'h4', 'service_account', 'sa_etl', 'etl secret', 40, null);
  insertToken.run('tok_5', 'h5', 'agent', 'sa_etl', 'etl (exchanged)', 50, 'tok_4');
  insertToken.run('tok_6', 'h6', 'admin', 'usr_alice', 'alice api', 60, null);
  db.prepare("INSERT INTO sessions (id, principal_id, principal_name, token_id, connection, protocol, client_addr, started_at, ended_at, end_reason) VALUES ('ses_1', 'usr_alice', 'alice', 'tok_2', 'openai', 'http', '127.0.0.1', 70, NULL, NULL)").run();
  db.close();

  const store = await openStore({ sqlitePath: path, logger: pino({ level: 'silent' }) });
  t.after(() => store.close());
  const agents = await store.listAgents();
  const byName = new Map(agents.map((a) => [a.name, a]));
  assert.deepEqual([...byName.keys()].sort(), ['chat-bot', 'etl', 'nightly-eval']);
  assert.equal(byName.get('nightly-eval')!.owner, 'alice');
  assert.equal(byName.get('nightly-eval')!.createdAt, 10, 'the agent is as old as its first token');
  assert.equal(byName.get('etl')!.ownerId, 'usr_alice');
  const agentOf = async (id: string) => (await store.getToken(id))!.agentId ?? null;
  assert.equal(await agentOf('tok_1'), byName.get('nightly-eval')!.id);
  assert.equal(await agentOf('tok_2'), byName.get('nightly-eval')!.id);
  assert.equal(await agentOf('tok_3'), byName.get('chat-bot')!.id);
  assert.equal(await agentOf('tok_4'), byName.get('etl')!.id);
  assert.equal(await agentOf('tok_5'), byName.get('etl')!.id);
  assert.equal(await agentOf('tok_6'), null, 'an API token reaches no target: no agent');
  assert.equal((await store.getServiceAccount('etl'))!.agentId, byName.get('etl')!.id);
  assert.equal((await store.getSession('ses_1'))!.agentId, byName.get('nightly-eval')!.id);
});
