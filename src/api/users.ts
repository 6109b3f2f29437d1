import { z } from 'zod';
import { noteAction } from '../audit/admin-actions.ts';
import { Offboarding, ownedBy } from '../identity/offboarding.ts';
import type { PrincipalRow } from '../store/types.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const nameParam = z.object({ name: z.string().min(1).max(256).describe('The user name, e.g. alice@example.com') });

const userView = z
  .object({
    id: z.string(),
    name: z.string(),
    groups: z.array(z.string()),
    createdAt: epochMs,
    disabledAt: epochMs.nullable().describe('When the user was disabled; null while they may sign in'),
    scim: z.boolean().describe('Provisioned by an identity provider over SCIM'),
  })
  .meta({ id: 'User' });

const disableResult = z.object({
  user: z.string(),
  revokedTokens: z.array(z.string()).describe('Ids of the tokens this call revoked: the user’s, those exchanged from them, their service accounts’'),
  disabledServiceAccounts: z.array(z.string()).describe('Names of the service accounts the user owned that this call disabled'),
});

function viewUser(row: PrincipalRow, scim: boolean): z.output<typeof userView> {
  return { id: row.id, name: row.name, groups: row.groups, createdAt: row.createdAt, disabledAt: row.disabledAt, scim };
}

/** People: list them, and offboard one (disable cuts everything they hold; enable revives nothing). */
export function registerUserRoutes(api: Api, deps: ApiDeps): void {
  const offboarding = new Offboarding(deps);

  api.route({
    method: 'GET',
    url: '/users',
    schema: {
      tags: ['principals'],
      operationId: 'listUsers',
      summary: 'Every user (person) the gateway knows, disabled ones included',
      response: { 200: z.object({ users: z.array(userView) }).describe('The users'), ...errorResponses },
    },
    handler: async () => {
      const [principals, scimUsers] = await Promise.all([deps.store.listPrincipals(), deps.store.listScimUsers()]);
      const provisioned = new Set(scimUsers.map((u) => u.principalId));
      return { users: principals.filter((p) => p.kind === 'user').map((p) => viewUser(p, provisioned.has(p.id))) };
    },
  });

  api.route({
    method: 'GET',
    url: '/users/:name',
    schema: {
      tags: ['principals'],
      operationId: 'getUser',
      summary: 'A user, their live tokens and the service accounts they own',
      params: nameParam,
      response: {
        200: z
          .object({
            user: userView,
            tokens: z.array(z.object({ id: z.string(), kind: z.string(), name: z.string(), expiresAt: epochMs.nullable() })).describe('Live tokens'),
            serviceAccounts: z.array(z.object({ name: z.string(), disabledAt: epochMs.nullable() })).describe('Service accounts whose owner is this user'),
          })
          .describe('The user'),
        ...errorResponses,
      },
    },
    handler: async (request) => {
      const user = await offboarding.findUser(request.params.name);
      const [tokens, accounts, scim] = await Promise.all([
        deps.store.listTokens({ principalId: user.id, now: Date.now() }),
        deps.store.listServiceAccounts(),
        deps.store.getScimUser(user.id),
      ]);
      const owned = accounts.filter((a) => ownedBy(a, user));
      return {
        user: viewUser(user, scim !== null),
        tokens: tokens.map((t) => ({ id: t.id, kind: t.kind, name: t.name, expiresAt: t.expiresAt })),
        serviceAccounts: owned.map((a) => ({ name: a.name, disabledAt: a.disabledAt })),
      };
    },
  });

  api.route({
    method: 'POST',
    url: '/users/:name/disable',
    schema: {
      tags: ['principals'],
      operationId: 'disableUser',
      summary: 'Offboard a person: disable them, revoke every token they hold, disable the service accounts they own, end their live sessions',
      params: nameParam,
      response: { 200: disableResult.describe('What was cut'), ...errorResponses },
    },
    handler: async (request) => {
      const user = await offboarding.findUser(request.params.name);
      const cut = await offboarding.disable(user, `user ${user.name} disabled`);
      noteAction(request, {
        target: user.name,
        details: { revokedTokens: cut.revokedTokens, disabledServiceAccounts: cut.disabledServiceAccounts },
      });
      deps.logger?.info({ user: user.name, revokedTokens: cut.revokedTokens.length, disabledServiceAccounts: cut.disabledServiceAccounts }, 'user disabled');
      return { user: cut.user, revokedTokens: cut.revokedTokens, disabledServiceAccounts: cut.disabledServiceAccounts };
    },
  });

  api.route({
    method: 'POST',
    url: '/users/:name/enable',
    schema: {
      tags: ['principals'],
      operationId: 'enableUser',
      summary: 'Let a disabled person sign in again; revoked tokens and disabled service accounts stay as they are',
      params: nameParam,
      response: { 200: z.object({ user: userView }).describe('Enabled'), ...errorResponses },
    },
    handler: async (request) => {
      const user = await offboarding.findUser(request.params.name);
      await offboarding.enable(user);
      noteAction(request, { target: user.name });
      const scim = await deps.store.getScimUser(user.id);
      return { user: viewUser({ ...user, disabledAt: null }, scim !== null) };
    },
  });
}
