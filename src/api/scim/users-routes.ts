import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { noteAction } from '../../audit/admin-actions.ts';
import type { DisableResult } from '../../identity/offboarding.ts';
import { equalityOn, matches } from './filter.ts';
import { listResponse, readPage } from './paging.ts';
import { baseUrl, excluded, filterOf, idParam, sendScim } from './reply.ts';
import { readUser, renderUser, USER_FILTER, type UserView } from './user-resource.ts';
import type { ScimUsers } from './users-service.ts';

/** What the record of a SCIM change says: the user, the client, and what a disable cut. */
function note(request: FastifyRequest, logger: Logger | undefined, user: string, cut?: DisableResult): void {
  const client = request.scimAuth?.credential.name;
  noteAction(request, {
    target: user,
    details: { via: 'scim', client, ...(cut ? { revokedTokens: cut.revokedTokens, disabledServiceAccounts: cut.disabledServiceAccounts } : {}) },
  });
  if (cut) logger?.info({ user, client, revokedTokens: cut.revokedTokens.length, disabledServiceAccounts: cut.disabledServiceAccounts, via: 'scim' }, 'user disabled');
}

export function registerScimUserRoutes(scope: FastifyInstance, users: ScimUsers, logger: Logger | undefined): void {
  const render = (request: FastifyRequest, view: UserView, cut?: DisableResult) => {
    const resource = renderUser(view, baseUrl(request), cut);
    if (excluded(request, 'groups')) delete resource.groups;
    return resource;
  };

  scope.get('/Users', { schema: { operationId: 'scimListUsers' } }, async (request, reply) => {
    const filter = filterOf(request, USER_FILTER);
    const page = readPage(request.query as Record<string, unknown>);
    // The usual question (does userName X exist?) is one lookup; anything else is checked over every user.
    const userName = filter ? equalityOn(filter, 'userName') : null;
    const views = userName !== null ? await users.findByUserName(userName) : await users.list();
    const resources = views.map((v) => render(request, v)).filter((r) => filter === null || matches(r, filter));
    return sendScim(reply, 200, listResponse(resources, page, (r) => r));
  });

  scope.get('/Users/*', { schema: { operationId: 'scimGetUser' } }, async (request, reply) => {
    return sendScim(reply, 200, render(request, await users.get(idParam(request))));
  });

  scope.post('/Users', { schema: { operationId: 'scimCreateUser' } }, async (request, reply) => {
    const { view, cut } = await users.create(readUser(request.body));
    note(request, logger, view.principal.name, cut);
    const resource = render(request, view, cut);
    reply.header('location', (resource.meta as { location: string }).location);
    return sendScim(reply, 201, resource);
  });

  scope.put('/Users/*', { schema: { operationId: 'scimReplaceUser' } }, async (request, reply) => {
    const { view, cut } = await users.replace(idParam(request), readUser(request.body));
    note(request, logger, view.principal.name, cut);
    return sendScim(reply, 200, render(request, view, cut));
  });

  scope.patch('/Users/*', { schema: { operationId: 'scimPatchUser' } }, async (request, reply) => {
    const { view, cut } = await users.patch(idParam(request), request.body);
    note(request, logger, view.principal.name, cut);
    return sendScim(reply, 200, render(request, view, cut));
  });

  scope.delete('/Users/*', { schema: { operationId: 'scimDeleteUser' } }, async (request, reply) => {
    const id = idParam(request);
    const cut = await users.remove(id);
    note(request, logger, cut.user, cut);
    return reply.code(204).send();
  });
}
