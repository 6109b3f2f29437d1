/**
 * µs per SQL classification for pgbench's TPC-B statements.
 *   cold:   every text is new (pgbench -M simple inlines the values), so every call parses
 *   cached: the same texts again (pgbench -M extended/prepared sends $n placeholders)
 * Run: node --import tsx bench/postgres/classify.ts   (about 10 s at most)
 */
import { classifySql, initSqlClassifier } from '../../src/classify/sql.ts';

const PHASE_MS = 4000;
const MAX_OPS = 200_000;

const TPCB = [
  'BEGIN;',
  'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;',
  'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
  'UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;',
  'UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;',
  'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);',
  'END;',
];

/** What pgbench -M simple sends: values inlined, so nearly every text is unique. */
function inlined(i: number): string {
  const values: Record<string, number> = { delta: (i % 10_000) - 5000, aid: 1 + i * 7919, tid: 1 + (i % 10), bid: 1 };
  return TPCB[i % TPCB.length]!.replace(/:(\w+)/g, (_, name: string) => String(values[name]));
}

/** What pgbench -M extended sends: the same few texts with $n parameters. */
const placeholders = TPCB.map((sql) => {
  let n = 0;
  const seen = new Map<string, number>();
  return sql.replace(/:(\w+)/g, (_, name: string) => `$${seen.get(name) ?? (seen.set(name, ++n), n)}`);
});

function measure(label: string, text: (i: number) => string): void {
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(PHASE_MS) * 1_000_000n;
  while (ops < MAX_OPS && (ops % 256 !== 0 || process.hrtime.bigint() < deadline)) {
    classifySql(text(ops));
    ops++;
  }
  const ns = Number(process.hrtime.bigint() - start);
  const us = ns / 1000 / ops;
  console.log(`${label.padEnd(8)} ${us.toFixed(2).padStart(8)} µs/statement  ${Math.round(1e6 / us).toLocaleString('en').padStart(10)} statements/s  (${ops} runs)`);
}

await initSqlClassifier();
for (let i = 0; i < 2000; i++) classifySql(inlined(MAX_OPS * 10 + i)); // warm the JIT and the WASM code
console.log(`pgbench TPC-B statements, Node ${process.version}`);
measure('cold', (i) => inlined(i));
measure('cached', (i) => placeholders[i % placeholders.length]!);
