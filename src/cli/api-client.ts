import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { AuthError, GatewayError, InternalError, isErrorCode, UpstreamError, type GatewayErrorOptions } from '../errors.ts';
import { readLoginToken, sameGateway } from './credentials-file.ts';

export interface ClientSettings {
  readonly url: string;
  readonly token: string | undefined;
  /** When the session `gatehouse login` kept for this gateway ran out (and nothing else stands in). */
  readonly loginExpiredAt?: number;
}

export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'gatehouse', 'cli.json');
}

async function savedSettings(env: NodeJS.ProcessEnv): Promise<Partial<ClientSettings>> {
  try {
    return JSON.parse(await readFile(cliConfigPath(env), 'utf8')) as Partial<ClientSettings>;
  } catch {
    // No saved login: environment or defaults.
    return {};
  }
}

/** GATEHOUSE_URL, else the URL `gatehouse login --url` saved, else the local default. */
export async function gatewayUrl(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return env.GATEHOUSE_URL || (await savedSettings(env)).url || 'http://127.0.0.1:8080';
}

/**
 * GATEHOUSE_TOKEN wins; else the session `gatehouse login` kept for this gateway while it lasts;
 * else an admin token saved with `--token-stdin`, only ever sent to the gateway it was saved for.
 */
export async function clientSettings(env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now): Promise<ClientSettings> {
  const saved = await savedSettings(env);
  const url = env.GATEHOUSE_URL || saved.url || 'http://127.0.0.1:8080';
  if (env.GATEHOUSE_TOKEN) return { url, token: env.GATEHOUSE_TOKEN };
  const login = await readLoginToken(url, env, now);
  if (login.token) return { url, token: login.token };
  const kept = saved.token && saved.url && sameGateway(saved.url, url) ? saved.token : undefined;
  return { url, token: kept, ...(login.expiredAt === undefined ? {} : { loginExpiredAt: login.expiredAt }) };
}

export async function saveLogin(settings: ClientSettings, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = cliConfigPath(env);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(settings, null, 2), { mode: 0o600 });
  return file;
}

/**
 * An error the gateway's API sent back, rebuilt with the code it named. It is the one place a code
 * arrives as data rather than from a failure of our own, so it takes any code; one the CLI does
 * not know (a newer gateway) becomes `internal`.
 */
export class ApiError extends GatewayError {
  constructor(code: unknown, message: string, options: GatewayErrorOptions = {}) {
    super(isErrorCode(code) ? code : 'internal', message, options);
  }
}

/** Calls the admin API; errors come back as an ApiError with the code the server sent. */
export async function callApi<T>(settings: ClientSettings, method: string, path: string, body?: unknown, bearer = settings.token): Promise<T> {
  if (bearer === undefined && settings.loginExpiredAt !== undefined) {
    throw new AuthError('auth_expired', `your sign-in to ${settings.url} expired at ${new Date(settings.loginExpiredAt).toISOString()}; run gatehouse login`);
  }
  let response: Response;
  try {
    response = await fetch(new URL(`/api/v1${path}`, settings.url), {
      method,
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new UpstreamError('upstream_unreachable', `cannot reach the gateway at ${settings.url} (set GATEHOUSE_URL or run gatehouse login)`, { cause: err });
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InternalError(`the gateway answered ${response.status} with a non-JSON body`);
  }
  if (!response.ok) {
    const details = json?.error?.gatehouse;
    throw new ApiError(json?.error?.code, json?.error?.message ?? `HTTP ${response.status}`, {
      details: details !== null && typeof details === 'object' ? details : undefined,
    });
  }
  return json as T;
}
