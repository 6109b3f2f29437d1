import { lstat, mkdir, chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';

/**
 * What `gatehouse login` keeps: one API token per gateway, with its expiry. The file holds live
 * credentials, so it is written 0600 in a 0700 folder, replaced atomically (a reader never sees
 * half a file, a symlink put in its place is replaced rather than followed), and refused when
 * other users could read it.
 */

const Entry = z.object({
  token: z.string().regex(/^gta_[0-9A-Za-z_-]{8,256}$/),
  expiresAt: z.number().finite(),
  principal: z.string().max(512),
  issuer: z.string().max(256),
  savedAt: z.number().finite(),
});
export type StoredLogin = z.infer<typeof Entry>;

const File = z.object({ version: z.literal(1), gateways: z.record(z.string(), Entry) });
type CredentialsFile = z.infer<typeof File>;

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec ignores a relative XDG_CONFIG_HOME; so do we, rather than write secrets under the cwd.
  const base = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'gatehouse', 'credentials.json');
}

/**
 * One key per gateway whichever way its URL was typed (`HTTP://Host:80/` and `http://host`), so a
 * token is only ever sent to the gateway that issued it.
 */
export function gatewayKey(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the gateway URL ${JSON.stringify(url)} is not a URL (set GATEHOUSE_URL, e.g. https://gatehouse.example.com)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`the gateway URL must be http(s), not ${parsed.protocol}`);
  if (parsed.username || parsed.password) throw new Error('the gateway URL must not carry a user name or password');
  if (parsed.search || parsed.hash) throw new Error('the gateway URL must not carry a query or fragment');
  return parsed.origin + parsed.pathname.replace(/\/+$/, '');
}

export function sameGateway(a: string, b: string): boolean {
  try {
    return gatewayKey(a) === gatewayKey(b);
  } catch {
    return false;
  }
}

async function load(file: string): Promise<CredentialsFile> {
  let info;
  try {
    info = await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, gateways: {} };
    throw err;
  }
  if (!info.isFile()) throw new Error(`${file} is not a regular file; remove it and run gatehouse login`);
  if (process.platform !== 'win32') {
    if ((info.mode & 0o077) !== 0) {
      throw new Error(`${file} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${file}, or gatehouse logout and gatehouse login`);
    }
    if (typeof process.getuid === 'function' && info.uid !== process.getuid()) throw new Error(`${file} belongs to another user; remove it and run gatehouse login`);
  }
  const parsed = File.safeParse(safeJson(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a credentials file this version understands; remove it and run gatehouse login`);
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function store(file: string, data: CredentialsFile): Promise<void> {
  const dir = join(file, '..');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir keeps an existing folder's mode; the folder holds secrets, so tighten it.
  if (process.platform !== 'win32') await chmod(dir, 0o700);
  const temp = join(dir, `.credentials.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export async function saveLoginToken(url: string, entry: StoredLogin, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = credentialsPath(env);
  const data: CredentialsFile = await load(file).catch(() => ({ version: 1, gateways: {} }));
  data.gateways[gatewayKey(url)] = Entry.parse(entry);
  await store(file, data);
  return file;
}

/** Forgets the token kept for this gateway; true when there was one. */
export async function removeLoginToken(url: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = credentialsPath(env);
  const data = await load(file).catch(() => null);
  if (data === null) {
    // A file we cannot read is one we cannot keep either: logging out removes it.
    await rm(file, { force: true });
    return true;
  }
  const key = gatewayKey(url);
  if (!Object.hasOwn(data.gateways, key)) return false;
  delete data.gateways[key];
  await store(file, data);
  return true;
}

/** The kept token for this gateway: usable, expired (when), or none. */
export async function readLoginToken(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  now: () => number = Date.now,
): Promise<{ readonly token?: string; readonly entry?: StoredLogin; readonly expiredAt?: number }> {
  const data = await load(credentialsPath(env));
  const key = gatewayKey(url);
  const entry = Object.hasOwn(data.gateways, key) ? data.gateways[key] : undefined;
  if (!entry) return {};
  if (entry.expiresAt <= now()) return { expiredAt: entry.expiresAt };
  return { token: entry.token, entry };
}
