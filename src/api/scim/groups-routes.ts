import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { noteAction } from '../../audit/admin-actions.ts';
import type { GrantCut } from '../../identity/grant-coverage.ts';
import { equalityOn, matches } from './filter.ts';
import { GROUP_FILTER, readGroup, renderGroup } from './group-resource.ts';
import type { GroupChangeResult, GroupView, ScimGroups } from './groups-service.ts';
import { listResponse, readPage } from './paging.ts';
import { baseUrl, excluded, filterOf, idParam, sendScim } from './reply.ts';

/** What the record of a group change says: the group, its members, and the tokens of members who lost a grant. */
function note(request: FastifyRequest, logger: Logger | undefined, { view, cut }: GroupChangeResult, withMembers = true): void {
  const client = request.scimAuth?.credential.name;
  noteAction(request, {
    target: view.row.displayName,
    details: { via: 'scim', client, ...(withMembers ? { members: view.members.map((m) => m.name) } : {}), ...(cut.length > 0 ? { grantsLost: cut.map(summary) } : {}) },
  });
  for (const c of cut) {
    logger?.info({ user: c.user, group: view.row.displayName, client, lostAdmin: c.lostAdmin, lostConnections: c.lostConnections, revokedTokens: c.revokedTokens.length, via: 'scim' }, 'agent tokens revoked: a group change took their grant away');
  }
}

const summary = (c: GrantCut) => ({ user: c.user, lostAdmin: c.lostAdmin, lostConnections: c.lostConnections, revokedTokens: c.revokedTokens });

export function registerScimGroupRoutes(scope: FastifyInstance, groups: ScimGroups, logger?: Logger): void {
  const render = (request: FastifyRequest, view: GroupView, forFilter = false) =>
    renderGroup(view.row, !forFilter && excluded(request, 'members') ? null : view.members, baseUrl(request));

  scope.get('/Groups', { schema: { operationId: 'scimListGroups' } }, async (request, reply) => {
    const filter = filterOf(request, GROUP_FILTER);
    const page = readPage(request.query as Record<string, unknown>);
    const displayName = filter ? equalityOn(filter, 'displayName') : null;
    const views = displayName !== null ? await groups.findByName(displayName) : await groups.list();
    // Filtered with members (Entra ID asks `members[value eq "…"]` and excludes them from the answer).
    const kept = views.filter((v) => filter === null || matches(render(request, v, true), filter));
    return sendScim(reply, 200, listResponse(kept, page, (v) => render(request, v)));
  });

  scope.get('/Groups/*', { schema: { operationId: 'scimGetGroup' } }, async (request, reply) => {
    return sendScim(reply, 200, render(request, await groups.get(idParam(request))));
  });

  scope.post('/Groups', { schema: { operationId: 'scimCreateGroup' } }, async (request, reply) => {
    const change = await groups.create(readGroup(request.body));
    note(request, logger, change);
    const resource = render(request, change.view);
    reply.header('location', (resource.meta as { location: string }).location);
    return sendScim(reply, 201, resource);
  });

  scope.put('/Groups/*', { schema: { operationId: 'scimReplaceGroup' } }, async (request, reply) => {
    const change = await groups.replace(idParam(request), readGroup(request.body));
    note(request, logger, change);
    return sendScim(reply, 200, render(request, change.view));
  });

  scope.patch('/Groups/*', { schema: { operationId: 'scimPatchGroup' } }, async (request, reply) => {
    const change = await groups.patch(idParam(request), request.body);
    note(request, logger, change);
    return sendScim(reply, 200, render(request, change.view));
  });

  scope.delete('/Groups/*', { schema: { operationId: 'scimDeleteGroup' } }, async (request, reply) => {
    note(request, logger, await groups.remove(idParam(request)), false);
    return reply.code(204).send();
  });
}
