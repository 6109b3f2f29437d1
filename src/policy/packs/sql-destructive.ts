import type { RuleConfig } from '../schema.ts';
import { celStringList, SQL_ONLY, sqlFlag } from './cel-snippets.ts';

// The statement kinds and flags this pack relies on are the SQL classifier's (src/classify/sql.ts),
// listed in README.md. Prefix and suffix tests (`drop…`, `alter…`, `…_role`) keep the pack closed
// against kinds the classifier adds later.

/** Role statements whose kind does not end in `_role`, `_user` or `_group`. */
const OTHER_ROLE_KINDS = ['alter_role_set', 'set_session_authorization', 'reassign_owned', 'drop_owned'] as const;

/** Statements that install code the gateway never sees run (function bodies, triggers, rules, libraries). */
const SERVER_CODE_KINDS = [
  'create_function',
  'create_procedure',
  'create_trigger',
  'create_event_trigger',
  'create_rule',
  'create_language',
  'create_extension',
  'load',
] as const;

/** Functions that stop the server's work, reload its config, touch its files or reach other servers. */
const DANGEROUS_FUNCTIONS = [
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'pg_ls_dir',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'lo_import',
  'lo_export',
  'lo_from_bytea',
  'lo_put',
] as const;

const anyKind = (test: string) => `request.sql.kinds.exists(k, ${test})`;

const deny = (name: string, when: string, reason: string): RuleConfig => ({
  name: `sql-destructive/${name}`,
  match: SQL_ONLY,
  when,
  action: 'deny',
  reason,
});

export function sqlDestructiveRules(): RuleConfig[] {
  return [
    deny(
      'unparseable',
      `request.sql.parse_error != null || ${sqlFlag('parse_error')}`,
      'the SQL could not be parsed, so the gateway cannot check it; it was not sent',
    ),
    deny('do-block', anyKind("k == 'do'"), 'DO blocks run code the gateway cannot inspect'),
    deny(
      'server-code',
      anyKind(`k in ${celStringList(SERVER_CODE_KINDS)}`),
      'creating functions, procedures, triggers, rules, languages or extensions, or loading libraries, is blocked',
    ),
    deny(
      'role-change',
      anyKind(`k.endsWith('_role') || k.endsWith('_user') || k.endsWith('_group') || k in ${celStringList(OTHER_ROLE_KINDS)}`),
      'creating, changing, dropping or switching roles and users is blocked',
    ),
    deny('grant-revoke', anyKind("k.startsWith('grant') || k.startsWith('revoke')"), 'GRANT and REVOKE are blocked'),
    deny('drop', anyKind("k.startsWith('drop')"), 'DROP statements are blocked'),
    deny('truncate', anyKind("k.startsWith('truncate')"), 'TRUNCATE is blocked'),
    deny('alter', anyKind("k.startsWith('alter')"), 'ALTER statements are blocked'),
    // has_where is false when any UPDATE or DELETE at any depth (a CTE, EXPLAIN ANALYZE, a rule body)
    // lacks a WHERE, so it is checked without looking at the kinds, which may show only the outer SELECT.
    deny('update-delete-without-where', '!request.sql.has_where', 'UPDATE and DELETE need a WHERE clause'),
    deny(
      'copy-program',
      `${sqlFlag('copy_to_program')} || ${sqlFlag('copy_from_program')}`,
      'COPY … TO PROGRAM and COPY … FROM PROGRAM run shell commands on the database server',
    ),
    deny(
      'copy-server-file',
      `${sqlFlag('copy_to_file')} || ${sqlFlag('copy_from_file')}`,
      'COPY to or from a file on the database server is blocked; use STDIN/STDOUT',
    ),
    deny(
      'dangerous-function',
      `request.sql.functions.exists(f, sqlName(f) in ${celStringList(DANGEROUS_FUNCTIONS)} || sqlName(f).startsWith('dblink'))`,
      'the statement calls a function that can stop sessions, reload or read server files or reach other servers',
    ),
    // SQL text run by query_to_xml, dblink, ts_stat … is classified like the statement itself; a text
    // that is not a literal (a column, a concatenation, a parameter) could be anything.
    deny(
      'dynamic-sql',
      sqlFlag('dynamic_sql'),
      'the statement runs SQL text the gateway cannot read (a function argument that is not a literal, or code in another language)',
    ),
    // set_config('role', …) is reported as set_role (role-change above); a name that is not a literal could be role too
    deny(
      'dynamic-setting',
      sqlFlag('dynamic_setting'),
      'the statement changes a setting whose name the gateway cannot read (set_config with a computed name, UPDATE pg_settings)',
    ),
    deny(
      'nonstandard-strings',
      sqlFlag('nonstandard_strings'),
      'turning standard_conforming_strings off would make the database read quoted text differently from the gateway',
    ),
  ];
}
