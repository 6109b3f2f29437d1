/**
 * Master-key rotation: every value the store holds sealed (connection credentials, sealed
 * settings such as the S3 credential key) is opened with the old key and sealed with the new one.
 * The master-key check moves last, so until the rotation is complete the old key still opens the
 * store, and running the rotation again with the same two keys finishes an interrupted one.
 */
import { ConfigError } from '../errors.ts';
import { MASTER_KEY_CHECK } from './master-key-check.ts';
import type { SecretBox } from './secret-box.ts';
import type { SealedValue, Store } from './types.ts';

export interface RotationReport {
  /** Values sealed anew under the new key. */
  readonly resealed: readonly string[];
  /** Values already under the new key (a finished part of an interrupted rotation). */
  readonly alreadyNew: readonly string[];
}

const aadOf = (value: SealedValue) => `${value.where}:${value.key}`;
const isCheck = (value: SealedValue) => value.where === 'setting' && value.key === MASTER_KEY_CHECK;

function tryOpen(box: SecretBox, value: SealedValue): string | null {
  try {
    return box.open(value.ciphertext, aadOf(value));
  } catch {
    return null;
  }
}

export async function rotateMasterKey(store: Pick<Store, 'listSealedValues' | 'replaceSealedValue'>, from: SecretBox, to: SecretBox): Promise<RotationReport> {
  const values = await store.listSealedValues();
  const check = values.find(isCheck);
  if (check && tryOpen(from, check) === null && tryOpen(to, check) === null) {
    throw new ConfigError('GATEHOUSE_MASTER_KEY is not the key this store was sealed with; nothing was changed');
  }
  // Every value must open with one of the two keys before anything is written: a value neither
  // opens would be lost by the rotation, so it stops it.
  const plan = values.map((value) => {
    const old = tryOpen(from, value);
    if (old !== null) return { value, plaintext: old };
    if (tryOpen(to, value) !== null) return { value, plaintext: null };
    throw new ConfigError(`${value.where} ${value.key} opens with neither key; nothing was changed`);
  });
  const resealed: string[] = [];
  const alreadyNew: string[] = [];
  for (const step of [...plan.filter((s) => !isCheck(s.value)), ...plan.filter((s) => isCheck(s.value))]) {
    const name = aadOf(step.value);
    if (step.plaintext === null) {
      alreadyNew.push(name);
      continue;
    }
    const replaced = await store.replaceSealedValue(step.value, to.seal(step.plaintext, name));
    if (!replaced) throw new ConfigError(`${name} changed during the rotation (is a gateway still running?); stop every replica and run it again with the same keys`);
    resealed.push(name);
  }
  return { resealed, alreadyNew };
}
