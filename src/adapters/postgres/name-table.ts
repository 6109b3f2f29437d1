/**
 * What each prepared-statement or portal name stands for in the upstream session, as far as the
 * gateway can know before the server answers. The server decides whether a Parse or Bind took
 * effect, and its answer arrives after later messages were already read, so every guess errs on
 * the side of the stricter classification:
 *
 * - the unnamed entry is replaced at once (PostgreSQL drops the old one before parsing); if the
 *   message is skipped after an earlier error the old one is back, if it fails there is none;
 * - a new named entry exists at once and disappears if its message fails or is skipped;
 * - a name already in use is normally refused by the server ("already exists"), but it may have
 *   been deallocated behind the gateway's back (DEALLOCATE, DISCARD), so until the answer comes
 *   the entry is the merge of old and new; success narrows it to the new one, failure restores
 *   the old one.
 */
export type Outcome = 'ok' | 'failed' | 'skipped';

export interface Definition<T> {
  readonly name: string;
  readonly previous: T | undefined;
  readonly installed: T;
  readonly value: T;
}

export class NameTable<T> {
  private readonly map = new Map<string, T>();

  constructor(private readonly merge: (older: T, newer: T) => T) {}

  get(name: string): T | undefined {
    return this.map.get(name);
  }

  get size(): number {
    return this.map.size;
  }

  /** Records a definition the server has yet to confirm; settle() it when its answer arrives. */
  define(name: string, value: T): Definition<T> {
    const previous = this.map.get(name);
    const installed = name === '' || previous === undefined ? value : this.merge(previous, value);
    this.map.set(name, installed);
    return { name, previous, installed, value };
  }

  settle(def: Definition<T>, outcome: Outcome): void {
    // a later definition of the same name has its own settlement
    if (this.map.get(def.name) !== def.installed) return;
    if (outcome === 'ok') {
      this.map.set(def.name, def.value);
      return;
    }
    const restore = def.name === '' ? (outcome === 'skipped' ? def.previous : undefined) : def.previous;
    if (restore === undefined) this.map.delete(def.name);
    else this.map.set(def.name, restore);
  }

  delete(name: string): void {
    this.map.delete(name);
  }

  clear(): void {
    this.map.clear();
  }
}
