/**
 * A real OpenID Connect provider (the `oidc-provider` package) on 127.0.0.1, port 0, for tests.
 *
 *   const idp = await startOidcProvider();              // t.after(() => idp.close())
 *   idp.issuer                                          // 'http://127.0.0.1:54321'
 *   idp.clientId                                        // 'gatehouse-cli': a public native client (no secret)
 *   idp.setAccount('alice', { email: 'alice@example.com', groups: ['eng'] });
 *
 *   // An ID token the provider itself issues (its own IdToken model, signed with its current key):
 *   const jwt = await idp.idToken('alice');             // claims from setAccount, aud = clientId
 *   const jwt2 = await idp.idToken('bob', { claims: { groups: ['ops'] }, audience: 'other', expiresIn: 60 });
 *
 *   // Any payload and header, signed with the provider's current key (or a retired/foreign one):
 *   const raw = await idp.sign({ sub: 'alice', aud: idp.clientId, exp: 1 }, { header: { crit: ['x'] } });
 *
 *   // Key rotation without restarting the provider: a new signing key is published and used from now on.
 *   const oldKid = idp.currentKid;
 *   await idp.rotateKeys();                             // old key still published (grace period)
 *   await idp.rotateKeys({ keepOld: false });           // only the new key is published
 *   await idp.sign({...}, { kid: oldKid })              // signs with a retired key, e.g. to test refusal
 *
 *   // Interactive flows, without a browser. Interactions (login, consent) are approved automatically
 *   // for `subject` (or for the request's login_hint, or 'alice' by default):
 *   const redirect = await idp.authorize(authorizationUrl, 'alice');   // PKCE: the redirect URL with ?code=…&state=…
 *   await idp.approveDevice(userCode, 'alice');                         // device grant: enter and confirm the user code
 *
 *   idp.hits('/jwks')                                   // how many requests reached a path (key-set fetches)
 *
 * Scope claims go in the ID token (conformIdTokenClaims off). The client `gatehouse-cli` is `application_type: native` with redirect URI http://127.0.0.1/callback:
 * the provider accepts any loopback port for it (RFC 8252 §7.3). It may use authorization_code (PKCE is
 * required for it), the device grant and refresh tokens. Scopes: openid profile email groups offline_access;
 * the `groups` scope carries the `groups` claim. Pass `clients` to register others.
 *
 * Rotation replaces the provider instance behind the same listener with one holding the new keys; the
 * in-memory storage of oidc-provider is per process, so sessions, device codes and grants survive it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import Provider, { type Configuration, type ClientMetadata } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type JWTHeaderParameters, type CryptoKey } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
}

export interface StartOidcProviderOptions {
  /** Signing algorithm of the provider's keys (default RS256). */
  readonly alg?: 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
  /** Extra clients, registered besides gatehouse-cli. */
  readonly clients?: readonly ClientMetadata[];
  /** Seconds an ID token the provider issues stays valid (default 600). */
  readonly idTokenTtl?: number;
}

export interface TestOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly jwksUri: string;
  /** kid of the key that signs from now on. */
  readonly currentKid: string;
  /** Every key ever generated, by kid (retired ones included), so tests can sign with them. */
  readonly keys: ReadonlyMap<string, SigningKey>;
  /** The claims (besides sub) findAccount returns for `subject`; unknown subjects get `{ sub }` only. */
  setAccount(subject: string, claims: Record<string, unknown>): void;
  /** An ID token issued by the provider's own IdToken model for `subject`. */
  idToken(subject: string, options?: { claims?: Record<string, unknown>; audience?: string; expiresIn?: number; nonce?: string }): Promise<string>;
  /** Signs any payload: iss defaults to the issuer, iat to now; header kid/alg from the key unless overridden. */
  sign(payload: JWTPayload, options?: { kid?: string; header?: Partial<JWTHeaderParameters> & Record<string, unknown> }): Promise<string>;
  /** Publishes a new signing key and signs with it from now on; drops every older key when keepOld is false. */
  rotateKeys(options?: { keepOld?: boolean }): Promise<string>;
  /** How many requests reached this path (e.g. '/jwks', '/.well-known/openid-configuration'). */
  hits(path: string): number;
  /** Drives the authorization endpoint (login and consent approved for subject); returns the redirect_uri URL it ends on. */
  authorize(authorizationUrl: string, subject?: string): Promise<URL>;
  /** Enters and confirms a device grant user code, signing in as subject. */
  approveDevice(userCode: string, subject?: string): Promise<void>;
  close(): Promise<void>;
}

export const TEST_CLIENT_ID = 'gatehouse-cli';

async function newKey(alg: string): Promise<SigningKey> {
  const kid = `k-${randomBytes(6).toString('hex')}`;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, privateJwk };
}

/** A cookie-keeping redirect walker: enough of a browser for oidc-provider's forms. */
class Browser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects on the provider's origin; stops at (and returns) the first URL off it. */
  async follow(start: string, origin: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ url: URL; res: Response | null }> {
    let url = new URL(start);
    let res = await this.request(url.href, init);
    for (let hops = 0; hops < 20; hops++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { url, res };
      await res.body?.cancel();
      url = new URL(location, url);
      if (url.origin !== origin) return { url, res: null };
      res = await this.request(url.href);
    }
    throw new Error('too many redirects at the test OIDC provider');
  }
}

function formFields(html: string, formId: string): { action: string; fields: Record<string, string> } {
  const form = new RegExp(`<form[^>]*id="${formId.replace('.', '\\.')}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  if (!form) throw new Error(`form ${formId} not found in the provider's page`);
  const action = /action="([^"]*)"/.exec(form[0])?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const input of form[1]!.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name) fields[name] = value;
  }
  return { action, fields };
}

export async function startOidcProvider(options: StartOidcProviderOptions = {}): Promise<TestOidcProvider> {
  const alg = options.alg ?? 'RS256';
  const keys = new Map<string, SigningKey>();
  let published: SigningKey[] = [await newKey(alg)];
  keys.set(published[0]!.kid, published[0]!);
  const accounts = new Map<string, Record<string, unknown>>();
  const cookieKeys = [randomBytes(32).toString('hex')];
  // One store for every provider instance of this IdP: sessions and device codes survive a key rotation.
  const adapter = createMemoryAdapter();
  let nextSubject: string | undefined;
  let current: Provider | undefined;
  const hits = new Map<string, number>();

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const clients: ClientMetadata[] = [
    {
      client_id: TEST_CLIENT_ID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: alg,
    },
    ...(options.clients ?? []),
  ];

  const build = (): Provider => {
    const configuration: Configuration = {
      clients,
      // The private JWKs: oidc-provider signs with the first key and publishes the public halves of all.
      jwks: { keys: published.map((k) => k.privateJwk) as never },
      cookies: { keys: cookieKeys },
      pkce: { required: () => true },
      scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: { enabled: true },
        revocation: { enabled: true },
      },
      adapter,
      // Scope claims (email, groups) go in the ID token itself, as Okta and Entra ID put them there.
      conformIdTokenClaims: false,
      ttl: {
        IdToken: options.idTokenTtl ?? 600,
        AccessToken: 600,
        AuthorizationCode: 60,
        DeviceCode: 600,
        RefreshToken: 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
      },
      enabledJWA: { idTokenSigningAlgValues: [alg] },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({ sub, ...(accounts.get(sub) ?? {}) }),
      }),
      // Consent is part of the interaction this file answers itself.
      loadExistingGrant: undefined,
    };
    const provider = new Provider(issuer, configuration);
    provider.on('server_error', (_ctx, err) => console.error('test OIDC provider error:', err));
    return provider;
  };
  current = build();

  async function finishInteraction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provider = current!;
    const details = await provider.interactionDetails(req, res);
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
    const subject = nextSubject ?? hint ?? 'alice';
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: subject } }, { mergeWithLastSubmission: false });
      return;
    }
    const accountId = details.session?.accountId ?? subject;
    const grant = details.grantId
      ? ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId: details.params.client_id as string }))
      : new provider.Grant({ accountId, clientId: details.params.client_id as string });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', issuer).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    try {
      if (req.url?.startsWith('/interaction/')) return await finishInteraction(req, res);
      current!.callback()(req, res);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`test OIDC provider: ${(err as Error).message}`);
    }
  }

  const client = async () => {
    const found = await current!.Client.find(TEST_CLIENT_ID);
    if (!found) throw new Error('test client missing');
    return found;
  };

  const idp: TestOidcProvider = {
    issuer,
    clientId: TEST_CLIENT_ID,
    jwksUri: `${issuer}/jwks`,
    get currentKid() {
      return published[0]!.kid;
    },
    keys,
    hits: (path) => hits.get(path) ?? 0,
    setAccount(subject, claims) {
      accounts.set(subject, claims);
    },
    async idToken(subject, opts = {}) {
      const provider = current!;
      const token = new provider.IdToken({ sub: subject }, { client: await client() });
      // Claims go in as extras, not through scope masking, so a test can give any claim.
      token.set('sub', subject);
      for (const [key, value] of Object.entries({ ...(accounts.get(subject) ?? {}), ...(opts.claims ?? {}) })) token.set(key, value);
      if (opts.nonce) token.set('nonce', opts.nonce);
      const jwt = await token.issue({ use: 'idtoken', expiresAt: opts.expiresIn ? Math.floor(Date.now() / 1000) + opts.expiresIn : null });
      if (opts.audience === undefined) return jwt;
      // The provider's IdToken always targets its client; another audience is signed with the same key.
      const [, body] = jwt.split('.');
      const payload = JSON.parse(Buffer.from(body!, 'base64url').toString()) as JWTPayload;
      return idp.sign({ ...payload, aud: opts.audience });
    },
    async sign(payload, opts = {}) {
      const key = keys.get(opts.kid ?? published[0]!.kid);
      if (!key) throw new Error(`no key ${opts.kid}`);
      const header = { alg: key.alg, kid: key.kid, typ: 'JWT', ...(opts.header ?? {}) } as JWTHeaderParameters;
      const body: JWTPayload = { iss: issuer, iat: Math.floor(Date.now() / 1000), ...payload };
      return new SignJWT(body).setProtectedHeader(header).sign(key.privateKey);
    },
    async rotateKeys(opts = {}) {
      const key = await newKey(alg);
      keys.set(key.kid, key);
      published = opts.keepOld === false ? [key] : [key, ...published];
      current = build();
      return key.kid;
    },
    async authorize(authorizationUrl, subject) {
      nextSubject = subject;
      try {
        const { url } = await new Browser().follow(authorizationUrl, issuer);
        return url;
      } finally {
        nextSubject = undefined;
      }
    },
    async approveDevice(userCode, subject) {
      nextSubject = subject;
      try {
        const browser = new Browser();
        const input = await browser.request(`${issuer}/device`);
        const entry = formFields(await input.text(), 'op.deviceInputForm');
        const confirmPage = await browser.request(new URL(entry.action, issuer).href, { method: 'POST', form: { ...entry.fields, user_code: userCode } });
        const confirmHtml = await confirmPage.text();
        if (confirmPage.status !== 200 || !confirmHtml.includes('op.deviceConfirmForm')) {
          throw new Error(`the provider did not accept user code ${userCode} (status ${confirmPage.status})`);
        }
        const confirm = formFields(confirmHtml, 'op.deviceConfirmForm');
        const { res } = await browser.follow(new URL(confirm.action, issuer).href, issuer, { method: 'POST', form: confirm.fields });
        const done = res ? await res.text() : '';
        if (!res || res.status !== 200 || !/success|Sign-in Success/i.test(done)) {
          throw new Error(`device approval did not finish (status ${res?.status ?? 'redirected away'})`);
        }
      } finally {
        nextSubject = undefined;
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return idp;
}
