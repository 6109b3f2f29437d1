/**
 * The store remembers which master key it was first opened with: a value sealed under that key.
 * A start (or an offline command) with another key is refused at once, naming the cause, instead of
 * failing later at whichever sealed secret it happens to open first.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { SecretBox } from './secret-box.ts';
import type { Store } from './types.ts';

export const MASTER_KEY_CHECK = 'master_key_check';
const AAD = 'setting:master_key_check';

export async function checkMasterKey(store: Pick<Store, 'setSettingIfAbsent'>, box: SecretBox): Promise<void> {
  const sealed = await store.setSettingIfAbsent(MASTER_KEY_CHECK, box.seal(randomBytes(16).toString('hex'), AAD));
  try {
    box.open(sealed, AAD);
  } catch {
    throw new ConfigError(
      'GATEHOUSE_MASTER_KEY is not the key this store was sealed with: start with the key it was created with ' +
        '(see "Wrong master key" in docs/troubleshooting.md), or rotate keys with `gatehouse keys rotate` while you still have the old one',
    );
  }
}
