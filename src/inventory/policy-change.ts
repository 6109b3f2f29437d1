/**
 * When the policy last changed, for findings about credentials older than it. A fingerprint of
 * the policy and the identity limits is kept in the store; a start or reload that finds another one
 * records the time. The first fingerprint ever seen records no change: what came before is unknown.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store/types.ts';

const FINGERPRINT = 'inventory.policy_fingerprint';
const CHANGED_AT = 'inventory.policy_changed_at';

export function policyFingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts) ?? 'null').digest('hex');
}

export async function notePolicy(store: Store, fingerprint: string, now: number): Promise<void> {
  const before = await store.getSetting(FINGERPRINT);
  if (before === fingerprint) return;
  await store.setSetting(FINGERPRINT, fingerprint);
  if (before !== null) await store.setSetting(CHANGED_AT, String(now));
}

export async function policyChangedAt(store: Store): Promise<number | null> {
  const value = await store.getSetting(CHANGED_AT);
  return value === null ? null : Number(value);
}
