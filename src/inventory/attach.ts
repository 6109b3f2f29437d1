/**
 * Which agent a credential belongs to when it is issued. Every gth_ and gts_ credential has one:
 * named with `--agent`, inherited from the token it was exchanged from, the service account's own,
 * or else implicitly the owner's agent named after the token (what the token's name meant before
 * agents existed, and what migration 19 gave older tokens).
 */
import { Conflict, InvalidArgument } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import type { AgentRow, Store, TokenKind } from '../store/types.ts';
import { newId } from '../util/ids.ts';

/** Longest agent name; a token's name (up to 200 characters) fits. */
export const MAX_AGENT_NAME = 200;

/** Control and format characters (newlines, escapes, bidi overrides) would forge lines in a table or a log. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export function checkAgentName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new InvalidArgument('an agent needs a name', { details: { field: 'agent' } });
  if (trimmed.length > MAX_AGENT_NAME) throw new InvalidArgument(`an agent name has at most ${MAX_AGENT_NAME} characters`, { details: { field: 'agent' } });
  if (UNSAFE.test(trimmed)) throw new InvalidArgument('an agent name may not hold control or invisible formatting characters', { details: { field: 'agent' } });
  return trimmed;
}

/** The key a name is unique under: the owning person's id, a team's name, or the service account. */
export const ownerKeyOfPerson = (principalId: string) => principalId;
export const ownerKeyOfTeam = (group: string) => `group:${group}`;
export const ownerKeyOfAccount = (accountId: string) => `sa:${accountId}`;

export function newAgent(fields: Pick<AgentRow, 'name' | 'owner' | 'ownerId'> & Partial<AgentRow>, at: number): AgentRow {
  return {
    id: newId('agt'),
    purpose: null,
    labels: {},
    createdAt: at,
    createdBy: null,
    revokedAt: null,
    revokedBy: null,
    ...fields,
  };
}

function usable(agent: AgentRow): AgentRow {
  if (agent.revokedAt !== null) {
    throw new Conflict(`agent "${agent.name}" (${agent.id}) was revoked; a revoked agent gets no new credentials: name another agent (--agent)`, {
      details: { agent: agent.id },
    });
  }
  return agent;
}

/** The agent of a service account, created on first need for accounts made before agents existed. */
export async function accountAgent(store: Store, accountId: string, at: number): Promise<AgentRow | null> {
  const account = await store.getServiceAccount(accountId);
  if (!account) return null;
  if (account.agentId) return store.getAgent(account.agentId);
  const agent = await store.ensureAgent(
    newAgent({ name: account.name, owner: account.owner, ownerId: account.ownerId ?? null, createdBy: 'gatehouse' }, at),
    ownerKeyOfAccount(account.id),
  );
  await store.setServiceAccountAgent(account.id, agent.id);
  return agent;
}

/** The agent a credential being issued belongs to; null for admin and SCIM tokens, which reach no target. */
export async function agentForIssue(
  store: Store,
  input: { principal: Principal; kind: TokenKind; name: string; parentId?: string | null; agentId?: string | null },
  at: number,
): Promise<AgentRow | null> {
  if (input.kind !== 'agent' && input.kind !== 'service_account') return null;
  if (input.agentId) {
    const named = await store.getAgent(input.agentId);
    if (!named) throw new InvalidArgument(`no agent "${input.agentId}"`);
    return usable(named);
  }
  if (input.parentId) {
    const parent = await store.getToken(input.parentId);
    if (parent?.agentId) {
      const inherited = await store.getAgent(parent.agentId);
      if (inherited) return usable(inherited);
    }
  }
  if (input.principal.kind === 'service_account') {
    const agent = await accountAgent(store, input.principal.id, at);
    if (agent) return usable(agent);
  }
  const name = input.name.trim() === '' ? 'agent token' : input.name.trim().slice(0, MAX_AGENT_NAME);
  const agent = await store.ensureAgent(
    newAgent({ name, owner: input.principal.name, ownerId: input.principal.id, createdBy: input.principal.name }, at),
    ownerKeyOfPerson(input.principal.id),
  );
  return usable(agent);
}
