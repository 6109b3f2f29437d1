/**
 * A one-row write by key that an engine may send together with others of its kind: the
 * recording writes every proxied request makes. It carries its one-row SQL (what an engine
 * without grouping runs) and its typed columns (what an engine needs to bind a whole batch
 * as one array per column).
 */
import type { SqlType } from './rows.ts';

export type Column = readonly [name: string, type: SqlType];

export interface GroupedWrite {
  readonly kind: 'insert' | 'update';
  readonly table: string;
  /** The bound columns, in params order; an update sets all but the key. */
  readonly columns: readonly Column[];
  /** Where the key sits in params. It is unique: an update changes at most one row. */
  readonly keyIndex: number;
  /** The same write for one row, with `?` placeholders. */
  readonly sql: string;
}

/** Inserts one row of every column in `types`; the first column is the key. */
export function groupedInsert(table: string, types: Readonly<Record<string, SqlType>>): GroupedWrite {
  const columns = Object.entries(types);
  return {
    kind: 'insert',
    table,
    columns,
    keyIndex: 0,
    sql: `INSERT INTO ${table} (${columns.map(([name]) => name).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  };
}

/** Sets `set` on the row whose `key` matches; params are the set values in order, then the key. */
export function groupedUpdate<C extends string>(
  table: string,
  types: Readonly<Record<C, SqlType>>,
  set: readonly C[],
  key: C,
): GroupedWrite {
  return {
    kind: 'update',
    table,
    columns: [...set, key].map((name) => [name, types[name]] as const),
    keyIndex: set.length,
    sql: `UPDATE ${table} SET ${set.map((name) => `${name} = ?`).join(', ')} WHERE ${key} = ?`,
  };
}
