import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { restartRequiredChanges } from '../config/restart-keys.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { createSerialReloader } from '../config/serial-reloader.ts';
import { watchConfig, type ConfigWatch, type WatchTargets } from '../config/watch.ts';
import { parseMasterKey } from '../store/secret-box.ts';
import { createLogger, startGateway } from '../server.ts';
import { startDemoModel } from '../demo/demo-model.ts';
import { applyServerGcTuning } from './gc-tuning.ts';

export const DEMO_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/gatehouse.demo.yaml');

/**
 * GATEHOUSE_MASTER_KEY seals upstream credentials at rest. Only demo mode may make one up, and it
 * keeps it next to the demo's data so restarts can still open what it sealed.
 */
async function masterKey(env: NodeJS.ProcessEnv, demo: boolean, dataDir: string): Promise<{ key: Buffer; note: string | null }> {
  if (env.GATEHOUSE_MASTER_KEY) return { key: parseMasterKey(env.GATEHOUSE_MASTER_KEY), note: null };
  if (!demo) {
    throw new ConfigError('GATEHOUSE_MASTER_KEY is not set: generate one with `openssl rand -hex 32` and keep it in your secret manager');
  }
  const file = resolve(dataDir, 'demo-master.key');
  try {
    return { key: parseMasterKey((await readFile(file, 'utf8')).trim()), note: `demo master key read from ${file}` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const hex = randomBytes(32).toString('hex');
  await writeFile(file, `${hex}\n`, { mode: 0o600 });
  return { key: parseMasterKey(hex), note: `demo mode generated a master key in ${file}; set GATEHOUSE_MASTER_KEY in production` };
}

export async function runStart(options: { config?: string; demo?: boolean }, processEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Process-wide and only for `start`: every full collection from here on sizes the next heap limit with it.
  applyServerGcTuning();
  const demo = options.demo === true;
  // The demo keeps to its own SQLite file even where a real deployment's database URL is exported.
  const env: NodeJS.ProcessEnv = demo ? { ...processEnv, GATEHOUSE_DATABASE_URL: '' } : processEnv;
  const configFile = resolve(options.config ?? (demo ? DEMO_CONFIG : 'gatehouse.yaml'));
  let demoModel: Awaited<ReturnType<typeof startDemoModel>> | null = null;
  if (demo) {
    // The demo model is an upstream like any other: it demands its own key, which only the gateway holds.
    const apiKey = `demo-upstream-${randomBytes(12).toString('hex')}`;
    demoModel = await startDemoModel({ host: '127.0.0.1', port: 0, apiKey });
    env.GATEHOUSE_DEMO_MODEL_URL = demoModel.url;
    env.GATEHOUSE_DEMO_MODEL_KEY = apiKey;
  }
  const config = await loadConfigFile(configFile, env);
  const logger = createLogger(config.log.level);
  const { key, note } = await masterKey(env, demo, dirname(resolve(config.store.sqlitePath)));
  if (note) logger.warn(note);
  const gateway = await startGateway({ config, configFile, masterKey: key, env, logger }).catch((err: unknown) => {
    throw listenError(err, configFile) ?? err;
  });

  const lines = [
    ``,
    `Gatehouse is running (${gateway.store.engine} store, config ${configFile}, PID ${process.pid})`,
    `  data plane: ${gateway.url}/proxy/<connection>/…`,
    `  admin API:  ${gateway.adminUrl}/api/v1`,
    `  reload:     kill -HUP ${process.pid}   (this PID, not an npm or npx wrapper's)`,
  ];
  if (gateway.bootstrap.oneTimeToken) {
    lines.push('', 'Admin token (shown once; store it now):', `  export GATEHOUSE_URL=${gateway.adminUrl}`, `  export GATEHOUSE_TOKEN=${gateway.bootstrap.oneTimeToken}`);
  }
  if (demo) {
    const agent = await gateway.issueAgentToken({ connections: ['demo'], ttlMs: 3600_000, name: 'demo agent token' });
    lines.push(
      '',
      'Try it (a demo agent token, valid 1 hour, scoped to the "demo" connection):',
      `  export GTH=${agent}`,
      `  curl -s ${gateway.url}/proxy/demo/v1/chat/completions -H "Authorization: Bearer $GTH" \\`,
      `    -H 'content-type: application/json' -d '{"model":"demo","messages":[{"role":"user","content":"Hello, gateway"}]}'`,
      `  npx gatehouse sessions list     # needs GATEHOUSE_TOKEN (the admin token)`,
    );
  }
  // stderr: stdout carries the JSON log stream, and a log shipper must not ingest the tokens.
  process.stderr.write(`${lines.join('\n')}\n\n`);

  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    await gateway.close();
    await demoModel?.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // SIGHUP and the file watch share one serialised reloader: one reload at a time, and whatever
  // arrives during one queues exactly one more, which reads the newest files.
  const reasons = new Set<string>();
  let watcher: ConfigWatch | null = null;
  const reloads = createSerialReloader(async () => {
    const why = [...reasons];
    reasons.clear();
    try {
      // Read here too, to name the keys a reload cannot apply; gateway.reload() validates and swaps.
      const next = await loadConfigFile(configFile, env);
      await gateway.reload();
      logger.info({ why }, 'configuration reloaded');
      const keys = restartRequiredChanges(config, next);
      if (keys.length > 0) logger.warn({ keys }, 'these settings changed but need a restart to take effect');
      await watcher?.retarget(watchTargets(configFile, next)).catch((err: Error) => logger.warn({ error: err.message }, 'cannot follow the new policy folder; reload with SIGHUP'));
    } catch (err) {
      logger.error({ why, error: (err as Error).message }, 'reload refused; the previous policy stays in force');
    }
  });
  const reload = (why: string) => {
    reasons.add(why);
    // The run catches everything it can throw, so the promise never rejects.
    void reloads.trigger();
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  watcher = await watchConfig({
    ...watchTargets(configFile, config),
    onChange: () => reload('file changed'),
    onWatchError: (err, dir) => logger.debug({ dir, error: err.message }, 'cannot watch a config folder; SIGHUP still reloads'),
  }).catch((err: Error) => {
    logger.warn({ error: err.message }, 'cannot watch the config for changes; reload with SIGHUP');
    return null;
  });
}

/** A listener that could not open, said so that the operator knows what to change. */
function listenError(err: unknown, configFile: string): ConfigError | null {
  const { code, address, port } = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = `${address ?? '?'}:${port ?? '?'}`;
  const lost = 'If this was the first start, the admin token was never shown: once the gateway runs, get one with `gatehouse admin reset-token`.';
  if (code === 'EADDRINUSE') {
    return new ConfigError(`cannot listen on ${where}: another process uses it (\`ss -ltnp 'sport = :${port}'\` names it); stop it or change the listen address in ${configFile}. ${lost}`, { cause: err });
  }
  if (code === 'EACCES') return new ConfigError(`cannot listen on ${where}: ports below 1024 need privileges; use a port of 1024 or more in ${configFile}. ${lost}`, { cause: err });
  if (code === 'EADDRNOTAVAIL') return new ConfigError(`cannot listen on ${where}: no network interface of this machine has that address; fix the listen address in ${configFile}`, { cause: err });
  return null;
}

/** The config file and, when set, the policy folder (relative to the config file's folder). */
function watchTargets(configFile: string, config: GatewayConfig): WatchTargets {
  return { files: [configFile], dirs: config.policy.dir ? [resolve(dirname(configFile), config.policy.dir)] : [] };
}
