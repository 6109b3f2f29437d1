import { ForbiddenError } from '../errors.ts';
import { checkAgentName, newAgent, ownerKeyOfPerson } from '../inventory/attach.ts';
import type { Principal } from '../interaction.ts';
import type { Store } from '../store/types.ts';
import type { Caller } from './types.ts';

/**
 * `--agent`: an agent id (one the caller may use: an admin any, a user their own or their team's),
 * or a name among the token principal's agents, created when new. Revoked agents are refused
 * where the token is issued (inventory/attach.ts).
 */
export async function agentForToken(store: Store, agent: string, principal: Principal, caller: Caller): Promise<string> {
  const byId = agent.startsWith('agt_') ? await store.getAgent(agent) : null;
  if (byId) {
    const mine = byId.ownerId === principal.id || (byId.ownerId === null && principal.groups.includes(byId.owner));
    if (!mine && !caller.roles.includes('admin')) {
      throw new ForbiddenError('forbidden_role', `agent ${byId.id} is not yours: a token may join only its principal's or team's agents`, { details: { allowed: ['admin'] } });
    }
    return byId.id;
  }
  const name = checkAgentName(agent);
  const row = await store.ensureAgent(newAgent({ name, owner: principal.name, ownerId: principal.id, createdBy: caller.auth.principal.name }, Date.now()), ownerKeyOfPerson(principal.id));
  return row.id;
}
