/**
 * µs per SQL classification for pgbench's TPC-B statements, the ways a client can send them:
 *   exact:       values inlined (pgbench -M simple), cached by exact text only (the classifier
 *                before shapes): every text is new, so every call parses and walks
 *   shape:       the same texts through classifySql, cached by statement shape
 *   fingerprint: the shape pass alone, the part of `shape` that a hit cannot skip
 *   prepared:    the texts with $n parameters (pgbench -M extended), through classifySql
 * The methods run interleaved, in rounds, so the machine's drift falls on all of them alike;
 * each figure is the median over rounds. Compare the ratios, not the absolute numbers.
 * Run: node --import tsx bench/postgres/classify.ts   (about 15 s)
 */
import { classifySql, initSqlClassifier } from '../../src/classify/sql.ts';
import { classifyText } from '../../src/classify/sql/classify-text.ts';
import { sqlFingerprint } from '../../src/classify/sql/fingerprint.ts';
import { LruCache } from '../../src/classify/sql/lru.ts';
import type { SqlFacts } from '../../src/interaction.ts';

const ROUNDS = 5;
/** Timed work per method and round; the texts are made outside the timed part. */
const SLICE_MS = 400;
const BATCH = 256;

type Values = { readonly delta: number; readonly aid: number; readonly tid: number; readonly bid: number };
/** pgbench's TPC-B script (scale 100), values inlined as pgbench -M simple sends them. */
const TPCB: readonly ((v: Values) => string)[] = [
  () => 'BEGIN;',
  (v) => `UPDATE pgbench_accounts SET abalance = abalance + ${v.delta} WHERE aid = ${v.aid};`,
  (v) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${v.aid};`,
  (v) => `UPDATE pgbench_tellers SET tbalance = tbalance + ${v.delta} WHERE tid = ${v.tid};`,
  (v) => `UPDATE pgbench_branches SET bbalance = bbalance + ${v.delta} WHERE bid = ${v.bid};`,
  (v) => `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${v.tid}, ${v.bid}, ${v.aid}, ${v.delta}, CURRENT_TIMESTAMP);`,
  () => 'END;',
];
/** What pgbench -M extended sends: the same few texts with $n parameters. */
const PREPARED: readonly string[] = [
  'BEGIN;',
  'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;',
  'SELECT abalance FROM pgbench_accounts WHERE aid = $1;',
  'UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;',
  'UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;',
  'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);',
  'END;',
];

let serial = 0;
const random = (n: number) => 1 + Math.floor(Math.random() * n);
/** Every call a new text, as -M simple sends them. */
const inlined = (): string => TPCB[serial++ % TPCB.length]!({ delta: random(10_001) - 5001, aid: random(10_000_000), tid: random(1000), bid: random(100) });
const prepared = (): string => PREPARED[serial++ % PREPARED.length]!;

const exactCache = new LruCache<string, SqlFacts>(2048);
function exactOnly(text: string): unknown {
  const hit = exactCache.get(text);
  if (hit !== undefined) return hit;
  const { facts } = classifyText(text);
  exactCache.set(text, facts);
  return facts;
}

const methods: Readonly<Record<string, { readonly text: () => string; readonly run: (text: string) => unknown }>> = {
  exact: { text: inlined, run: exactOnly },
  shape: { text: inlined, run: classifySql },
  fingerprint: { text: inlined, run: sqlFingerprint },
  prepared: { text: prepared, run: classifySql },
};

/** µs per call over one slice of timed work. */
function slice({ text, run }: (typeof methods)[string]): number {
  let ops = 0;
  let elapsed = 0;
  const batch: string[] = new Array(BATCH);
  while (elapsed < SLICE_MS) {
    for (let i = 0; i < BATCH; i++) batch[i] = text();
    const start = performance.now();
    for (let i = 0; i < BATCH; i++) run(batch[i]!);
    elapsed += performance.now() - start;
    ops += BATCH;
  }
  return (elapsed * 1000) / ops;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await initSqlClassifier();
for (const method of Object.values(methods)) for (let i = 0; i < 2000; i++) method.run(method.text()); // warm the JIT and the WASM code
const samples = new Map<string, number[]>(Object.keys(methods).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, method] of Object.entries(methods)) samples.get(name)!.push(slice(method));
}

const us = new Map([...samples].map(([name, xs]) => [name, median(xs)]));
console.log(`pgbench TPC-B statements, Node ${process.version}, median of ${ROUNDS} interleaved rounds`);
for (const [name, value] of us) {
  console.log(`${name.padEnd(12)} ${value.toFixed(2).padStart(8)} µs/statement  ${Math.round(1e6 / value).toLocaleString('en').padStart(12)} statements/s`);
}
console.log(`exact / shape: ${(us.get('exact')! / us.get('shape')!).toFixed(1)}×   exact / fingerprint: ${(us.get('exact')! / us.get('fingerprint')!).toFixed(1)}×`);
