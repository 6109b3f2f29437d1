/**
 * Which of a client's startup parameters reach the database. PostgreSQL applies every startup
 * parameter but a few (user, database, options, replication, _pq_.*) as a setting, at the
 * privilege of the role that logs in: the gateway's, which may be a superuser. So every setting
 * an agent could make with its own role passes, and the ones that would change who the session
 * is, what it may do, what the database records of it or how it reads SQL text are refused by
 * name, never dropped without a word. `options` is read as PostgreSQL reads it (pg_split_opts,
 * then `-c name=value` / `--name=value`) and its settings are sent as startup parameters of their
 * own, so what is checked here is exactly what the database applies.
 */
import { InvalidArgument, ProtocolError, type GatewayError } from '../../errors.ts';
import { TOKEN_PREFIX } from '../../identity/token-format.ts';
import { REFUSED_PREFIXES, REFUSED_SETTINGS, USER_LEVEL_CUSTOM_SETTINGS, type RefusalKind } from './refused-settings.ts';

/** Startup parameters PostgreSQL itself reads, by exact (case-sensitive) name; never settings. */
const PACKET_FIELDS = new Set(['user', 'database', 'options', 'replication']);
const PROTOCOL_OPTION_PREFIX = '_pq_.';
/** A token or a password has no place in a startup packet; one put there by mistake is not logged. */
const SECRET_NAME = /pass|secret|token|key|credential/i;
const SECRET_VALUE = new RegExp(`(?:${Object.values(TOKEN_PREFIX).join('|')})[A-Za-z0-9_-]`);

export interface StartupSettingsOptions {
  /** Further names the operator refuses (postgres.refuseStartupSettings, read by operatorList). */
  readonly refuse?: OperatorList;
}

export interface StartupSettings {
  /** Settings for the upstream's StartupMessage: lower-case names, `options` unfolded, last value wins. */
  readonly forward: Readonly<Record<string, string>>;
  /** What the client sent, for the session's record: every parameter as sent, a value that looks like a secret replaced. */
  readonly sent: Readonly<Record<string, string>>;
}

/** Reads a client's startup parameters; a GatewayError names the first one refused. */
export function startupSettings(parameters: Readonly<Record<string, string>>, options: StartupSettingsOptions = {}): StartupSettings | GatewayError {
  const refuse = options.refuse ?? NOTHING_CONFIGURED;
  const forward: Record<string, string> = Object.create(null);
  const replication = parameters['replication'];
  if (replication !== undefined && !['false', 'off', 'no', '0'].includes(replication.toLowerCase())) {
    return new ProtocolError('replication connections are not supported through the gateway');
  }
  // PostgreSQL applies `options` first and the other parameters after it, so those win.
  const fromOptions = parameters['options'] === undefined ? [] : optionSettings(parameters['options']);
  if (fromOptions instanceof InvalidArgument) return fromOptions;
  for (const [name, value] of fromOptions) {
    const refused = refusal(name, 'options', refuse);
    if (refused !== null) return refused;
    forward[name] = value;
  }
  for (const [sentName, value] of Object.entries(parameters)) {
    if (PACKET_FIELDS.has(sentName) || sentName.startsWith(PROTOCOL_OPTION_PREFIX)) continue;
    const refused = refusal(sentName, 'parameter', refuse);
    if (refused !== null) return refused;
    forward[settingName(sentName)] = value;
  }
  const encoding = forward['client_encoding'];
  if (encoding !== undefined && !isUtf8(encoding)) {
    return new InvalidArgument(`client_encoding ${encoding} is not supported through the gateway; use UTF8`);
  }
  // The gateway sets client_encoding itself (UTF8, which these names mean).
  delete forward['client_encoding'];
  return { forward: { ...forward }, sent: recordable(parameters) };
}

/**
 * The settings in an `options` value, as PostgreSQL's backend reads them: split at unescaped
 * ASCII white space (a backslash keeps the next character), then getopt over the words, of which
 * the gateway takes `-c name=value`, `-cname=value` and `--name=value`, with `-` in names read as `_`.
 */
export function optionSettings(options: string): Array<[string, string]> | InvalidArgument {
  const words = splitOptions(options);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let assignment: string;
    let form: string;
    if (word.startsWith('--') && word.length > 2) {
      assignment = word.slice(2);
      form = '--';
    } else if (word.startsWith('-c') && word.length > 2) {
      assignment = word.slice(2);
      form = '-c ';
    } else if (word === '-c') {
      if (i + 1 >= words.length) return new InvalidArgument('options: -c needs name=value after it');
      assignment = words[++i]!;
      form = '-c ';
    } else {
      return new InvalidArgument(
        `options: "${shown(word)}" is not accepted through the gateway; only -c name=value and --name=value settings are`,
      );
    }
    const equals = assignment.indexOf('=');
    if (equals < 0) return new InvalidArgument(`options: ${form}${shown(assignment)} needs a value (name=value)`);
    const name = assignment.slice(0, equals).replaceAll('-', '_');
    if (name === '') return new InvalidArgument(`options: ${form}${shown(assignment)} has no setting name`);
    out.push([settingName(name), assignment.slice(equals + 1)]);
  }
  return out;
}

/** PostgreSQL's pg_split_opts: words split at unescaped ASCII white space; `\x` is x. */
export function splitOptions(options: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < options.length) {
    while (i < options.length && isSpace(options.charCodeAt(i))) i++;
    if (i >= options.length) break;
    let word = '';
    let escaped = false;
    for (; i < options.length; i++) {
      const c = options[i]!;
      if (!escaped && isSpace(c.charCodeAt(0))) break;
      if (!escaped && c === '\\') escaped = true;
      else {
        escaped = false;
        word += c;
      }
    }
    words.push(word);
  }
  return words;
}

/** C's isspace in the C locale: space, \t, \n, \v, \f, \r. PostgreSQL never reads other characters as spaces here. */
function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/** Setting names compare case-insensitively in ASCII only (guc_name_compare), so that is how they are folded. */
export function settingName(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** The operator's names: exact, or a prefix when it ends in `*`. */
export interface OperatorList {
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

export function operatorList(entries: readonly string[]): OperatorList {
  const folded = entries.map(settingName);
  return {
    names: new Set(folded.filter((n) => !n.endsWith('*'))),
    prefixes: folded.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1)),
  };
}

const NOTHING_CONFIGURED: OperatorList = { names: new Set(), prefixes: [] };

type Refusal = RefusalKind | 'custom' | 'configured' | 'field' | 'empty';

/** Why a setting is refused, or null; `name` as sent or as read from options. */
export function refusalKind(name: string, refuse: OperatorList = NOTHING_CONFIGURED): Refusal | null {
  const folded = settingName(name);
  if (folded === '') return 'empty';
  // A packet field in another case, or from options, would be a setting named "user": no such setting exists.
  if (PACKET_FIELDS.has(folded) || folded.startsWith(PROTOCOL_OPTION_PREFIX)) return 'field';
  const listed = REFUSED_SETTINGS.get(folded);
  if (listed !== undefined) return listed;
  for (const [prefix, kind] of REFUSED_PREFIXES) if (folded.startsWith(prefix)) return kind;
  if (folded.endsWith('_preload_libraries')) return 'privileged';
  if (folded.includes('.') && !USER_LEVEL_CUSTOM_SETTINGS.has(folded)) return 'custom';
  if (refuse.names.has(folded) || refuse.prefixes.some((p) => folded.startsWith(p))) return 'configured';
  return null;
}

const WHY: Record<Refusal, string> = {
  identity: 'it would change the role the session runs as; the gateway logs in with the connection\'s own role',
  replication: 'it would make the session a replication session or turn off triggers and rules',
  audit: 'it would change what the database logs or tracks about the session',
  privileged: 'it is a superuser-only setting, which the gateway\'s database login could set where the agent could not',
  debug: 'it is one of PostgreSQL\'s developer switches, which slow the server or hold a backend',
  lexing: 'the gateway reads SQL text with standard_conforming_strings on, so the database must too',
  custom: 'whether an extension\'s or custom setting (a name with a dot) needs a superuser is not known to the gateway; SET it after connecting, where policy sees it',
  configured: 'this gateway\'s configuration refuses it (postgres.refuseStartupSettings)',
  field: 'it is not a setting (user, database, options and replication are read by exact name, and only in the startup packet itself)',
  empty: 'a setting needs a name',
};

function refusal(name: string, from: 'options' | 'parameter', refuse: OperatorList): InvalidArgument | null {
  const kind = refusalKind(name, refuse);
  if (kind === null) return null;
  const where = from === 'options' ? 'in options' : 'as a startup parameter';
  return new InvalidArgument(`startup setting "${shown(name)}" ${where} is refused: ${WHY[kind]}; remove it to connect`, {
    details: { setting: shown(name) },
  });
}

function recordable(parameters: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parameters)) {
    out[name] = SECRET_NAME.test(name) || SECRET_VALUE.test(value) ? '[redacted]' : value;
  }
  return out;
}

/** PostgreSQL's own encoding-name rule (clean_encoding_name): only letters and digits count. */
function isUtf8(encoding: string): boolean {
  const clean = encoding.toLowerCase().replace(/[^a-z0-9]/g, '');
  return clean === 'utf8' || clean === 'unicode' || clean === 'sqlascii';
}

/** A name or word in a message: bounded, control characters shown as escapes. */
function shown(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
