/**
 * Commands that work on the store itself, without a running gateway, for when the API cannot help:
 * the admin token was lost, or the master key must change. Each needs the config (to find the
 * store) and GATEHOUSE_MASTER_KEY: holding the key is what proves the operator may do this.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { ConfigError } from '../errors.ts';
import { AuditTrail } from '../audit/trail.ts';
import { Credentials, toPrincipal } from '../identity/credentials.ts';
import { checkMasterKey } from '../store/master-key-check.ts';
import { rotateMasterKey } from '../store/key-rotation.ts';
import { createSecretBox, parseMasterKey, type SecretBox } from '../store/secret-box.ts';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { readConfig } from './local-commands.ts';

type Print = (text: string) => void;

/** The name bootstrap.ts gives the printed token; a reset replaces those, never GATEHOUSE_ADMIN_TOKEN. */
const PRINTED_TOKEN_NAME = 'bootstrap admin token';

function keyFrom(env: NodeJS.ProcessEnv, name: string): SecretBox {
  const text = env[name];
  if (!text) throw new ConfigError(`${name} is not set: this command needs it to open the store`);
  return createSecretBox(parseMasterKey(text));
}

/** The store the config names, its audit trail written by a writer of its own (a running gateway may hold `local`). */
async function openOffline(configFile: string, env: NodeJS.ProcessEnv): Promise<{ store: Store; close: () => Promise<void> }> {
  const config = await readConfig(configFile);
  const logger = pino({ level: 'silent' });
  const trail = new AuditTrail(logger);
  const store = trail.wrap(await openStore({ databaseUrl: env.GATEHOUSE_DATABASE_URL || config.store.databaseUrl, sqlitePath: resolve(config.store.sqlitePath), logger }));
  try {
    const writer = `cli-${randomBytes(6).toString('hex')}`;
    await trail.start({ replicaId: writer, writer, config: undefined, baseDir: process.cwd() });
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    store,
    close: async () => {
      await trail.stop();
      await store.close();
    },
  };
}

export async function resetAdminToken(configFile: string, env: NodeJS.ProcessEnv, now: () => number = Date.now): Promise<{ token: string; revoked: string[] }> {
  const box = keyFrom(env, 'GATEHOUSE_MASTER_KEY');
  const { store, close } = await openOffline(configFile, env);
  try {
    await checkMasterKey(store, box);
    const adminId = await store.getSetting('admin_principal_id');
    const admin = adminId ? await store.getPrincipal(adminId) : null;
    if (!admin) throw new ConfigError('this store has no admin identity yet: start the gateway once, it prints the first admin token');
    const at = now();
    const printed = (await store.listTokens({ principalId: admin.id, now: at })).filter((t) => t.name === PRINTED_TOKEN_NAME && t.revokedAt === null);
    const revoked: string[] = [];
    for (const token of printed) revoked.push(...(await store.revokeToken(token.id, at)));
    const credentials = new Credentials(store, { defaultTtlMs: 0, maxTtlMs: 0, cacheTtlMs: 0, maxTtlForGroups: () => null }, now);
    const { secret, token } = await credentials.issue({ principal: toPrincipal(admin), kind: 'admin', name: PRINTED_TOKEN_NAME, connections: null, ttlMs: null });
    await store.insertAuditEvent({
      id: newId('aud'),
      at,
      replicaId: null,
      actorId: admin.id,
      actorName: 'gatehouse admin reset-token (offline, with the master key)',
      actorKind: 'admin',
      credentialId: null,
      action: 'resetAdminToken',
      target: token.id,
      outcome: 200,
      details: { revoked },
    });
    return { token: secret, revoked };
  } finally {
    await close();
  }
}

export async function rotateKeys(configFile: string, env: NodeJS.ProcessEnv) {
  const from = keyFrom(env, 'GATEHOUSE_MASTER_KEY');
  const to = keyFrom(env, 'GATEHOUSE_NEW_MASTER_KEY');
  const { store, close } = await openOffline(configFile, env);
  try {
    const report = await rotateMasterKey(store, from, to);
    await store.insertAuditEvent({
      id: newId('aud'),
      at: Date.now(),
      replicaId: null,
      actorId: 'offline',
      actorName: 'gatehouse keys rotate (offline, with both master keys)',
      actorKind: 'admin',
      credentialId: null,
      action: 'rotateMasterKey',
      target: null,
      outcome: 200,
      details: { resealed: report.resealed.length, alreadyNew: report.alreadyNew.length },
    });
    return report;
  } finally {
    await close();
  }
}

export function offlineCommands(print: Print, env: NodeJS.ProcessEnv = process.env): Command[] {
  const configOption = ['-c, --config <file>', 'the gateway\'s config file, to find its store', 'gatehouse.yaml'] as const;

  const admin = new Command('admin').description('offline recovery of the admin identity (works on the store; needs GATEHOUSE_MASTER_KEY)');
  admin
    .command('reset-token')
    .description('issue a new admin token when the printed one was lost; revokes the earlier printed ones (not GATEHOUSE_ADMIN_TOKEN)')
    .option(...configOption)
    .action(async (opts: { config: string }, command: Command) => {
      const { token, revoked } = await resetAdminToken(resolve(opts.config), env);
      if (command.optsWithGlobals().json) return print(JSON.stringify({ token, revoked }));
      print([`export GATEHOUSE_TOKEN=${token}`, '', `A new admin token (shown once; store it now). Revoked ${revoked.length} earlier printed admin token(s).`].join('\n'));
    });

  const keys = new Command('keys').description('master-key management (offline: stop every replica first)');
  keys
    .command('rotate')
    .description('re-seal every secret the store holds from GATEHOUSE_MASTER_KEY to GATEHOUSE_NEW_MASTER_KEY; afterwards the old key is refused')
    .option(...configOption)
    .action(async (opts: { config: string }, command: Command) => {
      const report = await rotateKeys(resolve(opts.config), env);
      if (command.optsWithGlobals().json) return print(JSON.stringify(report));
      print(
        [
          `re-sealed ${report.resealed.length} value(s) under the new key${report.alreadyNew.length ? ` (${report.alreadyNew.length} already were: an earlier run was finished)` : ''}.`,
          'Start every replica with GATEHOUSE_MASTER_KEY set to the new key; the old key is refused from now on.',
        ].join('\n'),
      );
    });
  return [admin, keys];
}
