import type { Decision } from '../interaction.ts';
import { ConfigError } from '../errors.ts';
import type { PolicyEngine, PolicyInput } from './types.ts';

/** A PolicyEngine whose rules can be replaced while requests are being decided. */
export interface PolicyHolder extends PolicyEngine {
  readonly current: PolicyEngine;
  /**
   * Builds a new engine and swaps it in. On failure the old engine stays in force and a
   * ConfigError is thrown. Concurrent calls run one after another, so the last call wins.
   */
  reload(): Promise<PolicyEngine>;
}

function asConfigError(err: unknown): ConfigError {
  if (err instanceof ConfigError) return err;
  return new ConfigError(`policy could not be loaded: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** Loads the first engine (throwing ConfigError if that fails) and returns the holder. */
export async function createPolicyHolder(load: () => Promise<PolicyEngine> | PolicyEngine): Promise<PolicyHolder> {
  let current: PolicyEngine;
  try {
    current = await load();
  } catch (err) {
    throw asConfigError(err);
  }
  let queue: Promise<unknown> = Promise.resolve();

  const swap = async (): Promise<PolicyEngine> => {
    try {
      current = await load();
    } catch (err) {
      throw asConfigError(err);
    }
    return current;
  };

  return {
    get current() {
      return current;
    },
    get ruleCount() {
      return current.ruleCount;
    },
    get readsEntities() {
      return current.readsEntities;
    },
    decide(input: PolicyInput): Decision {
      return current.decide(input);
    },
    maxTokenTtlMs(groups: readonly string[]): number | null {
      return current.maxTokenTtlMs(groups);
    },
    reload() {
      const next = queue.then(swap);
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
