/**
 * Group commit for PostgreSQL. Grouped writes issued in one event-loop turn, or while a batch is
 * in flight, go to the server as one statement: one round trip, one commit, one set of driver
 * work, instead of one of each per write. The writes of a kind travel as one JSON text (an
 * array of their parameter arrays): JSON.stringify is native, where pg would escape every
 * element of a SQL array in JavaScript. The statement text depends only on which kinds the
 * batch holds, so it is prepared once per pooled connection.
 *
 * One batch is in flight at a time, so batches commit in the order their writes were issued.
 * A caller's promise settles only once the statement holding its write has committed.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type pg from 'pg';
import type { GroupedWrite } from './grouped-write.ts';
import type { SqlValue } from './rows.ts';

/** Writes per statement. The parameter count is fixed (one per kind), so this bounds time and memory only. */
export const MAX_BATCH_WRITES = 500;
/** Characters of bound text per statement; a larger single write still goes, alone. */
export const MAX_BATCH_CHARS = 4 * 1024 * 1024;

export interface GroupCommitDriver {
  query(config: pg.QueryArrayConfig<string[]>): Promise<pg.QueryArrayResult>;
  /** Runs one write by itself: rows changed, or the driver's own error. */
  runOne(write: GroupedWrite, params: readonly SqlValue[]): Promise<number>;
  /** Turns a driver error into the store's. */
  fail(err: unknown): Error;
}

interface Pending {
  readonly write: GroupedWrite;
  readonly params: readonly SqlValue[];
  resolve(changed: number): void;
  reject(error: Error): void;
}

interface Statement {
  readonly name: string;
  readonly text: string;
}

export class PostgresGroupCommit {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  /** A number per kind of write, in the order first seen: batches list their kinds in this order. */
  private readonly kinds = new Map<GroupedWrite, number>();
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly driver: GroupCommitDriver) {}

  push(write: GroupedWrite, params: readonly SqlValue[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, params, resolve, reject });
      this.running ??= this.run();
    });
  }

  /** Resolves once every write pushed so far has settled. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    try {
      do {
        // Lets this turn's writes, and those the last batch's callers issue next, join the batch.
        await nextTurn();
        await this.send(this.take());
      } while (this.queue.length > 0);
    } finally {
      this.running = null;
    }
  }

  private take(): Pending[] {
    const keys = new Set<string>();
    let chars = 0;
    let n = 0;
    for (const pending of this.queue) {
      if (n === MAX_BATCH_WRITES) break;
      // One statement's parts share a snapshot: a second write to a row waits for the next batch.
      const key = `${pending.write.table}\0${pending.params[pending.write.keyIndex]}`;
      if (keys.has(key)) break;
      const size = textLength(pending.params);
      if (n > 0 && chars + size > MAX_BATCH_CHARS) break;
      keys.add(key);
      chars += size;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async send(batch: readonly Pending[]): Promise<void> {
    const groups = new Map<GroupedWrite, Pending[]>();
    for (const pending of batch) {
      if (!this.kinds.has(pending.write)) this.kinds.set(pending.write, this.kinds.size);
      const group = groups.get(pending.write);
      if (group) group.push(pending);
      else groups.set(pending.write, [pending]);
    }
    const ordered = [...groups].sort(([a], [b]) => this.kinds.get(a)! - this.kinds.get(b)!);
    let missed: Set<string>;
    try {
      const values = ordered.map(([, group]) => JSON.stringify(group.map((p) => p.params)));
      const result = await this.driver.query({ ...this.statement(ordered.map(([write]) => write)), values, rowMode: 'array' });
      missed = new Set(result.rows.map(([part, key]) => `${String(part)}\0${String(key)}`));
    } catch (err) {
      await this.oneByOne(batch, err);
      return;
    }
    ordered.forEach(([write, group], part) => {
      for (const p of group) {
        p.resolve(write.kind === 'update' && missed.has(`${part}\0${String(p.params[write.keyIndex])}`) ? 0 : 1);
      }
    });
  }

  /**
   * A batch the server refused because of some row's data is retried write by write, in order, so
   * only that row's caller fails (a duplicate key still reaches just its caller as `conflict`),
   * and a value JSON cannot carry (a lone UTF-16 surrogate) is bound as text like any other write.
   * Any other failure (database down, timeout) fails every write: none of them is stored.
   */
  private async oneByOne(batch: readonly Pending[], batchError: unknown): Promise<void> {
    let down: Error | null = isRowError(batchError) ? null : this.driver.fail(batchError);
    for (const pending of batch) {
      if (down) {
        pending.reject(down);
        continue;
      }
      try {
        pending.resolve(await this.driver.runOne(pending.write, pending.params));
      } catch (err) {
        const error = this.driver.fail(err);
        pending.reject(error);
        if (!isRowError(err)) down = error;
      }
    }
  }

  private statement(writes: readonly GroupedWrite[]): Statement {
    const id = writes.map((w) => this.kinds.get(w)).join('_');
    let statement = this.statements.get(id);
    if (!statement) {
      statement = { name: `gatehouse_group_${id}`, text: batchSql(writes) };
      this.statements.set(id, statement);
    }
    return statement;
  }
}

/**
 * One statement for a batch: a data-modifying CTE per kind of write, each reading its rows from
 * one JSON array of parameter arrays. It returns the keys of updates that matched no row,
 * numbered by the kind's part.
 */
export function batchSql(writes: readonly GroupedWrite[]): string {
  const parts: string[] = [];
  const missed: string[] = [];
  writes.forEach((write, part) => {
    const names = write.columns.map(([name]) => name);
    const fields = write.columns.map(([name, type], i) => `(r->>${i})::${type} AS ${name}`);
    const rows = `SELECT ${fields.join(', ')} FROM jsonb_array_elements($${part + 1}::jsonb) AS r`;
    if (write.kind === 'insert') {
      parts.push(`w${part} AS (INSERT INTO ${write.table} (${names.join(', ')}) ${rows})`);
      return;
    }
    const key = names[write.keyIndex]!;
    const set = names.filter((_, i) => i !== write.keyIndex).map((name) => `${name} = v.${name}`);
    parts.push(`v${part} AS (${rows})`);
    // The ANY keeps the update on the key's index whatever number of rows the planner guesses.
    parts.push(
      `w${part} AS (UPDATE ${write.table} AS t SET ${set.join(', ')} FROM v${part} AS v ` +
        `WHERE t.${key} = v.${key} AND t.${key} = ANY(ARRAY(SELECT ${key} FROM v${part})) RETURNING t.${key} AS k)`,
    );
    missed.push(`SELECT ${part} AS part, ${key} AS k FROM v${part} WHERE ${key} NOT IN (SELECT k FROM w${part})`);
  });
  const result = missed.length > 0 ? missed.join(' UNION ALL ') : 'SELECT NULL AS part, NULL AS k WHERE false';
  return `WITH ${parts.join(',\n')}\n${result}`;
}

/** Errors that one row's data can cause (class 22 data exception, 23 constraint, 40 rollback such as deadlock). */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|40)[0-9A-Z]{3}$/.test(code);
}

function textLength(params: readonly SqlValue[]): number {
  let n = 0;
  for (const value of params) if (typeof value === 'string') n += value.length;
  return n;
}
