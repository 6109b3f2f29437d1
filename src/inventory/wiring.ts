/**
 * The inventory as server.ts starts it: the rules read from the config and policy in force (a
 * reload passes the new config to `configure`), the policy fingerprint noted at start and on each
 * reload, and the scheduled report.
 */
import type { Logger } from 'pino';
import { DEFAULT_INVENTORY, type InventoryConfig } from '../config/inventory.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { PolicyEngine } from '../policy/types.ts';
import type { Store } from '../store/types.ts';
import { notePolicy, policyChangedAt, policyFingerprint } from './policy-change.ts';
import { scheduleReports, type ReportTimers } from './schedule.ts';
import { Inventory, type InventoryDeps } from './service.ts';
import { sessionLimitOf } from './session-limit.ts';

export interface InventoryOptions {
  /** The clock findings are judged at (tests move it; traffic keeps its own). */
  readonly now?: () => number;
  readonly timers?: ReportTimers;
  readonly fetch?: InventoryDeps['fetch'];
}

type Limits = Pick<GatewayConfig, 'identity' | 'policy'> & { inventory?: InventoryConfig };

export interface RunningInventory {
  readonly inventory: Inventory;
  /** After a reload: the new limits, and the policy fingerprint noted. */
  configure(config: Limits): Promise<void>;
  stop(): void;
}

export async function startInventory(
  config: Limits,
  deps: Pick<InventoryDeps, 'store' | 'credentials' | 'serviceAccounts' | 'coordination' | 'logger'> & {
    readonly policy: () => PolicyEngine;
    readonly connections: () => readonly string[];
  },
  options: InventoryOptions = {},
): Promise<RunningInventory> {
  let current = config;
  let changedAt: number | null = null;
  const now = options.now ?? Date.now;
  const note = async (store: Store, limits: Limits) => {
    await notePolicy(store, policyFingerprint([limits.policy, limits.identity.tokens, limits.identity.serviceAccounts]), now());
    changedAt = await policyChangedAt(store);
  };
  await note(deps.store, config);
  const inventory = new Inventory({
    ...deps,
    now,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    config: () => current.inventory ?? DEFAULT_INVENTORY,
    workloadTrusts: () => current.identity.workload?.trust ?? [],
    rules: () => ({
      tokenCapMs: (groups) => Math.min(current.identity.tokens.maxTtl, deps.policy().maxTokenTtlMs(groups) ?? Infinity),
      accountMaxExpiryMs: current.identity.serviceAccounts.maxExpiry,
      policyChangedAt: changedAt,
      connections: deps.connections(),
    }),
    sessionLimit: (person) => sessionLimitOf(deps.policy(), person),
  });
  const stop = scheduleReports(() => inventory.report(), (config.inventory ?? DEFAULT_INVENTORY).report.every, deps.logger, options.timers);
  return {
    inventory,
    configure: async (next) => {
      current = next;
      await note(deps.store, next);
    },
    stop,
  };
}
