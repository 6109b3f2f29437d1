import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { ApiError, callApi, cliConfigPath, gatewayUrl, saveLogin, type ClientSettings } from './api-client.ts';
import { gatewayKey, removeLoginToken, sameGateway, saveLoginToken } from './credentials-file.ts';
import { browserFlow, canOpenBrowser, deviceFlow, isLoopbackHost, printable, type FlowIo } from './oidc-flows.ts';
import { time } from './output.ts';

type Print = (text: string) => void;

// Loaded when a sign-in runs: the other commands need not pay for openid-client.
const openidClient = () => import('openid-client');

/** GET /api/v1/login/config, checked: the gateway's answer chooses where the person is sent. */
const LoginConfig = z.object({
  issuers: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
        issuer: z.string().max(2048),
        clientId: z.string().regex(/^[\x21-\x7e]{1,512}$/),
        // RFC 6749 §3.3 scope-token characters.
        scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/)).max(50).default([]),
      }),
    )
    .max(100),
});
type IssuerEntry = z.infer<typeof LoginConfig>['issuers'][number];

const LoginResult = z.object({
  token: z.string().regex(/^gta_[0-9A-Za-z_-]{8,256}$/),
  expiresAt: z.union([z.number().finite(), z.string().datetime({ offset: true }).transform((s) => Date.parse(s))]),
  principal: z.object({ name: z.string().min(1).max(512), groups: z.array(z.string().max(512)).max(1000).default([]) }),
});

const BROWSER_TIMEOUT_MS = 5 * 60_000;

interface LoginOptions {
  url?: string;
  issuer?: string;
  device?: boolean;
  browser?: boolean;
  open: boolean;
  tokenStdin?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function savedDefaults(): Promise<{ url?: string; token?: string }> {
  try {
    return JSON.parse(await readFile(cliConfigPath(), 'utf8')) as { url?: string; token?: string };
  } catch {
    return {};
  }
}

/** `--url` becomes the default gateway of later commands; a token kept for another gateway is dropped, never re-aimed. */
async function rememberUrl(url: string, token?: string): Promise<void> {
  const saved = await savedDefaults();
  const keep = saved.url && saved.token && sameGateway(saved.url, url) ? saved.token : undefined;
  await saveLogin({ url, token: token ?? keep });
}

function pickIssuer(issuers: readonly IssuerEntry[], wanted: string | undefined): IssuerEntry {
  const names = issuers.map((i) => i.name).join(', ');
  if (wanted !== undefined) {
    const found = issuers.find((i) => i.name === wanted);
    if (!found) throw new Error(`this gateway has no issuer named ${JSON.stringify(printable(wanted, 64))} (it has: ${names || 'none'})`);
    return found;
  }
  if (issuers.length === 1) return issuers[0]!;
  if (issuers.length === 0) throw new Error('this gateway has no identity provider to sign in with (identity.oidc.issuers in its config)');
  throw new Error(`this gateway trusts several identity providers; choose one with --issuer (${names})`);
}

/** https, or http when issuer and gateway are both on this machine (a local test IdP). */
export function checkIssuer(entry: Pick<IssuerEntry, 'name' | 'issuer'>, gateway: URL): { url: URL; insecure: boolean } {
  let url: URL;
  try {
    url = new URL(entry.issuer);
  } catch {
    throw new Error(`the gateway names issuer ${entry.name} with an address that is not a URL`);
  }
  if (url.username || url.password || url.search || url.hash) throw new Error(`the gateway names issuer ${entry.name} with credentials, a query or a fragment in its address`);
  if (url.protocol === 'https:') return { url, insecure: false };
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname) && isLoopbackHost(gateway.hostname)) return { url, insecure: true };
  throw new Error(`the gateway names issuer ${entry.name} at ${printable(url.origin)}, which is not https; refusing to sign in through it`);
}

async function oidcLogin(opts: LoginOptions, settings: ClientSettings, print: Print, json: boolean): Promise<void> {
  const gateway = new URL(gatewayKey(settings.url));
  if (gateway.protocol !== 'https:' && !isLoopbackHost(gateway.hostname)) {
    throw new Error(`signing in sends your identity token to the gateway, so it needs https (GATEHOUSE_URL is ${gateway.origin})`);
  }
  const anonymous: ClientSettings = { url: settings.url, token: undefined };
  const config = LoginConfig.safeParse(await callApi<unknown>(anonymous, 'GET', '/login/config'));
  if (!config.success) throw new Error('the gateway sent a sign-in configuration this CLI cannot use; nothing was saved');
  const entry = pickIssuer(config.data.issuers, opts.issuer);
  const { url: issuer, insecure } = checkIssuer(entry, gateway);
  const scope = [...new Set(['openid', ...entry.scopes])].join(' ');

  const oidc = await openidClient();
  let discovered;
  try {
    discovered = await oidc.discovery(issuer, entry.clientId, undefined, oidc.None(), { execute: insecure ? [oidc.allowInsecureRequests] : [], timeout: 30 });
  } catch (err) {
    throw new Error(`cannot discover the identity provider ${entry.name} at ${issuer.href} (${printable((err as Error).message)})`);
  }

  const cancel = new AbortController();
  const onInterrupt = () => cancel.abort(new Error('login cancelled'));
  process.once('SIGINT', onInterrupt);
  const io: FlowIo = { say: (text) => process.stderr.write(`${text}\n`), cancel: cancel.signal };
  const complete = async (idToken: string) => {
    const result = await exchange(anonymous, entry.name, idToken);
    const file = await saveLoginToken(settings.url, {
      token: result.token,
      expiresAt: result.expiresAt,
      principal: result.principal.name,
      issuer: entry.name,
      savedAt: Date.now(),
    });
    if (opts.url) await rememberUrl(opts.url);
    const who = printable(result.principal.name, 128);
    const groups = result.principal.groups.map((g) => printable(g, 128));
    print(
      json
        ? JSON.stringify({ gateway: gatewayKey(settings.url), issuer: entry.name, principal: who, groups, expiresAt: result.expiresAt, saved: file }, null, 2)
        : `logged in to ${gatewayKey(settings.url)} as ${who}${groups.length ? ` (groups: ${groups.join(', ')})` : ''} through ${entry.name}; ` +
            `the session expires ${time(result.expiresAt)} and is kept in ${file}`,
    );
  };
  try {
    const useDevice = opts.device || (!opts.browser && !canOpenBrowser());
    if (useDevice) await complete(await deviceFlow(discovered, scope, io, insecure));
    else await browserFlow(discovered, scope, io, { open: opts.open, timeoutMs: BROWSER_TIMEOUT_MS, allowHttpLoopback: insecure }, complete);
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

/** Trades the ID token for a gta_ token; an error the gateway sends back never carries the ID token onward. */
async function exchange(anonymous: ClientSettings, issuer: string, idToken: string): Promise<z.infer<typeof LoginResult>> {
  let raw: unknown;
  try {
    raw = await callApi<unknown>(anonymous, 'POST', '/login/oidc', { issuer, idToken });
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(err.code, `the gateway refused the sign-in: ${printable(err.message.split(idToken).join('[ID token]'))}`);
    throw err;
  }
  const result = LoginResult.safeParse(raw);
  if (!result.success || !(result.data.expiresAt > Date.now())) throw new Error('the gateway answered the sign-in with something this CLI cannot use; nothing was saved');
  return result.data;
}

/** The older way in: an admin token pasted on stdin, kept in cli.json for later commands. */
async function tokenLogin(opts: LoginOptions, print: Print, json: boolean): Promise<void> {
  const url = opts.url ?? (await gatewayUrl());
  const settings = { url, token: await readStdin() };
  const who = await callApi<{ principal: { name: string } }>(settings, 'GET', '/whoami');
  const file = await saveLogin(settings);
  const name = printable(who.principal.name, 128);
  print(json ? JSON.stringify({ saved: file, principal: name }, null, 2) : `logged in as ${name}; saved to ${file}`);
}

export function loginCommands(print: Print): Command[] {
  const login = new Command('login')
    .description('sign in to the gateway with your identity provider and keep a session token for later commands')
    .option('--url <url>', 'gateway URL (default: GATEHOUSE_URL); becomes the default of later commands')
    .option('--issuer <name>', 'which identity provider, when the gateway trusts several')
    .addOption(new Option('--device', 'sign in with a code on another device (the default without a browser: over SSH, or no DISPLAY)').conflicts('browser'))
    .addOption(new Option('--browser', 'sign in in a browser on this machine (the default on a desktop)').conflicts('device'))
    .option('--no-open', 'print the sign-in address instead of opening a browser')
    .addOption(new Option('--token-stdin', 'instead of signing in, keep an admin token read from standard input (in cli.json)').conflicts(['device', 'browser', 'issuer']))
    .addHelpText(
      'after',
      `
Two ways to sign in, both with the identity provider the gateway names (GET /api/v1/login/config):
  --browser  authorization code with PKCE: a browser on this machine signs you in and comes back to
             http://127.0.0.1:<free port>/callback, a one-shot listener this command runs for 5 minutes.
  --device   device authorization: the command prints an address and a code; open it on any device
             (your phone, your laptop when this is an SSH session), approve, and it finishes here.
The gateway checks the ID token and answers with a session token (gta_), kept per gateway in
$XDG_CONFIG_HOME/gatehouse/credentials.json (~/.config/gatehouse/credentials.json), mode 0600, until it
expires; no token is ever printed. Commands use GATEHOUSE_TOKEN when it is set, else that session.
gatehouse logout forgets it.`,
    )
    .action(async (opts: LoginOptions, command: Command) => {
      const json = Boolean(command.optsWithGlobals().json);
      if (opts.tokenStdin) return tokenLogin(opts, print, json);
      const settings = { url: opts.url ?? (await gatewayUrl()), token: undefined };
      return oidcLogin(opts, settings, print, json);
    });

  const logout = new Command('logout')
    .description('forget the session token `gatehouse login` kept for the gateway')
    .option('--url <url>', 'gateway URL (default: GATEHOUSE_URL)')
    .action(async (opts: { url?: string }, command: Command) => {
      const url = opts.url ?? (await gatewayUrl());
      const removed = await removeLoginToken(url);
      // A token kept with --token-stdin for the same gateway goes too: logging out means no saved credential.
      const saved = await savedDefaults();
      const legacy = Boolean(saved.url && saved.token && sameGateway(saved.url, url));
      if (legacy) await saveLogin({ url: saved.url!, token: undefined });
      const key = gatewayKey(url);
      const json = Boolean(command.optsWithGlobals().json);
      print(json ? JSON.stringify({ gateway: key, removed: removed || legacy }) : removed || legacy ? `logged out of ${key}` : `no saved sign-in for ${key}`);
    });

  return [login, logout];
}
