import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { InFlight } from './util/in-flight.ts';
import type { AddressInfo } from 'node:net';
import { hkdfSync } from 'node:crypto';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from './config/schema.ts';
import { loadConfigFile } from './config/load.ts';
import { ConnectionRegistry } from './connections/registry.ts';
import { openCoordination, openStore } from './store/index.ts';
import { checkMasterKey } from './store/master-key-check.ts';
import { createListener, TlsReloader, type ListenerTls } from './tls-listener.ts';
import { createSecretBox } from './store/secret-box.ts';
import type { Store } from './store/types.ts';
import { Credentials, toPrincipal } from './identity/credentials.ts';
import { ScramLogins } from './identity/scram-logins.ts';
import { CredentialWatch } from './identity/credential-watch.ts';
import { ServiceAccounts } from './identity/service-accounts.ts';
import { createFederation } from './identity/oidc/federation.ts';
import { createSamlServiceProvider } from './identity/saml/service-provider.ts';
import { bootstrapAdmin, type BootstrapResult } from './identity/bootstrap.ts';
import { createLimitTracker, createPostgresCounters, loadPolicy } from './policy/index.ts';
import { compileMaskingProfiles, DEFAULT_PROFILES, type MaskingProfiles } from './masking/index.ts';
import { buildRuntimeState, RuntimeStateHolder, type RuntimeState } from './runtime-state.ts';
import type { ConnectionInfo } from './interaction.ts';
import { Recorder } from './audit/recorder.ts';
import { AuditTrail } from './audit/trail.ts';
import { startAuditExport } from './audit/outbox-start.ts';
import type { AuditDeliverer } from './audit/outbox.ts';
import { Pipeline } from './pipeline.ts';
import { Approvals, type Timers } from './approvals/index.ts';
import { createApprovalNotifier } from './approvals/notify/index.ts';
import { Grants } from './approvals/grants.ts';
import { accessTerms } from './config/approval-access.ts';
import { createMetrics } from './metrics.ts';
import { createHttpProxy, PROXY_PREFIX } from './adapters/http/server.ts';
import { UpstreamPools } from './adapters/http/upstream.ts';
import { createMcpGateway, MCP_PREFIX } from './adapters/mcp/server.ts';
import { createS3Gateway, S3_PREFIX } from './adapters/s3/server.ts';
import { loadS3CredentialKey } from './api/s3-credentials.ts';
import { ToolPins } from './adapters/mcp/pins.ts';
import { startInventory, type InventoryOptions } from './inventory/wiring.ts';
import { createMcpPinAdmin } from './adapters/mcp/pin-admin.ts';
import { authorizeCaller, registerApi } from './api/server.ts';
import { registerScim } from './api/scim/index.ts';
import { errorBody, errorHeaders } from './adapters/http/render.ts';
import { ConfigError, InvalidArgument, toGatewayError } from './errors.ts';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Re-read on reload (SIGHUP); absent when the config came from memory. */
  readonly configFile?: string;
  readonly masterKey: Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  /** Tests: the clock and wake-ups held requests and approval expiry use. */
  readonly approvals?: { readonly now?: () => number; readonly timers?: Timers };
  /** Tests: the audit export's clock; schedule false delivers only on gateway.auditExport.flush(). */
  readonly auditExport?: { readonly now?: () => number; readonly schedule?: boolean };
  /** Tests: the clock agent findings are judged at, the report's timer and webhook fetch. */
  readonly inventory?: InventoryOptions;
  /** Tests: the clock S3 signatures and presigned URLs are checked against. */
  readonly s3?: { readonly now?: () => number };
}

export interface Gateway {
  /** Base URL of the data-plane listener, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Base URL of the admin API and console (the data-plane URL unless admin.listen is set). */
  readonly adminUrl: string;
  /** The PostgreSQL listener's port and base URL (postgres://host:port), or null when it is not started. */
  readonly pgPort: number | null;
  readonly postgresUrl: string | null;
  readonly store: Store;
  readonly bootstrap: BootstrapResult;
  /** The audit export sinks' deliverer (audit/outbox.ts); null when no sink is configured. */
  readonly auditExport: AuditDeliverer | null;
  readonly logger: Logger;
  /** Issues a gth_ token for the admin identity (demo banner, tests); returns the secret. */
  issueAgentToken(input: { connections: readonly string[]; ttlMs: number; name: string }): Promise<string>;
  /** Re-reads the config file and swaps policy and masking; the old ones stay if the new ones are invalid. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** The end reason of a session the gateway stopped without closing (a crash, a kill): its end time is the next start. */
export const SESSION_LEFT_OPEN = 'left open: the gateway stopped before the session ended';

/** How often a replica on PostgreSQL re-reads every API-defined connection, besides the events. */
const CONNECTIONS_RESYNC_MS = 60_000;

/** The end reason of sessions a stop closes (after its drain). */
export const GATEWAY_STOPPED = 'gateway stopped';

/** Secrets never reach a log line: these paths are censored whatever a component logs. */
const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'credential',
  'secret',
  'token',
  'password',
  '*.credential',
  '*.secret',
  '*.token',
  '*.password',
];

/**
 * ISO times and level names, because people read these lines and log shippers parse them; the PID
 * because the process to signal (SIGHUP reloads) is this one, not an `npm`/`npx` wrapper above it.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: { paths: LOG_REDACT, censor: '[redacted]' },
    base: { service: 'gatehouse', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

function compileMasking(config: GatewayConfig, masterKey: Buffer): MaskingProfiles {
  // Pseudonyms must be stable across restarts and replicas but unlinkable to other deployments.
  const key = config.masking?.key
    ? Buffer.from(config.masking.key, 'utf8')
    : Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'gatehouse masking pseudonyms', 32));
  return compileMaskingProfiles({ ...config.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config.masking?.profiles } }, key);
}

/** Everything a config reload replaces, built completely before it is swapped in. */
async function compileState(
  config: GatewayConfig,
  masterKey: Buffer,
  baseDir: string,
  connections: readonly ConnectionInfo[],
  version: number,
): Promise<RuntimeState> {
  const masking = compileMasking(config, masterKey);
  const policy = await loadPolicy(config.policy, { baseDir, knownMaskProfiles: masking.names });
  const secrets = masking.get('secrets');
  if (!secrets) throw new ConfigError('the built-in "secrets" masking profile is missing');
  // The built-in pii profile holds every detector, secrets included, so rules can test any entity type.
  const detector = masking.get('pii') ?? secrets;
  return buildRuntimeState(
    { policy, masking, redact: (text) => secrets.maskText(text).text, detectEntities: (text) => detector.detectEntities(text) },
    connections,
    version,
  );
}

async function listen(server: Server, host: string, port: number, tls: ListenerTls | undefined): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${shownHost}:${address.port}`;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, masterKey } = options;
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger(config.log.level);
  const databaseUrl = env.GATEHOUSE_DATABASE_URL || config.store.databaseUrl;
  // Every audit event written through this store is chained (audit/trail.ts), whoever writes it.
  const auditTrail = new AuditTrail(logger);
  const store = auditTrail.wrap(await openStore({ databaseUrl, sqlitePath: config.store.sqlitePath, logger }));
  const closers: (() => Promise<unknown>)[] = [() => store.close()];
  try {
    // Closed after everything that may still publish or record, just before the store.
    const coordination = await openCoordination(
      store,
      { heartbeatMs: config.replicas.heartbeat, goneAfterMs: config.replicas.goneAfter, pollMs: config.replicas.eventPoll },
      logger,
      SESSION_LEFT_OPEN,
    );
    closers.push(() => coordination.close(GATEWAY_STOPPED));

    const baseDir = options.configFile ? dirname(options.configFile) : process.cwd();
    await auditTrail.start({ replicaId: coordination.replicaId, config: config.audit, baseDir });
    closers.push(() => auditTrail.stop());
    const box = createSecretBox(masterKey);
    await checkMasterKey(store, box);
    const connections = await ConnectionRegistry.create(config.connections, store, box);
    const runtime = new RuntimeStateHolder(await compileState(config, masterKey, baseDir, connections.list(), 1));
    const credentials = new Credentials(store, {
      defaultTtlMs: config.identity.tokens.defaultTtl,
      maxTtlMs: config.identity.tokens.maxTtl,
      cacheTtlMs: config.identity.cacheTtl,
      maxTtlForGroups: (groups) => runtime.current.policy.maxTokenTtlMs(groups),
    });
    const watch = new CredentialWatch(store, config.replicas.revocationSweep);
    watch.start();
    closers.push(async () => watch.stop());
    const serviceAccounts = new ServiceAccounts(store, credentials, config.identity.serviceAccounts.maxExpiry);
    const agents = await startInventory(config, { store, credentials, serviceAccounts, coordination, logger, policy: () => runtime.current.policy, connections: () => connections.list().map((c) => c.name) }, options.inventory);
    closers.push(async () => agents.stop());
    const bootstrap = await bootstrapAdmin(store, credentials, env.GATEHOUSE_ADMIN_TOKEN || undefined);
    const recorder = new Recorder(store, logger, config.recording.maxBodyBytes, Date.now, coordination.replicaId);
    const metrics = createMetrics();
    const auditExport = await startAuditExport({ sinks: config.audit?.sinks, store, holder: coordination.replicaId, logger, metrics: metrics.auditSinks, baseDir, ...options.auditExport });
    if (auditExport) closers.push(() => auditExport.stop());
    // On PostgreSQL several replicas may serve the same agents: their limits must count together.
    const counters = store.postgres
      ? createPostgresCounters({ ...store.postgres, onError: (err, what) => logger.warn({ err }, `limit counters: ${what} failed`) })
      : undefined;
    if (counters) closers.push(() => counters.close());
    // Read at start; deciding reads identity.roles as a reload leaves it.
    const approvals = new Approvals({
      store,
      coordination,
      logger,
      roleGrants: () => roleGrants,
      breakGlassGroups: () => config.approvals.breakGlassGroups ?? [],
      pollMs: config.replicas.eventPoll,
      ...options.approvals,
    });
    approvals.start();
    // Just-in-time access requests go through the approvals; a grant that ends ends its sessions on every replica.
    let accessConfig = config.approvals.access;
    const grants = new Grants({
      store,
      coordination,
      approvals,
      logger,
      terms: (connection) => accessTerms(accessConfig, connection),
      connectionExists: (name) => connections.get(name) !== undefined,
      redact: (text) => runtime.current.redact(text),
      ...options.approvals,
    });
    grants.start();
    closers.push(async () => grants.stop());
    // Approvers hear of a held request, and of its decision, from the replica where it happened.
    const notifier = createApprovalNotifier(config.approvals.notify, { logger, now: Date.now });
    closers.push(() => notifier.close());
    let approveUrl = '';
    approvals.onEvent((event) => notifier.notify({ type: `approval.${event.type}`, approval: event.approval, gatewayUrl: approveUrl }));
    const pipeline = new Pipeline({
      approvals,
      grants,
      credentials,
      watch,
      state: () => runtime.current,
      connections: (name) => connections.get(name),
      limits: createLimitTracker({ counters }),
      recorder,
      metrics,
      logger,
      responseLimits: { maxBodyBytes: config.http.bodyLimit, transcriptBytes: config.recording.maxBodyBytes },
    });
    closers.push(() => pipeline.closeSessions(GATEWAY_STOPPED));
    // identity.roles: read by the API on every call; a reload swaps it with the state it compiled.
    let roleGrants = config.identity.roles;
    // Certificates renewed on disk (cert-manager, a secret mount) apply without a restart; a reload re-reads them too.
    const tlsReloaders: TlsReloader[] = [];
    const followTls = (server: Server, tls: ListenerTls | undefined, where: string) => {
      if (!tls) return;
      const reloader = new TlsReloader(server, tls, where, logger);
      reloader.watch();
      tlsReloaders.push(reloader);
      closers.push(async () => reloader.close());
    };
    const reload = async () => {
      for (const reloader of tlsReloaders) reloader.reload();
      if (!options.configFile) throw new InvalidArgument('this gateway was not started from a config file');
      const file = options.configFile;
      const state = await runtime.reload(async (version) => {
        const next = await loadConfigFile(file, env);
        const built = await compileState(next, masterKey, baseDir, connections.list(), version);
        roleGrants = next.identity.roles;
        await agents.configure(next);
        accessConfig = next.approvals.access;
        return built;
      });
      logger.info({ rules: state.policy.ruleCount, version: state.version }, 'policy and masking reloaded');
      await auditTrail.noteReload({ version: state.version, rules: state.policy.ruleCount }, coordination.replicaId);
    };
    let draining = false;
    const httpUnderWay = new InFlight();
    /**
     * Every HTTP request counts until its response closes; once draining, a keep-alive connection is
     * told to close and is ended after its response, so a steady client cannot hold the drain open.
     */
    const trackRequests = (server: Server) =>
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        httpUnderWay.enter();
        if (draining) res.setHeader('connection', 'close');
        res.once('close', () => {
          httpUnderWay.leave();
          if (draining) req.socket.end();
        });
      });
    // A stop releases held requests first, leaving their approvals pending for after the restart.
    const stopAccepting: (() => void)[] = [() => approvals.stop()];
    // What every replica applies, whichever published it (this one included).
    coordination.subscribe((event) => {
      switch (event.type) {
        case 'tokens.revoked':
          credentials.forget(event.tokenIds);
          watch.revoked(event.tokenIds);
          break;
        case 'grants.ended':
          pipeline.endSessionsUsingGrants(event.grantIds, event.reason);
          break;
        case 'principal.disabled':
          credentials.forgetPrincipal(event.principalId);
          break;
        case 'connections.changed':
          void connections.refresh(event.name).catch((err: Error) => logger.error({ connection: event.name, error: err.message }, 'could not load a changed connection'));
          break;
        case 'policy.reload':
          if (options.configFile) void reload().catch((err: Error) => logger.error({ requestedBy: event.requestedBy, error: err.message }, 'reload refused; the previous policy stays in force'));
          break;
      }
    });
    if (store.postgres) {
      // A change made on another replica before this one subscribed, or whose event was lost
      // (published after its write failed), is caught by reading every connection again.
      await connections.reload();
      const resync = setInterval(() => void connections.reload().catch((err: Error) => logger.warn({ error: err.message }, 'could not re-read connections')), CONNECTIONS_RESYNC_MS);
      resync.unref();
      closers.push(async () => clearInterval(resync));
    }

    const pools = new UpstreamPools(config.http.upstreamTimeout);
    closers.push(() => pools.close());
    const proxy = createHttpProxy({
      pipeline,
      connections,
      pools,
      metrics,
      logger,
      bodyLimit: config.http.bodyLimit,
      upstreamTimeoutMs: config.http.upstreamTimeout,
      trustProxy: config.http.trustProxy,
    });
    // Object storage: S3 clients sign with credentials derived under a key sealed in the store.
    const s3Key = await loadS3CredentialKey(store, box);
    const s3Options = new Map(config.connections.flatMap((c) => (c.s3 ? [[c.name, { allowUnmaskedRanges: c.s3.allowUnmaskedRanges, virtualHost: c.s3.addressing === 'virtual' }] as const] : [])));
    const s3 = createS3Gateway({
      pipeline,
      connections,
      pools,
      logger,
      key: s3Key,
      upstreamTimeoutMs: config.http.upstreamTimeout,
      trustProxy: config.http.trustProxy,
      link: (row) => store.insertS3Object(row),
      options: (c) => s3Options.get(c.name) ?? { allowUnmaskedRanges: false, virtualHost: false },
      ...(options.s3?.now ? { now: options.s3.now } : {}),
    });
    closers.push(() => s3.close());
    // MCP sessions end (their processes stopped) before the pipeline's sessions and the store close.
    const pins = new ToolPins({ store, approvals, logger });
    const mcpPins = createMcpPinAdmin({ connections, pins, store, logger });
    const mcp = createMcpGateway({ pipeline, connections, state: () => runtime.current, logger, trustProxy: config.http.trustProxy, pins });
    closers.push(() => mcp.close(GATEWAY_STOPPED));
    stopAccepting.push(() => mcp.stopAccepting());

    const ready = async () => {
      if (draining) throw new Error('draining');
      await store.ping();
    };
    const federation = createFederation({ oidc: config.identity.oidc, workload: config.identity.workload, store, credentials, logger });
    const saml = createSamlServiceProvider(config.identity.saml, { store, credentials, logger, masterKey });
    const apiDeps = { store, s3Key, credentials, serviceAccounts, coordination, connections, roleGrants: () => roleGrants, logger, inventory: agents.inventory, saml, approvals, grants, auditTrail, mcpPins, ...federation };
    const buildAdminApp = async (serverFactory?: (handler: (req: IncomingMessage, res: ServerResponse) => void) => Server) => {
      const app: FastifyInstance = Fastify({
        logger: false,
        bodyLimit: 1024 * 1024,
        trustProxy: config.http.trustProxy,
        ...(serverFactory ? { serverFactory } : {}),
      });
      app.get('/healthz', async () => ({ status: 'ok' }));
      app.get('/readyz', async (_request, reply) => {
        try {
          await ready();
          return { status: 'ready', store: store.engine, replica: coordination.replicaId };
        } catch {
          return reply.code(503).send({ status: draining ? 'draining' : 'unavailable', store: store.engine });
        }
      });
      // On a listener agents can reach, metrics (connection names, error rates) are for admins only;
      // on a separate admin listener, which stays internal, a scraper needs no token.
      const metricsNeedToken = config.admin.listen === undefined;
      app.get('/metrics', async (request, reply) => {
        if (metricsNeedToken) {
          try {
            // Any person may hold an API token now: metrics need the admin role, like an API route without `allow`.
            await authorizeCaller(apiDeps, /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim(), undefined, 'GET /metrics');
          } catch (err) {
            const error = toGatewayError(err);
            return reply.code(error.status).headers(errorHeaders(error)).send(errorBody(error));
          }
        }
        return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
      });
      await registerApi(app, apiDeps);
      await registerScim(app, apiDeps);
      return app;
    };

    let url: string;
    let adminUrl: string;
    if (config.admin.listen) {
      const dataPlane = createListener((req, res) => {
        if (req.url?.startsWith(PROXY_PREFIX)) return proxy(req, res);
        if (req.url?.startsWith(S3_PREFIX)) return s3.handle(req, res);
        if (req.url?.startsWith(MCP_PREFIX)) return mcp.handle(req, res);
        if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        // The CLI shows this message as is: it tells whoever pointed GATEHOUSE_URL here where to point it.
        const message = req.url?.startsWith('/api/')
          ? 'this is the data-plane listener; the admin API is on the admin listener (admin.listen in gatehouse.yaml): point GATEHOUSE_URL there'
          : 'not found on the data-plane listener';
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, code: 'not_found' } }));
      }, config.http.tls, 'http.tls');
      followTls(dataPlane, config.http.tls, 'http.tls');
      url = await listen(dataPlane, config.http.listen.host, config.http.listen.port, config.http.tls);
      closers.push(async () => {
        const stopped = new Promise((resolve) => (dataPlane.listening ? dataPlane.close(resolve) : resolve(undefined)));
        dataPlane.closeAllConnections();
        await stopped;
      });
      stopAccepting.push(() => dataPlane.close());
      trackRequests(dataPlane);
      dataPlane.keepAliveTimeout = 65_000;
      const admin = await buildAdminApp((handler) => createListener(handler, config.admin.tls, 'admin.tls'));
      await admin.ready();
      followTls(admin.server, config.admin.tls, 'admin.tls');
      adminUrl = await listen(admin.server, config.admin.listen.host, config.admin.listen.port, config.admin.tls);
      closers.push(async () => {
        await admin.close();
        // Started with server.listen, as the single listener is: fastify does not close it itself.
        const stopped = new Promise((resolve) => (admin.server.listening ? admin.server.close(resolve) : resolve(undefined)));
        admin.server.closeAllConnections();
        await stopped;
      });
      stopAccepting.push(() => admin.server.close());
      trackRequests(admin.server);
    } else {
      const app = await buildAdminApp((handler) =>
        createListener((req, res) => (req.url?.startsWith(PROXY_PREFIX) ? proxy(req, res) : req.url?.startsWith(S3_PREFIX) ? s3.handle(req, res) : req.url?.startsWith(MCP_PREFIX) ? mcp.handle(req, res) : handler(req, res)), config.http.tls, 'http.tls'),
      );
      await app.ready();
      followTls(app.server, config.http.tls, 'http.tls');
      url = await listen(app.server, config.http.listen.host, config.http.listen.port, config.http.tls);
      app.server.keepAliveTimeout = 65_000;
      stopAccepting.push(() => app.server.close());
      trackRequests(app.server);
      closers.push(async () => {
        await app.close();
        // The server was started with server.listen, not app.listen, so fastify does not close it;
        // the drain already stopped it listening, and what stays are the connections to cut.
        const stopped = new Promise((resolve) => (app.server.listening ? app.server.close(resolve) : resolve(undefined)));
        app.server.closeAllConnections();
        await stopped;
      });
      adminUrl = url;
    }
    // Started when configured, or when a postgres connection exists to be reached.
    let postgres: { port: number; url: string; drainSessions: () => Promise<void> } | null = null;
    if (config.postgres.listen || connections.list().some((c) => c.type === 'postgres')) {
      // Imported only here: importing the SQL parser instantiates its WASM module, which an HTTP-only gateway never needs.
      const [{ initSqlClassifier }, { startPostgresListener }] = await Promise.all([
        import('./classify/sql.ts'),
        import('./adapters/postgres/server.ts'),
      ]);
      await initSqlClassifier();
      const listen = config.postgres.listen ?? { host: '127.0.0.1', port: 15432 };
      const listener = await startPostgresListener({
        host: listen.host,
        port: listen.port,
        tls: config.postgres.tls,
        allowCleartextOverNetwork: config.postgres.allowCleartextOverNetwork,
        refuseStartupSettings: config.postgres.refuseStartupSettings,
        auth: config.postgres.auth,
        scramLogins: new ScramLogins(store),
        pipeline,
        connections,
        logger,
        upstreamTimeoutMs: config.http.upstreamTimeout,
      });
      closers.push(() => listener.close());
      stopAccepting.push(() => listener.stopAccepting());
      postgres = { port: listener.port, url: listener.url, drainSessions: () => listener.drainSessions() };
    }
    approveUrl = adminUrl;
    logger.info({ url, adminUrl, postgres: postgres?.url ?? null, store: store.engine, connections: connections.list().length }, 'gateway listening');

    let closed = false;
    return {
      url,
      adminUrl,
      pgPort: postgres?.port ?? null,
      postgresUrl: postgres?.url ?? null,
      store,
      bootstrap,
      auditExport,
      logger,
      issueAgentToken: async (input) => {
        const { secret } = await credentials.issue({ principal: toPrincipal(bootstrap.principal), kind: 'agent', ...input });
        return secret;
      },
      reload,
      close: async () => {
        if (closed) return;
        closed = true;
        // Drain: no new connections or sessions, /readyz says so, and within drainTimeout every HTTP
        // request and statement under way finishes and every Postgres session ends once idle
        // outside a transaction. What still runs at the deadline is cut and recorded as such.
        draining = true;
        pipeline.stopOpeningSessions();
        for (const stop of stopAccepting) stop();
        let deadline: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          Promise.all([pipeline.idle(), httpUnderWay.idle(), postgres?.drainSessions()]).then(() => true),
          new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), config.shutdown.drainTimeout))),
        ]);
        clearTimeout(deadline);
        if (!drained) logger.warn({ underWay: pipeline.requestsUnderWay, httpRequests: httpUnderWay.size }, 'drain timed out; what still runs is cut and recorded as such');
        for (const close of closers.reverse()) await close().catch((err) => logger.error({ err }, 'error while stopping'));
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
}
