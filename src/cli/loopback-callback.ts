import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { finished } from 'node:stream/promises';

/**
 * The one-shot listener the browser is sent back to after sign-in (RFC 8252 §7.3: an IP literal on
 * loopback, any port). It takes exactly one callback, the first GET /callback that names this
 * listener as its Host; anything else (another path or method, a Host a DNS-rebinding page would
 * send, an oversized URL) is refused without ending the wait. A taken callback whose `state` is not
 * this login's, or that repeats a parameter, ends the login: it was not started here.
 */
export interface LoopbackCallback {
  readonly redirectUri: string;
  /** The callback URL, for openid-client to check and redeem. */
  readonly received: Promise<URL>;
  /** Answers the browser that brought the callback, then closes. */
  finish(ok: boolean): Promise<void>;
  close(): Promise<void>;
}

const MAX_TARGET = 4096;

const PAGES = {
  ok: [200, 'Signed in to Gatehouse. You can close this tab and go back to the terminal.'],
  failed: [400, 'Sign-in did not complete. The terminal says why; nothing was saved.'],
  refused: [400, 'This response does not belong to the sign-in running in your terminal; nothing was saved.'],
  notFound: [404, 'Not found.'],
  method: [405, 'Only the sign-in redirect is answered here.'],
  host: [400, 'Unexpected Host.'],
  tooLong: [414, 'Request URL too long.'],
  taken: [409, 'This sign-in was already answered.'],
} as const satisfies Record<string, readonly [number, string]>;

function answer(res: ServerResponse, page: keyof typeof PAGES, close = false): void {
  const [status, text] = PAGES[page];
  // Fixed text only: nothing from the request is echoed back into the page.
  const body = `<!doctype html><meta charset="utf-8"><title>Gatehouse</title><p>${text}</p>\n`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    ...(page === 'method' ? { allow: 'GET' } : {}),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function listenForCallback(expectedState: string, signal: AbortSignal): Promise<LoopbackCallback> {
  let settle!: { resolve: (url: URL) => void; reject: (err: Error) => void };
  const received = new Promise<URL>((resolve, reject) => (settle = { resolve, reject }));
  // The login may fail before any callback arrives; nobody awaits `received` then.
  received.catch(() => {});
  let taken = false;
  let pending: ServerResponse | undefined;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (taken) return answer(res, 'taken', true);
    if (req.method !== 'GET') return answer(res, 'method');
    const hosts = req.headersDistinct.host ?? [];
    if (hosts.length !== 1 || hosts[0] !== host) return answer(res, 'host');
    const target = req.url ?? '';
    if (target.length > MAX_TARGET) return answer(res, 'tooLong');
    const q = target.indexOf('?');
    // Compared as sent: an absolute-form target, `//other/callback` or an encoded path is not ours.
    if ((q < 0 ? target : target.slice(0, q)) !== '/callback') return answer(res, 'notFound');

    taken = true;
    server.close();
    const query = q < 0 ? '' : target.slice(q + 1);
    const params = new URLSearchParams(query);
    const names = [...params.keys()];
    const state = params.get('state');
    let refusal: string | undefined;
    if (new Set(names).size !== names.length) refusal = 'the sign-in response repeats a parameter';
    else if (state === null || !sameSecret(state, expectedState)) refusal = 'the sign-in response does not belong to this login (its state does not match)';
    if (refusal) {
      answer(res, 'refused', true);
      settle.reject(new Error(`${refusal}; nothing was saved. Run gatehouse login again`));
      return;
    }
    pending = res;
    const url = new URL(redirectUri);
    url.search = query;
    settle.resolve(url);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const host = `127.0.0.1:${port}`;
  const redirectUri = `http://${host}/callback`;

  const close = async () => {
    signal.removeEventListener('abort', onAbort);
    const res = pending;
    pending = undefined;
    if (res && !res.headersSent) answer(res, 'failed', true);
    // Let the page reach the browser before the sockets go.
    if (res) await finished(res).catch(() => {});
    if (server.listening) server.close();
    server.closeAllConnections();
  };
  const onAbort = () => {
    taken = true;
    settle.reject(signal.reason instanceof Error ? signal.reason : new Error('sign-in cancelled'));
    void close();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });

  return {
    redirectUri,
    received,
    finish: async (ok) => {
      if (pending && !pending.headersSent) answer(pending, ok ? 'ok' : 'failed', true);
      await close();
    },
    close,
  };
}
