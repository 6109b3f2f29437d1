/**
 * `gatehouse config check`: the whole gatehouse.yaml as `start` would read it, without starting.
 * Everything is reported at once (a reader fixes a file in one pass), each finding with its key.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { Command } from 'commander';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { parseConfig, type ConfigProblem } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';

export interface ConfigFinding {
  readonly level: 'error' | 'warning';
  readonly key: string;
  readonly message: string;
}

const DAY_MS = 86_400_000;

function problemsOf(err: unknown): ConfigProblem[] {
  if (err instanceof ConfigError && Array.isArray((err.details as { problems?: unknown } | undefined)?.problems)) {
    return (err.details as { problems: ConfigProblem[] }).problems;
  }
  throw err;
}

/**
 * Reads the file twice: with the real environment, to list every missing variable and secret file;
 * then with stand-ins for those, so the rest of the file is still checked.
 */
function parseTwice(text: string, file: string, env: NodeJS.ProcessEnv): { config: GatewayConfig | null; findings: ConfigFinding[] } {
  const findings: ConfigFinding[] = [];
  try {
    return { config: parseConfig(text, file, env), findings };
  } catch (err) {
    const problems = problemsOf(err);
    const unset = problems.filter((p) => / is not set$| is missing, unreadable or empty$/.test(p.message));
    for (const p of problems) findings.push({ level: 'error', key: `${p.line ? `line ${p.line}: ` : ''}${p.key}`, message: p.message });
    if (unset.length !== problems.length) return { config: null, findings };
  }
  const standIns = new Proxy({ ...env }, { get: (target, key: string) => target[key] || 'stand-in-for-config-check' });
  try {
    return { config: parseConfig(text, file, standIns, () => 'stand-in-for-config-check'), findings };
  } catch (err) {
    for (const p of problemsOf(err)) findings.push({ level: 'error', key: `${p.line ? `line ${p.line}: ` : ''}${p.key}`, message: p.message });
    return { config: null, findings };
  }
}

/** Two listeners on one port collide when their hosts overlap (the same, or either is every address). */
function listenerFindings(config: GatewayConfig): { findings: ConfigFinding[]; listeners: { key: string; host: string; port: number }[] } {
  const listeners = [
    { key: 'http.listen', ...config.http.listen },
    ...(config.admin.listen ? [{ key: 'admin.listen', ...config.admin.listen }] : []),
    ...(config.postgres?.listen ? [{ key: 'postgres.listen', ...config.postgres.listen }] : []),
  ];
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  const findings: ConfigFinding[] = [];
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const [a, b] = [listeners[i]!, listeners[j]!];
      if (a.port !== 0 && a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host))) {
        findings.push({ level: 'error', key: b.key, message: `${b.host}:${b.port} is also ${a.key}; give each listener its own port` });
      }
    }
  }
  return { findings, listeners };
}

/** A port in use now is likely a running gateway; said as a warning, since `start` would fail on it. */
async function portInUse(host: string, port: number): Promise<string | null> {
  if (port === 0) return null;
  const server = createServer();
  return new Promise((done) => {
    server.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'error'));
    server.listen(port, host, () => server.close(() => done(null)));
  });
}

function tlsFindings(key: string, certFile: string, keyFile: string, now: number): ConfigFinding[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certFile));
  } catch (err) {
    return [{ level: 'error', key: `${key}.cert`, message: `${certFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a PEM certificate'}` }];
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(readFileSync(keyFile));
  } catch (err) {
    // Never the file's content: it is a private key.
    return [{ level: 'error', key: `${key}.key`, message: `${keyFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a PEM private key'}` }];
  }
  if (!cert.checkPrivateKey(privateKey)) return [{ level: 'error', key: `${key}.key`, message: `${keyFile} is not the key of ${certFile}` }];
  const ends = Date.parse(cert.validTo);
  if (ends <= now) return [{ level: 'error', key: `${key}.cert`, message: `${certFile} expired on ${new Date(ends).toISOString()}` }];
  if (ends - now < 30 * DAY_MS) return [{ level: 'warning', key: `${key}.cert`, message: `${certFile} expires on ${new Date(ends).toISOString()}, in less than 30 days` }];
  return [];
}

/** Connections a rule names that this file does not define: fine only for ones added through the API. */
function ruleConnectionFindings(config: GatewayConfig, rules: readonly unknown[]): ConfigFinding[] {
  const defined = new Set(config.connections.map((c) => c.name));
  const findings: ConfigFinding[] = [];
  rules.forEach((rule, i) => {
    const r = rule as { name?: string; match?: { connections?: unknown } };
    const named = Array.isArray(r.match?.connections) ? (r.match!.connections as unknown[]).filter((c): c is string => typeof c === 'string') : [];
    for (const name of named.filter((c) => !defined.has(c))) {
      findings.push({ level: 'warning', key: `policy.rules[${i}]${r.name ? ` (${r.name})` : ''}`, message: `names connection "${name}", which this file does not define (fine if it is added through the API)` });
    }
  });
  return findings;
}

export interface PolicyChecker {
  (config: GatewayConfig, configFile: string): Promise<{ errors: { path: string; message: string; rule?: string }[]; warnings: { path: string; message: string; rule?: string }[]; rules: readonly unknown[] }>;
}

export async function checkConfigFile(file: string, env: NodeJS.ProcessEnv, checkPolicyOf: PolicyChecker, now: number = Date.now()): Promise<ConfigFinding[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
  }
  const { config, findings } = parseTwice(text, file, env);
  if (!config) return findings;
  const policy = await checkPolicyOf(config, file);
  for (const e of policy.errors) findings.push({ level: 'error', key: `policy${e.rule ? ` (${e.rule})` : ''} ${e.path}`.trim(), message: e.message });
  for (const w of policy.warnings) findings.push({ level: 'warning', key: `policy${w.rule ? ` (${w.rule})` : ''} ${w.path}`.trim(), message: w.message });
  findings.push(...ruleConnectionFindings(config, policy.rules));
  const { findings: clashes, listeners } = listenerFindings(config);
  findings.push(...clashes);
  for (const l of listeners) {
    const busy = await portInUse(l.host, l.port);
    if (busy === 'EADDRINUSE') findings.push({ level: 'warning', key: l.key, message: `${l.host}:${l.port} is in use now (a running gateway?); start would fail on it` });
    else if (busy === 'EADDRNOTAVAIL') findings.push({ level: 'error', key: l.key, message: `${l.host} is not an address of this machine` });
    else if (busy === 'EACCES') findings.push({ level: 'error', key: l.key, message: `port ${l.port} needs privileges; use 1024 or more` });
  }
  for (const [key, tls] of [['http.tls', config.http.tls], ['admin.tls', config.admin.tls], ['postgres.tls', config.postgres?.tls]] as const) {
    if (tls) findings.push(...tlsFindings(key, resolve(tls.cert), resolve(tls.key), now));
  }
  const keyFile = config.audit?.checkpoints?.keyFile;
  if (keyFile) {
    const path = isAbsolute(keyFile) ? keyFile : resolve(dirname(file), keyFile);
    try {
      readFileSync(path);
    } catch {
      findings.push({ level: 'error', key: 'audit.checkpoints.keyFile', message: `${path}: no such file, or unreadable` });
    }
  }
  return findings;
}

export function configCommands(print: (text: string) => void, env: NodeJS.ProcessEnv = process.env): Command[] {
  const config = new Command('config').description('check a gatehouse.yaml without starting the gateway');
  config
    .command('check [file]')
    .description('the whole file as start reads it: schema, missing environment variables and secret files, policy, rules naming unknown connections, listeners, TLS files')
    .action(async (file: string | undefined, _opts: unknown, command: Command) => {
      const path = resolve(file ?? 'gatehouse.yaml');
      const { policyCheckOf } = await import('./local-commands.ts');
      const findings = await checkConfigFile(path, env, (c, f) => policyCheckOf(c, f));
      const errors = findings.filter((f) => f.level === 'error').length;
      if (command.optsWithGlobals().json) print(JSON.stringify({ file: path, findings }, null, 2));
      else {
        for (const f of findings) print(`${f.level}: ${f.key}: ${f.message}`);
        print(errors === 0 ? `config OK: ${path} (${findings.length} warning(s))` : `${errors} error(s) in ${path}`);
      }
      if (errors > 0) process.exitCode = 1;
    });
  return [config];
}
