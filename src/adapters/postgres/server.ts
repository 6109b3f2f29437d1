/**
 * The PostgreSQL listener: TLS on request, login with a Gatehouse token as the password (the
 * database name selects the connection), the gateway's own login upstream, then a ProxySession.
 * Nothing reaches the upstream before the token is verified.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AuthError, GatewayError, ProtocolError, toGatewayError, UnknownConnection } from '../../errors.ts';
import type { ConnectionRegistry } from '../../connections/registry.ts';
import type { Pipeline } from '../../pipeline.ts';
import { FrontendParser, readCleartextPassword, readSaslInitialResponse, type FrontendMessage, type StartupMessage, type TypedMessage } from './codec.ts';
import type { ScramLogin } from '../../identity/scram-logins.ts';
import { unknownToken } from '../../identity/credentials.ts';
import { SCRAM_MECHANISM, ScramExchange } from './scram.ts';
import { BackendWriter } from './backend-writer.ts';
import { errorFields } from './render.ts';
import { connectUpstream, upstreamTarget } from './upstream-connect.ts';
import { ProxySession } from './proxy-session.ts';
import { CancelKeys } from './cancel-keys.ts';
import { operatorList, startupSettings, type OperatorList, type StartupSettings } from './startup-parameters.ts';

export interface PostgresListenerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM file paths; without them SSLRequest is answered 'N'. */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined;
  readonly allowCleartextOverNetwork: boolean;
  readonly pipeline: Pipeline;
  readonly connections: ConnectionRegistry;
  readonly logger: Logger;
  /** How long a client may take to log in (PostgreSQL's authentication_timeout). Default 60 s. */
  readonly loginTimeoutMs?: number;
  readonly upstreamTimeoutMs?: number;
  /** Startup settings refused on top of the built-in list (postgres.refuseStartupSettings): names, or prefixes ending in `*`. */
  readonly refuseStartupSettings?: readonly string[];
  /** How a client proves its token (postgres.auth): SCRAM-SHA-256, a cleartext password, or SCRAM for a user name that has SCRAM-ready tokens. Default both. */
  readonly auth?: PostgresAuthMode;
  /** Salts and verifiers for SCRAM; without it every login is cleartext. */
  readonly scramLogins?: ScramLoginSource;
}

export type PostgresAuthMode = 'scram' | 'cleartext' | 'both';

export interface ScramLoginSource {
  hasVerifiers(userName: string): Promise<boolean>;
  lookup(userName: string): Promise<ScramLogin>;
}

/** How the client proved its token: sent in clear, or a SCRAM proof that matched one (with the server's signature to send). */
type Credential = { readonly secret: string } | { readonly tokenId: string; readonly serverFinal: string };

export interface PostgresListener {
  readonly host: string;
  readonly port: number;
  /** postgres://host:port — add /<connection> and a token as password. */
  readonly url: string;
  /** Live proxied sessions. */
  readonly sessionCount: number;
  /** A stop's drain: no new connections; sessions already open go on until close(). */
  stopAccepting(): void;
  /** Ends each session once it is idle outside a transaction; resolves when every session has ended. */
  drainSessions(): Promise<void>;
  close(): Promise<void>;
}

/** A password message carrying a token is tiny; anything this large before login is an attack or garbage. */
const MAX_LOGIN_MESSAGE = 16 * 1024;
const DEFAULT_LOGIN_TIMEOUT_MS = 60_000;
/**
 * PostgreSQL closes without a word (COMMERROR: logged, never sent) when a startup-phase packet's
 * length is impossible (a Terminate or an HTTP request sent first reads as one) or a cancel packet is
 * malformed; a bad protocol version or packet layout gets a FATAL. Drivers that give up while
 * connecting rely on that silence.
 */
const SILENT_STARTUP_FAILURE = /^invalid length of startup packet|^invalid startup packet: cancel key/;

export async function startPostgresListener(options: PostgresListenerOptions): Promise<PostgresListener> {
  const secureContext = options.tls
    ? createSecureContext({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) })
    : null;
  const cancelKeys = new CancelKeys();
  const refuseSettings = operatorList(options.refuseStartupSettings ?? []);
  const sessions = new Set<ProxySession>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new ClientLogin(socket, { ...options, secureContext, cancelKeys, sessions, refuseSettings }).start();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  options.logger.info({ host: address.address, port: address.port, tls: secureContext !== null }, 'postgres listener ready');
  return {
    host: address.address,
    port: address.port,
    url: `postgres://${shownHost}:${address.port}`,
    get sessionCount() {
      return sessions.size;
    },
    stopAccepting: () => {
      if (server.listening) server.close();
    },
    drainSessions: async () => {
      await Promise.all([...sessions].map((s) => s.endWhenIdle()));
    },
    close: async () => {
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      const ending = [...sessions].map((s) => s.shutdown());
      for (const socket of sockets) socket.destroy();
      await Promise.all([closed, ...ending]);
    },
  };
}

interface LoginContext extends PostgresListenerOptions {
  readonly secureContext: SecureContext | null;
  readonly cancelKeys: CancelKeys;
  readonly sessions: Set<ProxySession>;
  readonly refuseSettings: OperatorList;
}

const enum State {
  Startup,
  /** Looking up how this user name logs in, or its SCRAM salt: what the client sends meanwhile waits. */
  Choosing,
  Password,
  SaslStart,
  SaslContinue,
  Authenticating,
  Done,
}

/** One client's way from its first byte to a ProxySession. */
class ClientLogin {
  private socket: Socket;
  private readonly raw: Socket;
  private readonly parser = new FrontendParser();
  private readonly writer = new BackendWriter();
  private state = State.Startup;
  private startup: StartupMessage | null = null;
  private settings: StartupSettings | null = null;
  private readonly queued: TypedMessage[] = [];
  private readonly early: FrontendMessage[] = [];
  private scram: ScramExchange | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly clientAddr: string | null;

  constructor(socket: Socket, private readonly ctx: LoginContext) {
    this.socket = socket;
    this.raw = socket;
    this.clientAddr = socket.remoteAddress ?? null;
    this.onData = this.onData.bind(this);
    this.onMessage = this.onMessage.bind(this);
    this.onGone = this.onGone.bind(this);
    this.timer = setTimeout(() => this.fail(new ProtocolError('login timed out')), ctx.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS);
    this.timer.unref();
  }

  start(): void {
    this.raw.setNoDelay(true);
    this.listen(this.raw);
  }

  private listen(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', this.onGone);
  }

  private unlisten(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onGone);
    socket.off('close', this.onGone);
  }

  private onGone(): void {
    clearTimeout(this.timer);
    this.state = State.Done;
  }

  private onData(chunk: Buffer): void {
    const error = this.parser.push(chunk, this.onMessage);
    if (error !== null && this.state === State.Startup && SILENT_STARTUP_FAILURE.test(error.message)) return this.close(error);
    if (error !== null) return this.fail(error);
    if (this.state !== State.Done && this.parser.pendingBytes > MAX_LOGIN_MESSAGE) {
      this.fail(new ProtocolError(`message larger than ${MAX_LOGIN_MESSAGE} bytes before login`));
    }
  }

  private onMessage(msg: FrontendMessage): void {
    switch (this.state) {
      case State.Startup:
        return this.onStartupPhase(msg);
      case State.Choosing:
        if (this.early.length >= 4) return this.fail(new ProtocolError('too many messages before the authentication request'));
        this.early.push(msg);
        return;
      case State.SaslStart:
        return this.onSaslStart(msg);
      case State.SaslContinue:
        return this.onSaslContinue(msg);
      case State.Password:
        if (msg.type !== 'authResponse') return this.fail(new ProtocolError(`expected a password message, got ${msg.type}`));
        if (msg.raw.length > MAX_LOGIN_MESSAGE) return this.fail(new ProtocolError('password message too large'));
        this.state = State.Authenticating;
        void this.loginCleartext(readCleartextPassword(msg));
        return;
      case State.Authenticating:
        // a client that pipelines its first statements behind the password: kept for the session
        if (msg.type === 'startup' || msg.type === 'sslRequest' || msg.type === 'gssEncRequest' || msg.type === 'cancelRequest') return;
        this.queued.push(msg);
        return;
      case State.Done:
        return;
    }
  }

  private onStartupPhase(msg: FrontendMessage): void {
    switch (msg.type) {
      case 'sslRequest':
        if (this.ctx.secureContext !== null && this.socket === this.raw) {
          this.raw.write(this.writer.sslResponse(true).flush());
          this.upgrade();
        } else {
          this.socket.write(this.writer.sslResponse(false).flush());
        }
        return;
      case 'gssEncRequest':
        this.socket.write(this.writer.gssEncRefused().flush());
        return;
      case 'cancelRequest':
        this.state = State.Done;
        clearTimeout(this.timer);
        this.ctx.cancelKeys.cancel(msg.processId, msg.secretKey, this.ctx.logger);
        this.socket.end();
        return;
      case 'startup':
        return this.onStartup(msg);
      default:
        return this.fail(new ProtocolError(`expected a startup message, got ${msg.type}`));
    }
  }

  private upgrade(): void {
    this.unlisten(this.raw);
    const tls = new TLSSocket(this.raw, { isServer: true, secureContext: this.ctx.secureContext! });
    this.socket = tls;
    this.listen(tls);
  }

  private onStartup(msg: StartupMessage): void {
    const params = msg.parameters;
    this.startup = msg;
    const settings = startupSettings(params, { refuse: this.ctx.refuseSettings });
    if (settings instanceof GatewayError) return this.refuse(settings);
    this.settings = settings;
    const unsupported = Object.keys(params).filter((k) => k.startsWith('_pq_.'));
    if (msg.minorVersion > 0 || unsupported.length > 0) this.writer.negotiateProtocolVersion(0, unsupported);
    this.state = State.Choosing;
    void this.offerAuth();
  }

  /** SCRAM or a cleartext password, by postgres.auth and, under `both`, whether the user name has SCRAM-ready tokens. */
  private async offerAuth(): Promise<void> {
    const mode = this.ctx.scramLogins === undefined ? 'cleartext' : (this.ctx.auth ?? 'both');
    let scram = mode === 'scram';
    if (mode === 'both') {
      try {
        scram = await this.ctx.scramLogins!.hasVerifiers(this.userName());
      } catch (err) {
        return this.fail(toGatewayError(err));
      }
    }
    if (this.state !== State.Choosing) return;
    if (!scram) {
      const tls = this.socket !== this.raw;
      // Only a cleartext password needs TLS to stay secret: a SCRAM proof gives the token to nobody.
      if (!tls && !this.ctx.allowCleartextOverNetwork && !isLoopback(this.clientAddr)) {
        return this.refuse(
          new AuthError('auth_missing', 'this gateway takes tokens only over TLS from other hosts; connect with sslmode=require'),
        );
      }
      this.state = State.Password;
      this.socket.write(this.writer.authenticationCleartextPassword().flush());
    } else {
      this.state = State.SaslStart;
      this.socket.write(this.writer.authenticationSasl([SCRAM_MECHANISM]).flush());
    }
    this.replayEarly();
  }

  private replayEarly(): void {
    for (const msg of this.early.splice(0)) this.onMessage(msg);
  }

  private userName(): string {
    return this.startup?.parameters['user'] ?? '';
  }

  private onSaslStart(msg: FrontendMessage): void {
    if (msg.type !== 'authResponse') return this.fail(new ProtocolError(`expected a SASLInitialResponse, got ${msg.type}`));
    const initial = readSaslInitialResponse(msg);
    if (initial instanceof ProtocolError) return this.refuse(initial);
    if (initial.mechanism !== SCRAM_MECHANISM) {
      return this.refuse(new ProtocolError(`client selected an invalid SASL authentication mechanism; this gateway offers ${SCRAM_MECHANISM}`));
    }
    if (initial.data === null) return this.refuse(new ProtocolError('malformed SCRAM message: no client-first message'));
    this.state = State.Choosing;
    void this.scramFirst(initial.data);
  }

  private async scramFirst(clientFirst: Buffer): Promise<void> {
    let login: ScramLogin;
    try {
      login = await this.ctx.scramLogins!.lookup(this.userName());
    } catch (err) {
      return this.fail(toGatewayError(err));
    }
    if (this.state !== State.Choosing) return;
    this.scram = new ScramExchange(login, unknownToken);
    const serverFirst = this.scram.start(clientFirst);
    if (serverFirst instanceof ProtocolError) return this.refuse(serverFirst);
    this.state = State.SaslContinue;
    this.socket.write(this.writer.authenticationSaslContinue(serverFirst).flush());
    this.replayEarly();
  }

  private onSaslContinue(msg: FrontendMessage): void {
    if (msg.type !== 'authResponse') return this.fail(new ProtocolError(`expected a SASLResponse, got ${msg.type}`));
    this.state = State.Authenticating;
    const result = this.scram!.finish(msg.body);
    this.scram = null;
    if (result instanceof GatewayError) return this.refuse(result);
    void this.login({ tokenId: result.tokenId, serverFinal: result.serverFinal });
  }

  private async loginCleartext(password: string | ProtocolError): Promise<void> {
    if (password instanceof ProtocolError) return this.refuse(password);
    return this.login({ secret: password });
  }

  private async login(credential: Credential): Promise<void> {
    const { pipeline, logger } = this.ctx;
    const request = this.loginRequest();
    let auth;
    let connection;
    try {
      const proof = 'secret' in credential ? { secret: credential.secret } : { secret: undefined, provenTokenId: credential.tokenId };
      ({ auth, connection } = await pipeline.login({ ...request, ...proof }));
    } catch (err) {
      return this.fail(toGatewayError(err));
    }
    let upstream;
    let target;
    try {
      target = upstreamTarget(this.ctx.connections.get(connection.name) ?? missing(connection.name));
      upstream = await connectUpstream(target, this.forwardedParameters(), this.ctx.upstreamTimeoutMs);
    } catch (err) {
      logger.warn({ err, connection: connection.name }, 'could not open the upstream database session');
      return this.fail(await pipeline.refuseLogin(request, toGatewayError(err), auth));
    }
    if (this.state !== State.Authenticating) {
      upstream.socket.destroy();
      return;
    }
    let session;
    try {
      session = await pipeline.openSession(auth, connection, 'postgres', this.clientAddr, this.settings!.sent);
    } catch (err) {
      upstream.socket.destroy();
      return this.fail(await pipeline.refuseLogin(request, toGatewayError(err), auth));
    }
    if (this.state !== State.Authenticating) {
      upstream.socket.destroy();
      // The store may be gone too: that is logged, never left to end the process.
      await session.close('client left during login').catch((err) => logger.error({ err }, 'could not close a session record'));
      return;
    }
    // What the client asked for (user name included, which the login does not use): a startup packet holds no secret.
    logger.info({ session: session.id, connection: connection.name, startup: this.settings!.sent }, 'postgres session startup');
    const key = this.ctx.cancelKeys.issue(target, upstream.processId, upstream.secretKey);
    if ('serverFinal' in credential) this.writer.authenticationSaslFinal(credential.serverFinal);
    const w = this.writer.authenticationOk();
    for (const [k, v] of upstream.parameters) w.parameterStatus(k, v);
    this.socket.write(w.backendKeyData(key.processId, key.secretKey).readyForQuery('I').flush());

    this.state = State.Done;
    clearTimeout(this.timer);
    this.unlisten(this.socket);
    const proxy = new ProxySession({
      client: this.socket,
      upstream: upstream.socket,
      parser: this.parser,
      queued: this.queued,
      session,
      pipeline,
      logger,
      onEnd: () => {
        this.ctx.cancelKeys.release(key.processId);
        this.ctx.sessions.delete(proxy);
      },
      cancelUpstream: () => this.ctx.cancelKeys.cancelUpstream(key.processId, logger),
    });
    this.ctx.cancelKeys.intercept(key.processId, () => proxy.cancelHeld());
    this.ctx.sessions.add(proxy);
    proxy.start();
  }

  /** What a login asks for, as the pipeline records it: the database name selects the connection. */
  private loginRequest() {
    const params = this.startup?.parameters ?? {};
    return {
      connection: params['database'] ?? params['user'] ?? '',
      type: 'postgres' as const,
      protocol: 'postgres',
      clientAddr: this.clientAddr,
      line: { kind: 'sql.query' as const, method: null, target: null },
    };
  }

  /** A login refused by the adapter itself (a protocol option it cannot honour): recorded, then failed. */
  private refuse(error: GatewayError): void {
    if (this.state === State.Done) return;
    // Nothing the client sends while the refusal is recorded is read.
    this.state = State.Done;
    void this.ctx.pipeline.refuseLogin(this.loginRequest(), error).then((e) => this.end(e));
  }

  private forwardedParameters(): Readonly<Record<string, string>> {
    return this.settings!.forward;
  }

  /** Ends the connection without a word, as PostgreSQL ends one whose first bytes are not a packet at all. */
  private close(error: ProtocolError): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    clearTimeout(this.timer);
    this.ctx.logger.debug({ code: error.code, client: this.clientAddr }, `postgres connection closed before startup: ${error.message}`);
    this.socket.destroy();
  }

  /** A FATAL ErrorResponse and a closed socket, as PostgreSQL ends a login it refuses. */
  private fail(error: GatewayError): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    this.end(error);
  }

  private end(error: GatewayError): void {
    clearTimeout(this.timer);
    this.ctx.logger.debug({ code: error.code, client: this.clientAddr }, `postgres login refused: ${error.message}`);
    const socket = this.socket;
    if (socket.writable) socket.end(this.writer.errorResponse(errorFields(error, 'FATAL')).flush());
    socket.destroySoon();
  }
}

function missing(name: string): never {
  throw new UnknownConnection(`connection "${name}" was removed`);
}

function isLoopback(address: string | null): boolean {
  if (address === null) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
