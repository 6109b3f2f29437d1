/**
 * What the `gatehouse login` tests need around the shared test IdP (test/support/oidc-provider.ts):
 * the CLI as a child process whose output a test can wait on, a gateway that trusts the IdP, denying
 * a device code at the IdP (the shared file only approves), and one extra IdP whose device codes
 * expire at once, so "expired" is the IdP's own answer rather than a timer in the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.ts';
import type { TestOidcProvider } from './oidc-provider.ts';

const MAIN = resolve('src/cli/main.ts');

export interface CliRun {
  readonly child: ChildProcess;
  /** Resolves with the first match of `pattern` in stdout+stderr so far or to come; rejects if the process ends first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `node --import tsx src/cli/main.ts …` with only the environment given (no developer GATEHOUSE_* settings, no display). */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): CliRun {
  const base: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GATEHOUSE_') && !key.startsWith('SSH_') && key !== 'DISPLAY' && key !== 'WAYLAND_DISPLAY') base[key] = value;
  }
  return runProcess(process.execPath, ['--import', 'tsx', MAIN, ...args], { ...base, ...env });
}

/** Any command, its output watched as it comes (a shell running documented commands, for one). */
export function runProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): CliRun {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (d) => ((stdout += d), notify()));
  child.stderr!.on('data', (d) => ((stderr += d), notify()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveDone) =>
    child.once('close', (code, signal) => {
      resolveDone({ code, signal, stdout, stderr });
      notify();
    }),
  );
  let ended = false;
  void done.then(() => (ended = true));
  return {
    child,
    done,
    waitFor: (pattern) =>
      new Promise((resolveMatch, reject) => {
        const check = () => {
          const match = (stdout + stderr).match(pattern);
          if (match) {
            waiters.delete(check);
            resolveMatch(match);
          } else if (ended || child.exitCode !== null) {
            waiters.delete(check);
            reject(new Error(`the CLI ended before printing ${pattern}:\n--- stdout\n${stdout}--- stderr\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

/** A gateway whose identity.oidc trusts these issuers (named corp, then corp2 …), with `admins` mapped to admin. */
export async function startLoginGateway(issuers: readonly { issuer: string; clientId: string; name?: string }[], options: TestGatewayOptions = {}): Promise<TestGateway> {
  const list = issuers
    .map(
      (idp, i) => `
      - name: ${idp.name ?? (i === 0 ? 'corp' : `corp${i + 1}`)}
        issuer: ${idp.issuer}
        clientId: ${idp.clientId}
        scopes: [openid, profile, email, groups]`,
    )
    .join('');
  return startTestGateway({
    ...options,
    extraYaml: `
identity:
  oidc:
    issuers:${list}
    sessionTtl: 1h
  roles:
    - group: admins
      role: admin
${options.extraYaml ?? ''}`,
  });
}

/** Just enough of a browser for the IdP's device pages: cookies kept, redirects not followed. */
class Jar {
  private readonly cookies = new Map<string, string>();
  async fetch(url: string, form?: Record<string, string>): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const at = pair.indexOf('=');
      this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    return res;
  }
}

function hidden(html: string, name: string): string {
  const value = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
  if (value === undefined) throw new Error(`no ${name} field in the IdP's page`);
  return value;
}

/** The person presses "abort" on the IdP's confirmation page for this user code. */
export async function denyDevice(idp: Pick<TestOidcProvider, 'issuer'>, userCode: string): Promise<void> {
  const jar = new Jar();
  const xsrf = hidden(await (await jar.fetch(`${idp.issuer}/device`)).text(), 'xsrf');
  const confirm = await (await jar.fetch(`${idp.issuer}/device`, { xsrf, user_code: userCode })).text();
  if (!confirm.includes('op.deviceConfirmForm')) throw new Error(`the IdP did not accept user code ${userCode}`);
  const aborted = await jar.fetch(`${idp.issuer}/device`, { xsrf: hidden(confirm, 'xsrf'), user_code: userCode, abort: 'yes' });
  await aborted.body?.cancel();
}

/**
 * A second IdP whose device codes are already expired when first polled: each lives one second,
 * while the answer tells the client it has ten minutes and may poll every second. The client's
 * first poll (after that second) gets the IdP's own `expired_token`.
 */
export async function startExpiringDeviceIdp(): Promise<{ issuer: string; clientId: string; close(): Promise<void> }> {
  const clientId = 'gatehouse-cli-expiring';
  const server: Server = createServer((req, res) => provider.callback()(req, res));
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', () => ready()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider: Provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
      },
    ],
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true } },
    // Kept in storage well past their expiry, so a poll finds the code and answers expired_token.
    adapter: createMemoryAdapter(120),
    ttl: { DeviceCode: 1 },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  });
  (provider as unknown as { use(mw: (ctx: any, next: () => Promise<void>) => Promise<void>): void }).use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.body && typeof ctx.body === 'object') Object.assign(ctx.body, { expires_in: 600, interval: 1 });
  });
  return {
    issuer,
    clientId,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
