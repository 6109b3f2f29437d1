/**
 * Writes a folder the way the kubelet updates a ConfigMap volume (its AtomicWriter): the files go
 * into a new hidden timestamped folder, a `..data_tmp` symlink to it is renamed over `..data` in
 * one step, each file the reader sees is a symlink `name -> ..data/name` (made once, when the name
 * first appears), names no longer in the ConfigMap lose their symlink, and the previous folder is
 * deleted. A reader following `..data` sees the old or the new set of files, never a mix.
 */
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

let generation = 0;

export async function kubeletWrite(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const previous = await readlink(join(dir, '..data')).catch(() => null);
  const previousNames = previous ? await readdir(join(dir, previous)) : [];
  // The kubelet names it ..<date>.<random>; only uniqueness matters here.
  const next = `..2030_01_01_00_00_${String(++generation).padStart(2, '0')}.${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, next));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, next, name), text);
  await symlink(next, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    const exists = await lstat(join(dir, name)).then(() => true, () => false);
    if (!exists) await symlink(join('..data', name), join(dir, name));
  }
  for (const name of previousNames) if (!(name in files)) await unlink(join(dir, name));
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}
