import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import YAML from 'yaml';
import { InvalidArgument } from '../errors.ts';
import { callApi, clientSettings } from './api-client.ts';
import { action, table, time } from './output.ts';
import { addTrailCommands } from './audit-commands.ts';
import { addSearchCommand, sessionsCommand } from './sessions-commands.ts';

type Print = (text: string) => void;

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export const ADDABLE_TYPES = 'openai, http, postgres, mcp, anthropic, gemini, azure-openai, bedrock, s3';

interface ConnectionAddOptions {
  type?: string;
  upstream?: string;
  tag: string[];
  credentialEnv?: string;
  credentialStdin?: boolean;
  credentialHeader?: string;
  credentialUsername?: string;
  fromFile?: string;
}

/** The PUT body: the file's fields, then the flags; the API validates the whole (one schema for file and API). */
async function connectionAddBody(opts: ConnectionAddOptions): Promise<Record<string, unknown>> {
  const base = opts.fromFile ? (YAML.parse(await readFile(opts.fromFile, 'utf8')) as unknown) : {};
  if (!base || typeof base !== 'object' || Array.isArray(base)) throw new InvalidArgument(`${opts.fromFile} must hold one connection (a mapping with type, upstream, …)`);
  const body: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  if (opts.type) body.type = opts.type;
  if (opts.upstream) body.upstream = opts.upstream;
  if (opts.tag.length > 0) body.tags = opts.tag;
  if (opts.credentialEnv && opts.credentialStdin) throw new InvalidArgument('give --credential-env or --credential-stdin, not both');
  const value = opts.credentialStdin ? await readStdin() : opts.credentialEnv ? process.env[opts.credentialEnv] : undefined;
  if (opts.credentialEnv && !value) throw new InvalidArgument(`environment variable ${opts.credentialEnv} is empty`);
  if ((opts.credentialHeader || opts.credentialUsername) && value === undefined) throw new InvalidArgument('--credential-header and --credential-username need the secret from --credential-env or --credential-stdin');
  if (opts.credentialHeader && opts.credentialUsername) throw new InvalidArgument('give --credential-header or --credential-username, not both');
  if (value !== undefined) {
    body.credential = opts.credentialHeader
      ? { type: 'header', header: opts.credentialHeader, value }
      : opts.credentialUsername !== undefined
        ? { type: 'basic', username: opts.credentialUsername, value }
        : value;
  }
  if (body.type === undefined || body.upstream === undefined) throw new InvalidArgument('a connection needs --type and --upstream (or both in --from-file)');
  return body;
}

export function adminCommands(print: Print): Command[] {
  const connections = new Command('connections').description('list and manage connections (targets behind the gateway)');
  connections.command('list').description('list connections').action(
    action(print, async () => {
      const { connections: rows } = await callApi<{ connections: Record<string, unknown>[] }>(await clientSettings(), 'GET', '/connections');
      return { json: rows, human: table(rows, ['name', 'type', 'upstream', 'tags', 'hasCredential', 'source']) };
    }),
  );
  connections
    .command('add <name>')
    .description('add or update a connection kept in the store (credential sealed at rest); any type and credential form the API accepts')
    // Listed, not imported: the config schema would cost every command its load time; a test keeps the list whole.
    .option('--type <type>', `connection type: ${ADDABLE_TYPES}`)
    .option('--upstream <url>', 'upstream base URL, e.g. https://api.openai.com (postgres://host:port/db for postgres)')
    .option('--tag <tag>', 'tag (repeatable or comma-separated)', collect, [])
    .option('--credential-env <VAR>', 'read the upstream credential (its secret part) from this environment variable')
    .option('--credential-stdin', 'read the upstream credential (its secret part) from standard input')
    .option('--credential-header <name>', 'send the credential in this header ({ type: header }) instead of as a bearer token')
    .option('--credential-username <user>', 'send it as HTTP basic auth or a database login with this user ({ type: basic })')
    .option('--from-file <file>', 'the connection as a YAML or JSON file (as in gatehouse.yaml, without name): credential objects such as aws or entra, mcp options; the flags above override it')
    .action(
      action(print, async (name: string, opts: ConnectionAddOptions) => {
        const body = await connectionAddBody(opts);
        const view = await callApi<Record<string, unknown>>(await clientSettings(), 'PUT', `/connections/${encodeURIComponent(name)}`, body);
        return { json: view, human: `connection ${name} saved (credential ${view.hasCredential ? 'stored, sealed' : 'none'})` };
      }),
    );

  connections.command('remove <name>').description('remove a connection added through the API').action(
    action(print, async (name: string) => {
      await callApi(await clientSettings(), 'DELETE', `/connections/${encodeURIComponent(name)}`);
      return { json: { removed: name }, human: `connection ${name} removed` };
    }),
  );

  const token = new Command('token').description('short-lived agent tokens (gth_)');
  token
    .command('create')
    .description('issue a gth_ token bound to you (or --for a user), scoped to connections; printed once')
    .requiredOption('--connection <name>', 'connection the token may reach (repeatable or comma-separated)', collect)
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h (default and maximum from config)')
    .option('--name <name>', 'a label to recognise the token by', 'agent token')
    .option('--for <user>', 'issue for this user instead of yourself')
    .option('--groups <groups>', 'groups of the --for user when first created (comma-separated)', collect, [])
    .option('--agent <name|id>', 'the agent it belongs to (created when new); default: the agent named after --name')
    .action(
      action(print, async (opts: { connection: string[]; ttl?: string; name: string; for?: string; groups: string[]; agent?: string }) => {
        const body = { connections: opts.connection, name: opts.name, ...(opts.agent ? { agent: opts.agent } : {}), ...(opts.ttl ? { ttl: opts.ttl } : {}), ...(opts.for ? { for: { user: opts.for, groups: opts.groups } } : {}) };
        const created = await callApi<{ token: string; id: string; expiresAt: number }>(await clientSettings(), 'POST', '/tokens', body);
        return { json: created, human: `${created.token}\n(id ${created.id}, expires ${time(created.expiresAt)}; shown once)` };
      }),
    );
  token
    .command('list')
    .description('list live tokens')
    .option('--all', 'include revoked and expired tokens')
    .action(
      action(print, async (opts: { all?: boolean }) => {
        const { tokens } = await callApi<{ tokens: Record<string, any>[] }>(await clientSettings(), 'GET', `/tokens${opts.all ? '?all=true' : ''}`);
        const rows = tokens.map((t) => ({ ...t, expires: time(t.expiresAt), revoked: time(t.revokedAt) }));
        return { json: tokens, human: table(rows, ['id', 'kind', 'name', 'principal', 'connections', 'expires', 'revoked']) };
      }),
    );
  token.command('revoke <id>').description('revoke a token (and every token bought with it); live sessions using it end').action(
    action(print, async (id: string) => {
      const { revoked } = await callApi<{ revoked: string[] }>(await clientSettings(), 'DELETE', `/tokens/${encodeURIComponent(id)}`);
      return { json: { revoked }, human: `revoked ${revoked.length} token(s): ${revoked.join(', ')}` };
    }),
  );
  token
    .command('exchange')
    .description('trade a service-account secret (GATEHOUSE_SA_SECRET or --secret-stdin), or a workload\'s own token (--subject-token-file, --subject-token -), for a short-lived gth_ token')
    .option('--ttl <duration>', 'lifetime, e.g. 15m')
    .option('--connection <name>', 'narrow to these connections', collect)
    .option('--secret-stdin', 'read the gts_ secret from standard input')
    .option('--subject-token-file <file>', "workload identity federation: the file holding the workload's own JWT (a CI job's OIDC token)")
    .option('--subject-token <source>', "workload identity federation: - reads the workload's JWT from standard input")
    .action(
      action(print, async (opts: { ttl?: string; connection?: string[]; secretStdin?: boolean; subjectTokenFile?: string; subjectToken?: string }) => {
        if (opts.subjectTokenFile !== undefined || opts.subjectToken !== undefined) {
          if (opts.ttl || opts.secretStdin) throw new Error('a workload token exchange takes its lifetime from the trust: drop --ttl and --secret-stdin');
          const { exchangeSubjectToken, readSubjectToken } = await import('./token-exchange.ts');
          const subject = await readSubjectToken(opts, readStdin);
          const issued = await exchangeSubjectToken((await clientSettings()).url, subject, opts.connection);
          return { json: issued, human: issued.access_token };
        }
        const secret = opts.secretStdin ? await readStdin() : process.env.GATEHOUSE_SA_SECRET;
        if (!secret) throw new Error('no service-account secret: set GATEHOUSE_SA_SECRET or pass --secret-stdin');
        const body = { ...(opts.ttl ? { ttl: opts.ttl } : {}), ...(opts.connection ? { connections: opts.connection } : {}) };
        const created = await callApi<{ token: string; expiresAt: number }>(await clientSettings(), 'POST', '/token/exchange', body, secret);
        return { json: created, human: created.token };
      }),
    );

  const accounts = new Command('service-accounts').description('non-human identities whose gts_ secret buys short-lived tokens');
  accounts
    .command('create <name>')
    .description('create a service account; its gts_ secret is printed once')
    .requiredOption('--owner <person>', 'the person accountable for it')
    .requiredOption('--connections <names>', 'connections it may reach (comma-separated)', collect)
    .requiredOption('--expires <duration>', 'lifetime, e.g. 30d (mandatory; capped by config)')
    .option('--groups <groups>', 'groups for policy (comma-separated)', collect, [])
    .action(
      action(print, async (name: string, opts: { owner: string; connections: string[]; expires: string; groups: string[] }) => {
        const created = await callApi<{ secret: string; id: string; expiresAt: number }>(await clientSettings(), 'POST', '/service-accounts', { name, ...opts });
        return { json: created, human: `${created.secret}\n(service account ${name}, id ${created.id}, expires ${time(created.expiresAt)}; secret shown once)` };
      }),
    );
  accounts.command('list').description('list service accounts').action(
    action(print, async () => {
      const { serviceAccounts } = await callApi<{ serviceAccounts: Record<string, any>[] }>(await clientSettings(), 'GET', '/service-accounts');
      const rows = serviceAccounts.map((a) => ({ ...a, expires: time(a.expiresAt), disabled: time(a.disabledAt) }));
      return { json: serviceAccounts, human: table(rows, ['id', 'name', 'owner', 'connections', 'expires', 'disabled']) };
    }),
  );
  accounts.command('disable <name>').description('disable a service account and revoke everything it issued').action(
    action(print, async (name: string) => {
      const result = await callApi<{ revoked: string[] }>(await clientSettings(), 'DELETE', `/service-accounts/${encodeURIComponent(name)}`);
      return { json: result, human: `disabled ${name}; revoked ${result.revoked.length} token(s)` };
    }),
  );

  const principals = new Command('principals').description('people and service accounts');
  principals.command('revoke <name>').description('offboard: revoke every token of a user or service account and end their live sessions').action(
    action(print, async (name: string) => {
      const result = await callApi<{ revoked: string[] }>(await clientSettings(), 'POST', `/principals/${encodeURIComponent(name)}/revoke`);
      return { json: result, human: `revoked ${result.revoked.length} token(s) of ${name}` };
    }),
  );

  const sessions = sessionsCommand(print);

  const audit = new Command('audit').description('admin actions and who made them; the tamper-evident trail');
  addTrailCommands(audit, print);
  addSearchCommand(audit, print);
  audit
    .command('events')
    .description('list admin actions, newest first: who changed what, who was refused, every use of the break-glass token')
    .option('--limit <n>', 'how many', '50')
    .option('--actor <name>', 'only actions by this identity (name or id)')
    .option('--action <name>', 'only this action, e.g. createToken, revokeToken or approval.approved')
    .option('--target <id>', 'only events about this target, e.g. an approval id (its whole trail)')
    .option('--before <id>', 'only events older than this event id (the last id of the previous page)')
    .action(
      action(print, async (opts: { limit: string; actor?: string; action?: string; target?: string; before?: string }) => {
        const query = new URLSearchParams({
          limit: opts.limit,
          ...(opts.actor ? { actor: opts.actor } : {}),
          ...(opts.action ? { action: opts.action } : {}),
          ...(opts.target ? { target: opts.target } : {}),
          ...(opts.before ? { before: opts.before } : {}),
        });
        const { events } = await callApi<{ events: Record<string, any>[] }>(await clientSettings(), 'GET', `/audit/events?${query}`);
        const rows = events.map((e) => ({ ...e, at: time(e.at), actor: `${e.actorName} (${e.actorKind})`, outcome: e.outcome ?? 'unfinished' }));
        return { json: events, human: table(rows, ['at', 'actor', 'action', 'target', 'outcome', 'id']) };
      }),
    );

  const users = new Command('users').description('people: list them, and offboard one (disable cuts everything they hold)');
  users.command('list').description('list users, disabled ones included').action(
    action(print, async () => {
      const { users: rows } = await callApi<{ users: Record<string, any>[] }>(await clientSettings(), 'GET', '/users');
      const view = rows.map((u) => ({ ...u, disabled: time(u.disabledAt), provisioned: u.scim ? 'scim' : '' }));
      return { json: rows, human: table(view, ['name', 'groups', 'disabled', 'provisioned']) };
    }),
  );
  users.command('show <name>').description('a user, their live tokens and the service accounts they own').action(
    action(print, async (name: string) => {
      const shown = await callApi<{ user: Record<string, any>; tokens: Record<string, any>[]; serviceAccounts: Record<string, any>[] }>(
        await clientSettings(),
        'GET',
        `/users/${encodeURIComponent(name)}`,
      );
      const u = shown.user;
      const header = `user ${u.name} (${u.id})  groups: ${u.groups.join(', ') || '-'}  ${u.disabledAt ? `disabled ${time(u.disabledAt)}` : 'active'}${u.scim ? '  provisioned over SCIM' : ''}`;
      const tokens = table(shown.tokens.map((t) => ({ ...t, expires: time(t.expiresAt) })), ['id', 'kind', 'name', 'expires']);
      const accounts = table(shown.serviceAccounts.map((a) => ({ ...a, disabled: time(a.disabledAt) })), ['name', 'disabled']);
      return { json: shown, human: [header, '', 'live tokens:', tokens, '', 'service accounts owned:', accounts].join('\n') };
    }),
  );
  users
    .command('disable <name>')
    .description('offboard: disable the user, revoke every token they hold, disable the service accounts they own; their live sessions end')
    .action(
      action(print, async (name: string) => {
        const cut = await callApi<{ user: string; revokedTokens: string[]; disabledServiceAccounts: string[] }>(await clientSettings(), 'POST', `/users/${encodeURIComponent(name)}/disable`);
        const accounts = cut.disabledServiceAccounts.length > 0 ? cut.disabledServiceAccounts.join(', ') : 'none';
        return { json: cut, human: `disabled ${cut.user}: revoked ${cut.revokedTokens.length} token(s), disabled service accounts: ${accounts}` };
      }),
    );
  users.command('enable <name>').description('let a disabled user sign in again; revoked tokens and disabled service accounts stay as they are').action(
    action(print, async (name: string) => {
      const result = await callApi<{ user: { name: string } }>(await clientSettings(), 'POST', `/users/${encodeURIComponent(name)}/enable`);
      return { json: result, human: `enabled ${result.user.name} (nothing they held before was revived)` };
    }),
  );

  const scim = new Command('scim').description('SCIM provisioning from an identity provider (Okta, Entra ID) at /scim/v2');
  const scimToken = scim.command('token').description('the gsc_ bearer token the identity provider sends');
  scimToken
    .command('create')
    .description("issue a gsc_ token for an identity provider's SCIM client; printed once")
    .option('--name <name>', 'a label, e.g. okta or entra', 'scim')
    .option('--expires <duration>', 'lifetime, e.g. 365d (default: until revoked)')
    .action(
      action(print, async (opts: { name: string; expires?: string }) => {
        const created = await callApi<{ token: string; id: string }>(await clientSettings(), 'POST', '/scim/tokens', { name: opts.name, ...(opts.expires ? { expires: opts.expires } : {}) });
        return { json: created, human: `${created.token}\n(id ${created.id}; shown once: paste it as the identity provider's SCIM secret token)` };
      }),
    );
  scimToken.command('list').description('list live SCIM tokens').option('--all', 'include revoked and expired ones').action(
    action(print, async (opts: { all?: boolean }) => {
      const { tokens } = await callApi<{ tokens: Record<string, any>[] }>(await clientSettings(), 'GET', `/scim/tokens${opts.all ? '?all=true' : ''}`);
      const rows = tokens.map((t) => ({ ...t, created: time(t.createdAt), expires: time(t.expiresAt), revoked: time(t.revokedAt) }));
      return { json: tokens, human: table(rows, ['id', 'name', 'created', 'expires', 'revoked']) };
    }),
  );
  scimToken.command('revoke <id>').description('revoke a SCIM token; the identity provider is refused from then on').action(
    action(print, async (id: string) => {
      const { revoked } = await callApi<{ revoked: string[] }>(await clientSettings(), 'DELETE', `/tokens/${encodeURIComponent(id)}`);
      return { json: { revoked }, human: `revoked ${revoked.join(', ')}` };
    }),
  );

  return [connections, token, accounts, principals, sessions, audit, users, scim];
}
