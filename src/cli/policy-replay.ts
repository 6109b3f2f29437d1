import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { parseDocument } from 'yaml';
import { ConfigError, InvalidArgument } from '../errors.ts';
import type { ConnectionType } from '../interaction.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { CompiledPolicy } from '../policy/engine.ts';
import type { GrantFact } from '../policy/types.ts';
import type { ReplayChange, ReplayRecord, ReplayReport } from '../policy/replay.ts';
import type { GrantRow, RecordedInteraction, Store } from '../store/types.ts';

type Print = (text: string) => void;

/** The exit code of a replay that found changes named by `--fail-on` (0: none; 1 and 2: it could not run). */
export const REPLAY_CHANGED_EXIT = 4;
const FAIL_ON = ['denied', 'allowed', 'held', 'unheld', 'inexact'] as const;
type FailOn = (typeof FAIL_ON)[number];
const DEFAULT_SINCE = '7d';
const PAGE_SIZE = 500;
// Keyed by ConnectionType, so a type added later fails to compile here until it is listed.
const CONNECTION_TYPES: ReadonlySet<string> = new Set(
  Object.keys({ openai: true, http: true, postgres: true, mcp: true, anthropic: true, gemini: true, 'azure-openai': true, bedrock: true, s3: true } satisfies Record<ConnectionType, true>),
);

export interface ReplayRangeFlags {
  readonly since?: string;
  readonly from?: string;
  readonly to?: string;
}

function parseTime(flag: string, text: string): number {
  // Date.parse also reads forms like "1" or "March 7"; only ISO 8601 dates and times are meant.
  const ms = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgument(`${flag} must be an ISO 8601 date or time such as 2026-12-01 or 2026-12-01T08:00:00Z, got ${JSON.stringify(text)}`);
  return ms;
}

/** [from, to) of a replay: `--since` back from now, or `--from` (and `--to`, default now). */
export async function replayRange(flags: ReplayRangeFlags, now: number): Promise<{ from: number; to: number }> {
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw new InvalidArgument('give either --since or --from/--to, not both');
  }
  const { parseDuration } = await import('../util/durations.ts');
  let from: number;
  let to = now;
  if (flags.from !== undefined || flags.to !== undefined) {
    if (flags.from === undefined) throw new InvalidArgument('--to needs --from');
    from = parseTime('--from', flags.from);
    if (flags.to !== undefined) to = parseTime('--to', flags.to);
  } else {
    let ms: number;
    try {
      ms = parseDuration(flags.since ?? DEFAULT_SINCE);
    } catch (err) {
      throw new InvalidArgument(`--since: ${(err as Error).message}`);
    }
    if (ms === 0) throw new InvalidArgument('--since must be longer than 0s');
    from = Math.max(0, now - ms);
  }
  if (from >= to) throw new InvalidArgument('the time range is empty: --from must come before --to');
  return { from, to };
}

/** `--fail-on` as a set; `none` never fails. */
export function parseFailOn(text: string | undefined): ReadonlySet<ReplayChange | 'inexact'> {
  if (text === undefined) return new Set(['denied', 'allowed', 'held', 'unheld']);
  const items = text.split(',').map((v) => v.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'none') return new Set();
  if (items.length === 0) throw new InvalidArgument(`--fail-on needs one or more of ${FAIL_ON.join(', ')} (or none)`);
  for (const item of items) {
    if (!(FAIL_ON as readonly string[]).includes(item)) throw new InvalidArgument(`--fail-on: ${JSON.stringify(item)} is not one of ${FAIL_ON.join(', ')}, none`);
  }
  return new Set(items as FailOn[]);
}

export function parseExamples(text: string | undefined): number {
  if (text === undefined) return 3;
  if (!/^\d{1,3}$/.test(text) || Number(text) > 100) throw new InvalidArgument(`--examples must be a whole number from 0 to 100, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The candidate: a gatehouse.yaml (its `policy:` section), a policy section itself (`rules:`, `packs:`, `dir:`) or a bare list of rules. */
export async function loadCandidate(file: string, knownMaskProfiles: readonly string[]): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the candidate policy ${file}: ${(err as Error).message}`, { cause: err });
  }
  const doc = parseDocument(text);
  const [first] = doc.errors;
  if (first !== undefined) throw new ConfigError(`${file}: invalid YAML: ${first.message}`, { cause: first });
  const content: unknown = doc.toJS();
  if (content === null || typeof content !== 'object') {
    throw new ConfigError(`${file}: a candidate policy is a gatehouse.yaml with a policy section, a policy section (rules:, packs:, dir:) or a list of rules`);
  }
  const section = Array.isArray(content) ? { rules: content } : 'policy' in content ? (content as { policy: unknown }).policy : content;
  const { loadPolicy } = await import('../policy/index.ts');
  return loadPolicy(section, { baseDir: dirname(resolve(file)), knownMaskProfiles });
}

export interface ReplayStoreOptions {
  readonly from: number;
  readonly to: number;
  readonly connection?: string;
  readonly examples: number;
  /** Connections of the config file (the store adds those created through the API). */
  readonly configured: readonly { name: string; type: string; tags: readonly string[] }[];
  readonly mask: (text: string) => string;
  readonly pageSize?: number;
}

const grantLive = (g: GrantRow, connection: string, at: number): boolean =>
  g.connection === connection && g.grantedAt <= at && at < g.expiresAt && (g.endedAt === null || g.endedAt > at);

/**
 * Replays the store's interactions in [from, to) page by page: what the records do not hold (the
 * principal's groups, the connection's type and tags, the grants of the time) is looked up once each.
 */
export async function replayStore(store: Store, engine: CompiledPolicy, options: ReplayStoreOptions): Promise<ReplayReport> {
  const { PolicyReplay } = await import('../policy/replay.ts');
  const replay = new PolicyReplay(engine, { examples: options.examples, mask: options.mask });
  const connections = new Map<string, { type: ConnectionType; tags: readonly string[] }>();
  for (const c of await store.listConnections()) if (CONNECTION_TYPES.has(c.type)) connections.set(c.name, { type: c.type as ConnectionType, tags: c.tags });
  for (const c of options.configured) if (CONNECTION_TYPES.has(c.type)) connections.set(c.name, { type: c.type as ConnectionType, tags: c.tags });
  const groups = new Map<string, Promise<readonly string[] | null>>();
  const grants = new Map<string, Promise<GrantRow[]>>();
  const groupsOf = (id: string) => {
    let found = groups.get(id);
    if (!found) groups.set(id, (found = store.getPrincipal(id).then((p) => p?.groups ?? null)));
    return found;
  };
  const grantsOf = (id: string) => {
    let found = grants.get(id);
    if (!found) grants.set(id, (found = store.listGrants({ principalId: id, limit: 10_000 })));
    return found;
  };

  const toRecord = async (row: RecordedInteraction): Promise<ReplayRecord> => {
    const { principalId, principalName, connection } = row.session;
    const known = connections.get(connection);
    let live: GrantFact[] | null = null;
    if (engine.readsGrants && principalId !== null) {
      live = (await grantsOf(principalId))
        .filter((g) => grantLive(g, connection, row.startedAt))
        .map((g) => ({ id: g.id, connection: g.connection, reason: g.reason, grantedAt: g.grantedAt, expiresAt: g.expiresAt, approvedBy: g.approvedBy }));
    }
    return {
      id: row.id,
      startedAt: row.startedAt,
      kind: row.kind,
      decision: row.decision,
      rule: row.rule,
      method: row.method,
      target: row.target,
      model: row.model,
      summary: row.summary,
      principal: { id: principalId, name: principalName, groups: principalId === null ? null : await groupsOf(principalId) },
      connection: { name: connection, type: known?.type ?? null, tags: known?.tags ?? null },
      grants: live,
    };
  };

  const pageSize = options.pageSize ?? PAGE_SIZE;
  let after: string | undefined;
  for (;;) {
    const page = await store.listInteractionsBetween({ from: options.from, to: options.to, limit: pageSize, ...(after ? { after } : {}), ...(options.connection ? { connection: options.connection } : {}) });
    for (const row of page) replay.add(await toRecord(row));
    if (page.length < pageSize) break;
    after = page[page.length - 1]!.id;
  }
  return replay.report();
}

/** Opens the store a config names, as it is: no migration runs, and a missing SQLite file is not created. */
async function openExistingStore(config: GatewayConfig, env: NodeJS.ProcessEnv): Promise<Store> {
  const url = env.GATEHOUSE_DATABASE_URL || config.store.databaseUrl;
  if (url) return (await import('../store/postgres.ts')).openPostgresStore(url);
  const file = resolve(config.store.sqlitePath ?? './data/gatehouse.db');
  if (!existsSync(file)) throw new InvalidArgument(`no recorded traffic: the store ${file} does not exist (set store.sqlitePath or GATEHOUSE_DATABASE_URL)`);
  return (await import('../store/sqlite.ts')).openSqliteStore(file);
}

async function maskerOf(config: GatewayConfig) {
  const { compileMaskingProfiles, DEFAULT_PROFILES } = await import('../masking/index.ts');
  const profiles = compileMaskingProfiles({ ...config.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config.masking?.profiles } }, randomBytes(32));
  // A report line is masked for PII and secrets whatever the rule of the time masked.
  const pii = profiles.get('pii')!;
  const secrets = profiles.get('secrets')!;
  return { names: profiles.names, mask: (text: string) => secrets.maskText(pii.maskText(text).text).text };
}

export function policyReplayCommand(print: Print, readConfig: (file: string) => Promise<GatewayConfig>): Command {
  return new Command('replay')
    .description('run a candidate policy over recorded traffic and report, per rule, the requests it would decide differently')
    .requiredOption('--policy <file>', 'the candidate policy: a gatehouse.yaml (its policy section), a policy section or a list of rules')
    .option('--since <duration>', `how far back to replay, e.g. 12h or 7d (default ${DEFAULT_SINCE})`)
    .option('--from <time>', 'replay from this ISO 8601 date or time (instead of --since)')
    .option('--to <time>', 'replay up to this time (default now)')
    .option('--connection <name>', 'only requests to this connection')
    .option('--examples <n>', 'examples shown per rule (default 3)')
    .option('--fail-on <changes>', 'changes that make the exit code 4: denied, allowed, held, unheld, inexact, or none (default denied,allowed,held,unheld)')
    .option('-c, --config <file>', "the gateway's config file, whose store is read (default ./gatehouse.yaml)")
    .action(async (opts: Record<string, string | undefined>, command: Command) => {
      const range = await replayRange({ since: opts.since, from: opts.from, to: opts.to }, Date.now());
      const failOn = parseFailOn(opts.failOn);
      const examples = parseExamples(opts.examples);
      const config = await readConfig(opts.config ?? 'gatehouse.yaml');
      const masker = await maskerOf(config);
      const engine = await loadCandidate(opts.policy!, masker.names);
      const store = await openExistingStore(config, process.env);
      let report: ReplayReport;
      try {
        report = await replayStore(store, engine, { ...range, connection: opts.connection, examples, configured: config.connections, mask: masker.mask });
      } finally {
        await store.close();
      }
      const { replayFails } = await import('../policy/replay.ts');
      const fails = replayFails(report, failOn);
      if (command.optsWithGlobals().json) {
        const json = { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), connection: opts.connection ?? null, ...report, fails };
        print(JSON.stringify(json, null, 2));
      } else {
        const { formatReplayReport } = await import('../policy/replay-report.ts');
        print(formatReplayReport(report, { ...range, ...(opts.connection ? { connection: opts.connection } : {}) }));
      }
      if (fails) process.exitCode = REPLAY_CHANGED_EXIT;
    });
}
