/**
 * The cookie a browser sign-in (SAML) leaves. It holds a gta_ admin-API token, so it is the
 * gateway's alone: the HTTP proxy never forwards it to an upstream nor lets an upstream set it.
 */
export const SESSION_COOKIE = 'gatehouse_session';

/**
 * Over https the name carries the __Host- prefix: a browser then keeps it only when it is Secure,
 * has Path=/ and no Domain, so a sibling host or a plain-http page cannot plant or shadow it.
 * Plain http keeps the bare name, since a __Host- cookie without Secure is dropped by browsers.
 */
export const HOST_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(secure: boolean): string {
  return secure ? HOST_SESSION_COOKIE : SESSION_COOKIE;
}

/**
 * Whether a cookie name is the session cookie in any spelling something downstream might take for
 * it: either prefix (or __Secure-), any case, surrounding blanks. Browsers compare names exactly,
 * but an upstream framework may not.
 */
export function isSessionCookie(name: string): boolean {
  const plain = name.trim().toLowerCase().replace(/^__(host|secure)-/, '');
  return plain === SESSION_COOKIE;
}
