import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { agentFlags } from './agents-commands.ts';
import { Command } from 'commander';
import YAML from 'yaml';
import { ConfigError, InvalidArgument } from '../errors.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { PolicyFile } from '../policy/index.ts';
import { policyReplayCommand } from './policy-replay.ts';

// Loaded when a local command runs, not when the CLI starts: every other command would pay for them.
const policyModule = () => import('../policy/index.ts');
const maskingModule = () => import('../masking/index.ts');

type Print = (text: string) => void;

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

/** The local checks read the config file directly; `${ENV}` references they do not need may be unset. */
export async function readConfig(file: string): Promise<GatewayConfig> {
  const env = new Proxy({ ...process.env }, { get: (target, key: string) => target[key] ?? 'unset-for-local-check' });
  const { loadConfigFile } = await import('../config/load.ts');
  return loadConfigFile(resolve(file), env);
}

async function profilesOf(config: GatewayConfig | null) {
  const { compileMaskingProfiles, DEFAULT_PROFILES } = await maskingModule();
  // The key only shapes pseudonyms; a local dry run need not match the gateway's.
  return compileMaskingProfiles({ ...config?.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config?.masking?.profiles } }, randomBytes(32));
}

function jsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidArgument(`${flag} must be JSON, e.g. '{"query": "select 1"}'`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function optionalConfig(file: string | undefined): Promise<GatewayConfig | null> {
  if (file) return readConfig(file);
  try {
    return await readConfig('gatehouse.yaml');
  } catch (err) {
    // No gatehouse.yaml here is fine for a local check; any other failure to read it is not.
    if (err instanceof ConfigError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
    throw err;
  }
}


/** A gatehouse.yaml (connections, listeners, a policy section) rather than a file of rules. */
function isMainConfig(content: unknown): boolean {
  if (!content || typeof content !== 'object' || Array.isArray(content)) return false;
  return ['policy', 'connections', 'http', 'store', 'identity'].some((key) => key in content);
}

/** The policy of a config and extra rule files checked as `start` would compile it; also the rules, for config check. */
export async function policyCheckOf(config: GatewayConfig | null, configFile: string, extra: PolicyFile[] = []) {
  const { checkPolicy, loadPolicyFiles } = await policyModule();
  const dir = config?.policy.dir ? await loadPolicyFiles(resolve(dirname(resolve(configFile)), config.policy.dir)) : [];
  const result = checkPolicy(config?.policy ?? {}, { files: [...dir, ...extra], knownMaskProfiles: (await profilesOf(config)).names });
  const rulesOf = (content: unknown): unknown[] => (Array.isArray(content) ? content : Array.isArray((content as { rules?: unknown })?.rules) ? (content as { rules: unknown[] }).rules : []);
  return { ...result, rules: [...(config?.policy.rules ?? []), ...[...dir, ...extra].flatMap((f) => rulesOf(f.content))] };
}

export function localCommands(print: Print): Command[] {
  const mask = new Command('mask').description('try masking profiles locally');
  mask
    .command('test [text]')
    .description('show what a profile masks in TEXT (or standard input) and which detector found it')
    .requiredOption('-p, --profile <name>', 'masking profile (built in: secrets, pii; or from the config)')
    .option('-c, --config <file>', 'config file with masking profiles (default ./gatehouse.yaml if present)')
    .action(async (text: string | undefined, opts: { profile: string; config?: string }, command: Command) => {
      const profiles = await profilesOf(await optionalConfig(opts.config));
      const { explainMasking } = await maskingModule();
      const profile = profiles.get(opts.profile);
      if (!profile) throw new InvalidArgument(`no masking profile "${opts.profile}" (have: ${profiles.names.join(', ')})`);
      const input = text ?? (await readStdin());
      const result = explainMasking(profile, input);
      if (command.optsWithGlobals().json) return print(JSON.stringify(result, null, 2));
      const lines = result.findings.map((f) => `  ${f.type.padEnd(20)} ${f.detector.padEnd(22)} at ${f.start}-${f.end}  → ${f.replacement}`);
      print([result.text, '', result.findings.length ? `${result.findings.length} finding(s):` : 'nothing to mask', ...lines].join('\n'));
    });

  const policy = new Command('policy').description('check and dry-run policy locally');
  policy
    .command('check [files...]')
    .description('validate the policy in the config (and extra rule FILES): schema, CEL, packs, unreachable rules')
    .option('-c, --config <file>', 'config file (default ./gatehouse.yaml if present)')
    .action(async (files: string[], opts: { config?: string }, command: Command) => {
      const read = await Promise.all(files.map(async (file) => ({ file, content: YAML.parse(await readFile(file, 'utf8')) as unknown })));
      // The main config given as a FILE is read as the config, not refused as a malformed rule file.
      const mains = read.filter((f) => isMainConfig(f.content));
      if (mains.length > 1 || (mains.length === 1 && opts.config)) throw new InvalidArgument('give one main config: with --config, or as the only gatehouse.yaml among the FILES');
      const configFile = opts.config ?? mains[0]?.file;
      const config = await optionalConfig(configFile);
      const extra: PolicyFile[] = read.filter((f) => !isMainConfig(f.content)) as PolicyFile[];
      if (!config && extra.length === 0) throw new InvalidArgument('nothing to check: no ./gatehouse.yaml here; pass --config FILE or rule FILES');
      const { formatProblem } = await policyModule();
      const result = await policyCheckOf(config, configFile ?? 'gatehouse.yaml', extra);
      if (command.optsWithGlobals().json) print(JSON.stringify({ errors: result.errors, warnings: result.warnings }, null, 2));
      else {
        for (const e of result.errors) print(`error: ${formatProblem(e)}`);
        for (const w of result.warnings) print(`warning: ${formatProblem(w)}`);
        print(result.errors.length === 0 ? `policy OK (${result.warnings.length} warning(s))` : `${result.errors.length} error(s)`);
      }
      if (result.errors.length > 0) process.exitCode = 1;
    });

  policy
    .command('test')
    .description('print the decision, the matched rule and why, for a request described by flags')
    .requiredOption('--identity <name>', 'who is asking')
    .option('--groups <groups>', 'their groups (comma-separated)', list, [])
    .option('--kind <kind>', 'principal kind: user, service_account or admin', 'user')
    .requiredOption('--connection <name>', 'the connection (type and tags are read from the config when it defines it)')
    .option('--connection-type <type>', 'openai, http, postgres or mcp')
    .option('--tags <tags>', 'connection tags (comma-separated)', list)
    .option('--sql <statement>', 'a SQL statement')
    .option('--http <request>', 'an HTTP request, e.g. "DELETE /v1/files/1"')
    .option('--llm-prompt <text>', 'a prompt to an LLM')
    .option('--model <model>', 'the LLM model')
    .option('--mcp-tool <name>', 'an MCP tool call to this tool')
    .option('--mcp-arguments <json>', "the MCP tool call's arguments, as JSON")
    .option('--grant <reason>', 'a live just-in-time grant the identity holds for the connection, with this reason (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('--agent-name <name>', 'the agent the credential belongs to (agent.name)')
    .option('--agent-owner <owner>', "the agent's owner (agent.owner)")
    .option('--agent-label <key=value>', 'a label of the agent (agent.labels; repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('-c, --config <file>', 'config file (default ./gatehouse.yaml if present)')
    .action(async (opts: Record<string, any>, command: Command) => {
      const config = await optionalConfig(opts.config);
      const profiles = await profilesOf(config);
      const { buildTestInput, explainDecision, loadPolicy } = await policyModule();
      const engine = await loadPolicy(config?.policy ?? {}, { baseDir: dirname(resolve(opts.config ?? 'gatehouse.yaml')), knownMaskProfiles: profiles.names });
      const known = config?.connections.find((c) => c.name === opts.connection);
      // Importing the SQL parser instantiates its WASM module: only when there is SQL to classify, never for `gatehouse start`.
      const sql = opts.sql === undefined ? undefined : await import('../classify/sql.ts');
      await sql?.initSqlClassifier();
      const detector = profiles.get('pii')!;
      const input = buildTestInput(
        {
          identity: opts.identity,
          groups: opts.groups,
          kind: opts.kind,
          connection: opts.connection,
          connectionType: opts.connectionType ?? known?.type,
          connectionTags: opts.tags ?? known?.tags,
          sql: opts.sql,
          http: opts.http,
          llmPrompt: opts.llmPrompt,
          model: opts.model,
          mcpTool: opts.mcpTool,
          mcpArguments: opts.mcpArguments === undefined ? undefined : jsonFlag('--mcp-arguments', opts.mcpArguments),
          grants: opts.grant,
          ...agentFlags(opts),
        },
        { classifySql: sql?.classifySql, detectEntities: (text) => detector.detectEntities(text) },
      );
      const explanation = explainDecision(engine, input, { breakGlassGroups: config?.approvals?.breakGlassGroups ?? [] });
      const json = { decision: explanation.decision, steps: explanation.steps, ...(explanation.approval ? { approval: explanation.approval } : {}) };
      print(command.optsWithGlobals().json ? JSON.stringify(json, null, 2) : explanation.text);
      if (explanation.decision.action !== 'allow') process.exitCode = 3;
    });

  policy.addCommand(policyReplayCommand(print, readConfig));

  return [mask, policy];
}
