/**
 * The gateway's own login to the upstream database: TLS as the connection URL's sslmode asks,
 * then cleartext, md5 or SCRAM-SHA-256(-PLUS) with the gateway-held credential. SCRAM is pg's
 * own implementation (pg/lib/crypto/sasl.js); server messages are parsed by pg-protocol. The
 * agent never sees the credential: it only ever talks to the gateway's side of the session.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { ConfigError, InvalidArgument, UpstreamError } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import { passwordMessage, saslInitialResponse, saslResponse, startupMessage, terminateMessage, cancelRequest } from './frontend-writer.ts';

interface ScramSession {
  mechanism: string;
  response: string;
}
interface SaslModule {
  startSession(mechanisms: string[], stream?: unknown): ScramSession;
  continueSession(session: ScramSession, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: ScramSession, serverData: string): void;
}
const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as SaslModule;

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_STARTUP_PACKET = 10_000;

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly sslmode: SslMode;
  readonly ca: Buffer | undefined;
}

export interface UpstreamSession {
  /** The authenticated socket (a TLSSocket when TLS was negotiated), idle after ReadyForQuery. */
  readonly socket: Socket;
  /** Every ParameterStatus the server sent during login, in order. */
  readonly parameters: ReadonlyArray<readonly [string, string]>;
  readonly processId: number;
  readonly secretKey: number;
}

/** Reads host, port, database, sslmode and sslrootcert from a postgres:// URL and the basic credential. */
export function upstreamTarget(connection: Connection): UpstreamTarget {
  const url = connection.upstream;
  const credential = connection.credential;
  if (credential === undefined || credential.type !== 'basic') {
    throw new ConfigError(`connection "${connection.name}" has no basic credential (username and password) for its database`);
  }
  const sslmode = (url.searchParams.get('sslmode') ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(sslmode)) throw new ConfigError(`connection "${connection.name}": unknown sslmode "${sslmode}"`);
  const rootCert = url.searchParams.get('sslrootcert');
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port ? Number(url.port) : 5432,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || credential.username,
    user: credential.username,
    password: credential.value,
    sslmode,
    ca: rootCert ? readFileSync(rootCert) : undefined,
  };
}

/**
 * Opens and authenticates one upstream session. `startupParameters` are the client's settings as
 * startup-parameters.ts let them through; user, database and client_encoding are the gateway's.
 */
export async function connectUpstream(
  target: UpstreamTarget,
  startupParameters: Readonly<Record<string, string>>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<UpstreamSession> {
  const socket = await openSocket(target, timeoutMs);
  try {
    return await login(socket, target, startupParameters, timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Asks the upstream to cancel what its backend `processId` is running, on a connection of its own. */
export async function sendUpstreamCancel(target: UpstreamTarget, processId: number, secretKey: number): Promise<void> {
  const socket = await openSocket(target, DEFAULT_TIMEOUT_MS);
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(cancelRequest(processId, secretKey));
  });
}

function unreachable(target: UpstreamTarget, why: string, cause?: unknown): UpstreamError {
  return new UpstreamError('upstream_unreachable', `could not reach the database at ${target.host}:${target.port}: ${why}`, { cause });
}

async function openSocket(target: UpstreamTarget, timeoutMs: number): Promise<Socket> {
  const plain = await new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(unreachable(target, 'connection timed out')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof UpstreamError ? err : unreachable(target, (err as Error).message, err));
    });
  });
  if (target.sslmode === 'disable') return plain;
  const answer = await exchangeByte(plain, SSL_REQUEST, target, timeoutMs);
  if (answer === 0x4e /* N */) {
    plain.destroy();
    if (target.sslmode === 'allow' || target.sslmode === 'prefer') return openPlain(target, timeoutMs);
    throw unreachable(target, `the server refused TLS, which sslmode=${target.sslmode} requires`);
  }
  if (answer !== 0x53 /* S */) {
    plain.destroy();
    throw unreachable(target, 'the server answered the TLS request with something else than S or N');
  }
  return upgrade(plain, target, timeoutMs);
}

/** After a refused SSLRequest, PostgreSQL expects the StartupMessage on the same connection; a fresh one is simpler to reason about. */
function openPlain(target: UpstreamTarget, timeoutMs: number): Promise<Socket> {
  return openSocket({ ...target, sslmode: 'disable' }, timeoutMs);
}

function exchangeByte(socket: Socket, request: Buffer, target: UpstreamTarget, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(unreachable(target, 'no answer to the TLS request')), timeoutMs);
    const onData = (chunk: Buffer) => {
      // a server must not send anything after its one-byte answer before the handshake (CVE-2021-23222)
      if (chunk.length !== 1) return done(unreachable(target, 'unexpected data after the TLS answer'));
      done(null, chunk[0]!);
    };
    const onError = (err: Error) => done(unreachable(target, err.message, err));
    const onClose = () => done(unreachable(target, 'connection closed during the TLS request'));
    function done(err: Error | null, value?: number) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(value!);
    }
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(request);
  });
}

function upgrade(plain: Socket, target: UpstreamTarget, timeoutMs: number): Promise<TLSSocket> {
  const verify = target.sslmode === 'verify-ca' || target.sslmode === 'verify-full' || (target.sslmode === 'require' && target.ca !== undefined);
  const options: ConnectionOptions = {
    socket: plain,
    servername: /^[\d.]+$|:/.test(target.host) ? undefined : target.host,
    rejectUnauthorized: verify,
    ca: target.ca,
    // verify-ca checks the chain only; libpq does the same when sslmode=require has a root cert
    ...(target.sslmode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  };
  return new Promise((resolve, reject) => {
    const tls = tlsConnect(options);
    const timer = setTimeout(() => tls.destroy(unreachable(target, 'TLS handshake timed out')), timeoutMs);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.off('error', onError);
      resolve(tls);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err instanceof UpstreamError ? err : unreachable(target, `TLS: ${err.message}`, err));
    };
    tls.once('error', onError);
  });
}

/** Runs the startup and authentication exchange until the server's first ReadyForQuery. */
function login(socket: Socket, target: UpstreamTarget, startupParameters: Readonly<Record<string, string>>, timeoutMs: number): Promise<UpstreamSession> {
  return new Promise((resolve, reject) => {
    const parser = new Parser();
    const parameters: [string, string][] = [];
    let processId = 0;
    let secretKey = 0;
    let scram: ScramSession | null = null;
    let settled = false;
    const timer = setTimeout(() => fail(unreachable(target, 'login timed out')), timeoutMs);

    function finish(err: Error | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) return reject(err);
      socket.pause();
      resolve({ socket, parameters, processId, secretKey });
    }
    const fail = (err: Error) => finish(err);
    const onError = (err: Error) => fail(unreachable(target, err.message, err));
    const onClose = () => fail(unreachable(target, 'the server closed the connection during login'));
    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, (msg) => void handle(msg).catch(fail));
      } catch (err) {
        fail(unreachable(target, `unreadable login reply: ${(err as Error).message}`, err));
      }
    };

    async function handle(msg: BackendMessage): Promise<void> {
      const m = msg as BackendMessage & Record<string, any>;
      switch (msg.name) {
        case 'authenticationCleartextPassword':
          socket.write(passwordMessage(target.password));
          return;
        case 'authenticationMD5Password':
          socket.write(passwordMessage(md5Password(target.user, target.password, m.salt as Buffer)));
          return;
        case 'authenticationSASL':
          scram = sasl.startSession(m.mechanisms as string[], isTls(socket) ? socket : undefined);
          socket.write(saslInitialResponse(scram.mechanism, scram.response));
          return;
        case 'authenticationSASLContinue':
          if (!scram) throw unreachable(target, 'SASL continue without a SASL start');
          await sasl.continueSession(scram, target.password, m.data as string, isTls(socket) ? socket : undefined);
          socket.write(saslResponse(scram.response));
          return;
        case 'authenticationSASLFinal':
          if (!scram) throw unreachable(target, 'SASL final without a SASL start');
          // verifies the server's signature: a server that does not know the password cannot pose as ours
          sasl.finalizeSession(scram, m.data as string);
          return;
        case 'authenticationOk':
          return;
        case 'parameterStatus':
          parameters.push([m.parameterName as string, m.parameterValue as string]);
          return;
        case 'backendKeyData':
          processId = m.processID as number;
          secretKey = m.secretKey as number;
          return;
        case 'readyForQuery':
          finish(null);
          return;
        case 'notice':
          return;
        case 'error':
          if (refusesClientSetting(m.code as string | undefined, String(m.message), startupParameters)) {
            throw new InvalidArgument(`the database refused a startup setting: ${String(m.message)} (SQLSTATE ${String(m.code)})`);
          }
          throw new UpstreamError(
            'upstream_unreachable',
            `the database refused the gateway's login: ${String(m.message)}${m.code ? ` (SQLSTATE ${String(m.code)})` : ''}`,
          );
        default:
          throw unreachable(target, `unexpected ${msg.name} during login`);
      }
    }

    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.resume();
    const startup = startupMessage({ ...startupParameters, user: target.user, database: target.database, client_encoding: 'UTF8' });
    // PostgreSQL closes without a word on a longer packet (MAX_STARTUP_PACKET_LENGTH): say why instead
    if (startup.length - 4 > MAX_STARTUP_PACKET) {
      return fail(new InvalidArgument(`the startup settings are too long for the database (${startup.length} bytes with the gateway's own, at most ${MAX_STARTUP_PACKET}); SET the long ones after connecting`));
    }
    socket.write(startup);
  });
}

/**
 * SQLSTATEs PostgreSQL gives a startup setting it will not take: unknown name, bad value, not
 * settable now, not by this role. Each message names the parameter; a refusal of the gateway's own
 * login (password, database) does not, and stays an upstream error.
 */
const SETTING_REFUSALS = new Set(['42704', '22023', '55P02', '42501', '22P02']);

function refusesClientSetting(code: string | undefined, message: string, startupParameters: Readonly<Record<string, string>>): boolean {
  if (code === undefined || !SETTING_REFUSALS.has(code)) return false;
  const named = /parameter "([^"]*)"/.exec(message)?.[1];
  return named !== undefined && Object.keys(startupParameters).some((k) => k === named.toLowerCase() || k === named);
}

function isTls(socket: Socket): socket is TLSSocket {
  return 'encrypted' in socket && (socket as TLSSocket).encrypted === true;
}

function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
}

export { terminateMessage };
