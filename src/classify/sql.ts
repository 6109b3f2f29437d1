/**
 * What a SQL string does, as PostgreSQL's own parser (libpg-query, PostgreSQL 17 as WASM)
 * sees it: statement kinds, tables, functions, WHERE-less writes and risky forms, at any
 * depth, including SQL text that functions such as query_to_xml or dblink run (sql/calls.ts).
 * Policy decides on these facts; this module never throws and never decides.
 */
import { loadModule } from 'libpg-query';
import type { SqlFacts } from '../interaction.ts';
import { classifyText } from './sql/classify-text.ts';
import type { Classified } from './sql/classify-text.ts';
import { failedFacts } from './sql/facts.ts';
import { FactsCache } from './sql/facts-cache.ts';
import type { FactsCacheStats } from './sql/facts-cache.ts';
import { sqlFingerprint } from './sql/fingerprint.ts';
import { SQL_FLAGS } from './sql/walk.ts';
import type { SqlFlag } from './sql/walk.ts';

export { SQL_FLAGS };
export type { SqlFlag };
export { sqlStatementNames } from './sql/facts.ts';
export type { SqlStatementNames } from './sql/facts.ts';

/** Enough for every distinct statement shape of a busy application, small enough to forget about. */
const CACHE_ENTRIES = 2048;
/** Longer texts (bulk INSERTs) are rarely repeated; caching them would only hold memory. */
const CACHE_MAX_TEXT = 8 * 1024;

/**
 * Longer statements are not parsed: the WASM parser runs on the event loop, and a multi-megabyte
 * text would stall every other session for its whole parse. They are classified as unparseable,
 * which the default policy denies; a rule can still allow `request.sql.parse_error` explicitly.
 */
export const MAX_CLASSIFIED_CHARS = 1024 * 1024;

/**
 * Keyed by the statement's shape (its text with literal values masked), else by the exact text:
 * the facts are a pure function of the text (the parser has no session state: no search_path, no
 * catalog), and of the shape while they read no literal's value. pgbench -M simple, like most
 * ORMs, inlines every value, so the exact text alone would never repeat. Cached facts are frozen
 * and shared.
 */
const cache = new FactsCache(CACHE_ENTRIES);
let parsed = 0;
let ready = false;

/** Loads the parser's WASM module; call once at start-up, before classifySql. */
export async function initSqlClassifier(): Promise<void> {
  await loadModule();
  ready = true;
}

/**
 * Classifies one SQL string (one or more statements). Unparseable text comes back with
 * `parseError` set, `kinds` empty and `flags.parse_error`, for policy to deny. `text` is always
 * the text given, even when the facts come from another text of the same shape.
 */
export function classifySql(text: string): SqlFacts {
  if (!ready) return failedFacts(text, 'SQL classifier not initialised (initSqlClassifier was not awaited)');
  if (text.length > MAX_CLASSIFIED_CHARS) {
    return failedFacts(text, `statement of ${text.length} characters exceeds the classifier's limit of ${MAX_CLASSIFIED_CHARS}`);
  }
  if (text.length > CACHE_MAX_TEXT) return parse(text).facts;
  const shape = sqlFingerprint(text);
  const hit = cache.get(text, shape);
  if (hit !== undefined) return hit;
  const { facts, readsLiterals } = parse(text);
  cache.set(text, shape, facts, readsLiterals);
  return facts;
}

function parse(text: string): Classified {
  parsed++;
  return classifyText(text);
}

/** How often classifySql parsed a text, and how often its cache answered instead (for metrics and tests). */
export function sqlClassifierStats(): FactsCacheStats & { readonly parsed: number } {
  return { ...cache.stats, parsed };
}
