import { spawn } from 'node:child_process';
import * as oidc from 'openid-client';
import { listenForCallback } from './loopback-callback.ts';

/**
 * The two ways a person signs in from a terminal, both run by openid-client against the issuer the
 * gateway names: the device authorization grant (RFC 8628), for a terminal without a browser, and
 * authorization code with PKCE on a loopback redirect (RFC 8252). Either ends with an ID token that
 * `complete` trades at the gateway; nothing here prints a token.
 */

export interface FlowIo {
  /** Instructions for the person at the terminal (stderr, so --json output stays clean). */
  readonly say: (text: string) => void;
  /** Ctrl-C. */
  readonly cancel: AbortSignal;
}

/** Shown text from an identity provider or a gateway: no control characters, bounded. */
export function printable(text: string, max = 200): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A URL from the issuer that the person is sent to: https, or http on loopback for a local issuer. */
function pageUrl(value: unknown, what: string, allowHttpLoopback: boolean): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' && value.length <= 2048 ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  const ok = url && !url.username && !url.password && (url.protocol === 'https:' || (allowHttpLoopback && url.protocol === 'http:' && isLoopbackHost(url.hostname)));
  if (!url || !ok) throw new Error(`the identity provider sent an unusable ${what}; nothing was saved`);
  return url;
}

/** Why a flow ended without a token, in words a person can act on. */
export function flowError(err: unknown, cancel: AbortSignal, timedOut: AbortSignal): Error {
  if (cancel.aborted) return new Error('login cancelled; nothing was saved');
  if (timedOut.aborted) return new Error('the sign-in was not completed in time; nothing was saved. Run gatehouse login again');
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    const said = err.error_description ? ` (${printable(err.error_description)})` : '';
    if (err.error === 'access_denied') return new Error(`the sign-in was denied at the identity provider${said}; nothing was saved`);
    if (err.error === 'expired_token') return new Error('the code expired before it was approved; nothing was saved. Run gatehouse login again');
    return new Error(`the identity provider refused the sign-in: ${printable(err.error, 64)}${said}; nothing was saved`);
  }
  if (err instanceof oidc.ClientError) {
    const detail = err.cause instanceof Error ? `: ${printable(err.cause.message)}` : '';
    return new Error(`the identity provider's answer was refused (${printable(err.message)}${detail}); nothing was saved`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export async function deviceFlow(config: oidc.Configuration, scope: string, io: FlowIo, allowHttpLoopback: boolean): Promise<string> {
  const started = await oidc.initiateDeviceAuthorization(config, { scope });
  if (typeof started.user_code !== 'string' || !/^[A-Za-z0-9-]{1,32}$/.test(started.user_code)) {
    throw new Error('the identity provider sent an unusable user code; nothing was saved');
  }
  const page = pageUrl(started.verification_uri, 'verification address', allowHttpLoopback);
  const complete = started.verification_uri_complete === undefined ? undefined : pageUrl(started.verification_uri_complete, 'verification address', allowHttpLoopback);
  const minutes = Math.max(1, Math.round(started.expires_in / 60));
  io.say(
    [
      complete ? `To sign in, open ${complete.href}\n(or go to ${page.href} and enter the code ${started.user_code})` : `To sign in, go to ${page.href} and enter the code ${started.user_code}`,
      `Waiting for approval; the code expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Ctrl-C cancels.`,
    ].join('\n'),
  );
  // openid-client stops at expires_in unless given a signal; with Ctrl-C as one, keep that bound.
  const timedOut = AbortSignal.timeout(Math.min(started.expires_in, 3600) * 1000);
  try {
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.any([io.cancel, timedOut]) });
    return idTokenOf(tokens);
  } catch (err) {
    throw flowError(err, io.cancel, timedOut);
  }
}

export interface BrowserOptions {
  readonly open: boolean;
  readonly timeoutMs: number;
  readonly allowHttpLoopback: boolean;
}

/** Authorization code + PKCE (S256) + state + nonce on a one-shot loopback listener; `complete` runs before the browser is answered. */
export async function browserFlow(config: oidc.Configuration, scope: string, io: FlowIo, options: BrowserOptions, complete: (idToken: string) => Promise<void>): Promise<void> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const timedOut = AbortSignal.timeout(options.timeoutMs);
  const callback = await listenForCallback(state, AbortSignal.any([io.cancel, timedOut]));
  let ok = false;
  try {
    const authorize = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback.redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const href = pageUrl(authorize.href, 'authorization address', options.allowHttpLoopback).href;
    const opened = options.open && openBrowser(href);
    io.say(`${opened ? 'Your browser was opened to sign in. If it did not open, go to' : 'To sign in, open this address in a browser on this machine'}:\n${href}\nWaiting for the sign-in; Ctrl-C cancels.`);
    let idToken: string;
    try {
      const url = await callback.received;
      idToken = idTokenOf(await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true }));
    } catch (err) {
      throw flowError(err, io.cancel, timedOut);
    }
    await complete(idToken);
    ok = true;
  } finally {
    await callback.finish(ok);
  }
}

function idTokenOf(tokens: { id_token?: string }): string {
  if (typeof tokens.id_token !== 'string' || tokens.id_token === '') {
    throw new Error('the identity provider returned no ID token (the client needs the openid scope); nothing was saved');
  }
  return tokens.id_token;
}

/** Whether this session can show a browser: not over SSH, and on Linux only with a display. */
export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  if (env.SSH_CONNECTION || env.SSH_CLIENT || env.SSH_TTY) return false;
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

function openBrowser(url: string): boolean {
  // Arguments, never a shell: the address cannot become a command.
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['rundll32', ['url.dll,FileProtocolHandler', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}
