import type { ConnectionInfo } from './interaction.ts';
import type { PolicyEngine } from './policy/types.ts';
import type { MaskingProfiles } from './masking/index.ts';

/**
 * The stages every request passes, in order, whatever its protocol. Adapters do the wire work
 * (taking the credential off the wire, forward); the runner in pipeline.ts does the rest, once.
 */
export const STAGES = [
  'authenticate', // identity/: who is calling (adapter extracts the credential)
  'classify', // classify/ + masking/ entity detection: what the request is
  'decide', // policy/: allow, deny or approve, with obligations
  'hold', // approvals/: wait for humans (fails closed until the approval flow exists)
  'mask_request', // masking/: before anything leaves
  'forward', // adapter: with credentials only the gateway holds
  'mask_response', // masking/: through the masker masking/ picks for the response
  'record', // audit/: opened before forward (write-ahead), completed after mask_response
] as const;
export type Stage = (typeof STAGES)[number];

/**
 * What can happen to requests on one connection, worked out once per policy (as Fastify compiles a
 * route's hooks at start): the rules that can match it, and which optional stages can ever apply.
 */
export interface ConnectionPlan {
  readonly connection: string;
  readonly policy: PolicyEngine;
  /** Entity detection runs before deciding only when some rule for this connection reads `request.entities`. */
  readonly detectsEntities: boolean;
  readonly stages: readonly Stage[];
}

/** Everything a request reads from configuration, read once per request and never changed. */
export interface RuntimeState {
  /** Increments with every reload; a request keeps the state it started with. */
  readonly version: number;
  readonly policy: PolicyEngine;
  readonly masking: MaskingProfiles;
  /** What every recorded text passes, whatever the rule's profile: the built-in `secrets` profile. */
  readonly redact: (text: string) => string;
  /** Entity types in a text, for rules that read `request.entities`. */
  readonly detectEntities: (text: string) => string[];
  plan(connection: ConnectionInfo): ConnectionPlan;
}

export interface RuntimeStateParts {
  readonly policy: PolicyEngine;
  readonly masking: MaskingProfiles;
  readonly redact: (text: string) => string;
  readonly detectEntities: (text: string) => string[];
}

const OPTIONAL_STAGES: Partial<Record<Stage, (policy: PolicyEngine) => boolean>> = {
  hold: (policy) => policy.approves,
  mask_request: (policy) => policy.masks,
  mask_response: (policy) => policy.masks,
};

export function compilePlan(policy: PolicyEngine, connection: ConnectionInfo): ConnectionPlan {
  const own = policy.forConnection(connection);
  return Object.freeze({
    connection: connection.name,
    policy: own,
    detectsEntities: own.readsEntities,
    stages: Object.freeze(STAGES.filter((stage) => OPTIONAL_STAGES[stage]?.(own) ?? true)),
  });
}

/**
 * Builds a frozen state. Plans for the connections known now are compiled here; a connection added
 * later (through the API) gets its plan on first use, cached with this state so a reload drops it.
 */
export function buildRuntimeState(parts: RuntimeStateParts, connections: readonly ConnectionInfo[], version: number): RuntimeState {
  const plans = new Map<string, ConnectionPlan>();
  const planKey = (c: ConnectionInfo) => `${c.name}\u0000${c.tags.join('\u0000')}`;
  for (const c of connections) plans.set(planKey(c), compilePlan(parts.policy, c));
  return Object.freeze({
    version,
    ...parts,
    plan(connection: ConnectionInfo): ConnectionPlan {
      const key = planKey(connection);
      let plan = plans.get(key);
      if (plan === undefined) {
        plan = compilePlan(parts.policy, connection);
        plans.set(key, plan);
      }
      return plan;
    },
  });
}

/**
 * The one reference to the current state. Reloads run one at a time; the state is swapped only once
 * the new one is completely built, and a failed build leaves the old one in force.
 */
export class RuntimeStateHolder {
  #state: RuntimeState;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(initial: RuntimeState) {
    this.#state = initial;
  }

  get current(): RuntimeState {
    return this.#state;
  }

  /** Builds the next state from `build(version)` after any reload already running; resolves with it, or rejects leaving the old one. */
  reload(build: (version: number) => Promise<RuntimeState>): Promise<RuntimeState> {
    const next = this.#queue.then(async () => {
      const state = await build(this.#state.version + 1);
      this.#state = state;
      return state;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
