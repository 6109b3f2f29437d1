import { ForbiddenError } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import type { ROLE_NAMES, RoleGrantConfig } from '../config/schema.ts';

/**
 * What a person may do on the admin API, from the groups their identity provider gives them
 * (identity.roles in gatehouse.yaml). A route names the roles it allows; admin holds every right.
 */
export const ROLES = ['admin', 'approver', 'auditor', 'user'] as const;

export type Role = (typeof ROLES)[number];

// The config schema keeps its own list (config/ imports no identity code); this fails to compile if they part.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const rolesMatchConfig: Same<Role, (typeof ROLE_NAMES)[number]> = true;
void rolesMatchConfig;

export type RoleGrant = Readonly<RoleGrantConfig>;

/** The roles a principal holds and, through user grants, the connections it may issue its own tokens for. */
export interface Access {
  readonly roles: readonly Role[];
  readonly connections: readonly string[];
}

const NO_ACCESS: Access = Object.freeze({ roles: Object.freeze([]), connections: Object.freeze([]) });
const BREAK_GLASS: Access = Object.freeze({ roles: Object.freeze(['admin'] as const), connections: Object.freeze([]) });

/**
 * Groups are compared exactly: 'Platform-Admins' is not 'platform-admins', and no Unicode folding
 * happens, so a look-alike name never inherits a role. Only people hold roles from groups; the
 * bootstrap admin (kind 'admin') is admin whatever the config says, so a config mistake can
 * never lock everyone out.
 */
export function accessFor(principal: Pick<Principal, 'kind' | 'groups'>, grants: readonly RoleGrant[]): Access {
  if (principal.kind === 'admin') return BREAK_GLASS;
  if (principal.kind !== 'user' || principal.groups.length === 0) return NO_ACCESS;
  const groups = new Set(principal.groups);
  const held = new Set<Role>();
  const connections = new Set<string>();
  for (const grant of grants) {
    if (!groups.has(grant.group)) continue;
    held.add(grant.role);
    if (grant.role === 'user') for (const name of grant.connections ?? []) connections.add(name);
  }
  if (held.size === 0) return NO_ACCESS;
  return Object.freeze({ roles: Object.freeze(ROLES.filter((r) => held.has(r))), connections: Object.freeze([...connections].sort()) });
}

export function rolesFor(principal: Pick<Principal, 'kind' | 'groups'>, grants: readonly RoleGrant[]): readonly Role[] {
  return accessFor(principal, grants).roles;
}

/** The roles that may use a route: admin, and those its `config.allow` names. */
export function allowedRoles(allow: readonly Role[] | undefined): Role[] {
  return ROLES.filter((role) => role === 'admin' || (allow ?? []).includes(role));
}

export function mayUse(held: readonly Role[], allow: readonly Role[] | undefined): boolean {
  const allowed = allowedRoles(allow);
  return held.some((role) => allowed.includes(role));
}

/**
 * Refuses a caller none of whose roles the route allows. An identity with no role at all is told
 * so apart (forbidden_admin): its groups need a grant, not another route.
 */
export function requireRole(held: readonly Role[], allow: readonly Role[] | undefined, what: string): void {
  if (mayUse(held, allow)) return;
  const allowed = allowedRoles(allow);
  if (held.length === 0) {
    throw new ForbiddenError(
      'forbidden_admin',
      `this identity holds no role on the admin API: ask an admin to map one of its groups to a role in identity.roles (${what} needs ${allowed.join(' or ')})`,
      { details: { allowed } },
    );
  }
  throw new ForbiddenError('forbidden_role', `${what} needs the role ${allowed.join(' or ')}; this identity holds ${held.join(', ')}`, {
    details: { allowed, held: [...held] },
  });
}
