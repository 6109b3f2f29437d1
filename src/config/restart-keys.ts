import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig } from './schema.ts';

/**
 * A reload rebuilds only what `RuntimeState` holds: the policy (rules, packs, `policy.dir`,
 * sensitive tables and tags, token lifetimes, which token issuing reads through the policy) and the
 * masking profiles (and their pseudonym key). Everything else is read once at start:
 *
 * - `http.*`: the listener's address, Fastify's body limit and proxy trust, the upstream timeout
 *   handed to the adapters;
 * - `admin.listen`, `postgres.*`: listeners and their TLS material;
 * - `store.*`: the open database;
 * - `identity.*`: the token issuer's lifetimes and the verification cache, built at start; but
 *   `identity.roles`, which the admin API reads on every call, is swapped by a reload;
 * - `recording.*`: the recorder's body cap;
 * - `replicas.*`, `shutdown.*`: the coordination's timers and the stop's drain, set up at start;
 * - `connections`: the registry is seeded from the file at start (the admin API changes it live);
 * - `log.level`: the logger and every child made from it.
 *
 * Sections are allowlisted as reloadable rather than listed as restart-only, so a section added to
 * the schema later is reported until someone decides it reloads, instead of drifting silently.
 */
const RELOADABLE: ReadonlySet<string> = new Set(['policy', 'masking']);
/** Keys inside a restart-only section that a reload applies all the same. */
const RELOADABLE_KEYS: ReadonlySet<string> = new Set(['identity.roles']);

/** Values users write as one scalar (`host:port`, a credential string) that parse into objects. */
const ATOMIC: ReadonlySet<string> = new Set(['http.listen', 'admin.listen', 'postgres.listen']);
const ATOMIC_CONNECTION_FIELDS: ReadonlySet<string> = new Set(['credential']);

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Dotted paths under `path` where `a` and `b` differ; objects are compared key by key. */
function diff(a: unknown, b: unknown, path: string, out: string[], atomic: (path: string) => boolean): void {
  if (isDeepStrictEqual(a, b)) return;
  if (!isPlainObject(a) || !isPlainObject(b) || atomic(path)) {
    out.push(path);
    return;
  }
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    diff(a[key], b[key], path ? `${path}.${key}` : key, out, atomic);
  }
}

/** Connections are matched by name, so reordering the list is no change; `connections.<name>…`. */
function diffConnections(before: GatewayConfig['connections'], after: GatewayConfig['connections'], out: string[]): void {
  const byName = (list: GatewayConfig['connections']) => new Map(list.map((c) => [c.name, c]));
  const a = byName(before);
  const b = byName(after);
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const prefix = `connections.${name}`;
    diff(a.get(name), b.get(name), prefix, out, (path) => ATOMIC_CONNECTION_FIELDS.has(path.slice(prefix.length + 1)));
  }
}

/**
 * The dotted key paths (`http.listen`, `connections.prod-db.upstream`) whose new values a reload
 * cannot apply: they take effect only after a restart. Only key names, never values, so the result
 * is safe to log even when a credential changed.
 */
export function restartRequiredChanges(before: GatewayConfig, after: GatewayConfig): string[] {
  const out: string[] = [];
  const a = before as unknown as Plain;
  const b = after as unknown as Plain;
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (RELOADABLE.has(key)) continue;
    if (key === 'connections') diffConnections(before.connections ?? [], after.connections ?? [], out);
    else diff(a[key], b[key], key, out, (path) => ATOMIC.has(path) || RELOADABLE_KEYS.has(path));
  }
  return out.filter((path) => !RELOADABLE_KEYS.has(path));
}
