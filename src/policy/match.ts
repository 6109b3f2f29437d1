import type { ConnectionInfo, InteractionKind, PrincipalKind } from '../interaction.ts';
import { expandInteractionPattern } from './kinds.ts';
import type { MatchConfig } from './schema.ts';
import type { PolicyInput } from './types.ts';

export type MatchField = keyof MatchConfig;

/** A rule's match lists as Sets; `null` means the field was left out and matches anything. */
export interface CompiledMatch {
  readonly identities: ReadonlySet<string> | null;
  readonly groups: ReadonlySet<string> | null;
  readonly serviceAccounts: ReadonlySet<string> | null;
  readonly kinds: ReadonlySet<PrincipalKind> | null;
  readonly connections: ReadonlySet<string> | null;
  readonly connectionTags: ReadonlySet<string> | null;
  readonly interactions: ReadonlySet<InteractionKind> | null;
}

const toSet = <T>(list: readonly T[] | undefined): ReadonlySet<T> | null => (list === undefined ? null : new Set(list));

export function compileMatch(match: MatchConfig | undefined): CompiledMatch {
  return {
    identities: toSet(match?.identities),
    groups: toSet(match?.groups),
    serviceAccounts: toSet(match?.serviceAccounts),
    kinds: toSet(match?.kinds),
    connections: toSet(match?.connections),
    connectionTags: toSet(match?.connectionTags),
    interactions: toSet(match?.interactions?.flatMap(expandInteractionPattern)),
  };
}

function anyIn(set: ReadonlySet<string>, values: readonly string[]): boolean {
  for (const value of values) if (set.has(value)) return true;
  return false;
}

/** The first field that rules the input out, or null when every listed field matches. */
export function firstMismatch(match: CompiledMatch, input: PolicyInput): MatchField | null {
  const { identity, connection } = input;
  if (match.interactions !== null && !match.interactions.has(input.kind)) return 'interactions';
  if (match.connections !== null && !match.connections.has(connection.name)) return 'connections';
  if (match.identities !== null && !match.identities.has(identity.name)) return 'identities';
  if (match.serviceAccounts !== null && !(identity.kind === 'service_account' && match.serviceAccounts.has(identity.name))) {
    return 'serviceAccounts';
  }
  if (match.kinds !== null && !match.kinds.has(identity.kind)) return 'kinds';
  if (match.groups !== null && !anyIn(match.groups, identity.groups)) return 'groups';
  if (match.connectionTags !== null && !anyIn(match.connectionTags, connection.tags)) return 'connectionTags';
  return null;
}

/** Whether a rule's connection fields let it match requests to this connection at all. */
export function mayMatchConnection(match: CompiledMatch, connection: ConnectionInfo): boolean {
  if (match.connections !== null && !match.connections.has(connection.name)) return false;
  if (match.connectionTags !== null && !anyIn(match.connectionTags, connection.tags)) return false;
  return true;
}
