import type { FastifyInstance, FastifyRequest } from 'fastify';
import { noteAction } from '../../audit/admin-actions.ts';
import { equalityOn, matches } from './filter.ts';
import { GROUP_FILTER, readGroup, renderGroup } from './group-resource.ts';
import type { GroupView, ScimGroups } from './groups-service.ts';
import { listResponse, readPage } from './paging.ts';
import { baseUrl, excluded, filterOf, idParam, sendScim } from './reply.ts';

function note(request: FastifyRequest, view: { row: { displayName: string } }, members?: readonly string[]): void {
  noteAction(request, { target: view.row.displayName, details: { via: 'scim', client: request.scimAuth?.credential.name, ...(members ? { members } : {}) } });
}

export function registerScimGroupRoutes(scope: FastifyInstance, groups: ScimGroups): void {
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
    const view = await groups.create(readGroup(request.body));
    note(request, view, view.members.map((m) => m.name));
    const resource = render(request, view);
    reply.header('location', (resource.meta as { location: string }).location);
    return sendScim(reply, 201, resource);
  });

  scope.put('/Groups/*', { schema: { operationId: 'scimReplaceGroup' } }, async (request, reply) => {
    const view = await groups.replace(idParam(request), readGroup(request.body));
    note(request, view, view.members.map((m) => m.name));
    return sendScim(reply, 200, render(request, view));
  });

  scope.patch('/Groups/*', { schema: { operationId: 'scimPatchGroup' } }, async (request, reply) => {
    const view = await groups.patch(idParam(request), request.body);
    note(request, view, view.members.map((m) => m.name));
    return sendScim(reply, 200, render(request, view));
  });

  scope.delete('/Groups/*', { schema: { operationId: 'scimDeleteGroup' } }, async (request, reply) => {
    const view = await groups.get(idParam(request));
    await groups.remove(view.row.id);
    note(request, view);
    return reply.code(204).send();
  });
}
