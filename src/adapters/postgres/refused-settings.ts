/**
 * Settings a client may not make at startup through the gateway, by why. PostgreSQL applies
 * startup settings with the privilege of the role that logs in, which is the gateway's: every
 * superuser-only setting (context `superuser` or `superuser-backend` in pg_settings, PostgreSQL
 * 15 to 18) is here, with the ones any role may make only at connection start (`backend`) and the
 * user-level ones that change identity or how SQL text reads. docs/postgres.md lists them; a test
 * checks that both lists agree.
 */
export type RefusalKind = 'identity' | 'replication' | 'audit' | 'privileged' | 'debug' | 'lexing';

const BY_KIND: Record<RefusalKind, readonly string[]> = {
  identity: ['role', 'session_authorization', 'is_superuser'],
  replication: ['session_replication_role'],
  // what the database records or shows about the session (log_* and track_* are refused as prefixes too)
  audit: ['compute_query_id', 'update_process_title', 'event_triggers'],
  privileged: [
    'allow_in_place_tablespaces', 'allow_system_table_mods', 'backtrace_functions', 'commit_delay', 'deadlock_timeout',
    'debug_discard_caches', 'debug_copy_parse_plan_trees', 'debug_write_read_parse_plan_trees', 'debug_raw_expression_coverage_test',
    'debug_deadlocks', 'dynamic_library_path', 'extension_control_path', 'extension_destdir', 'ignore_checksum_failure',
    'jit_debugging_support', 'jit_dump_bitcode', 'jit_profiling_support', 'lc_messages', 'lo_compat_privileges',
    'max_stack_depth', 'temp_file_limit', 'trace_locks', 'trace_lock_oidmin', 'trace_lock_table', 'trace_lwlocks',
    'trace_userlocks', 'wal_compression', 'wal_consistency_checking', 'wal_debug', 'wal_init_zero', 'wal_recycle',
    'zero_damaged_pages',
  ],
  debug: ['ignore_system_indexes', 'post_auth_delay'],
  lexing: ['standard_conforming_strings'],
};

export const REFUSED_SETTINGS: ReadonlyMap<string, RefusalKind> = new Map(
  (Object.entries(BY_KIND) as [RefusalKind, readonly string[]][]).flatMap(([kind, names]) => names.map((n) => [n, kind] as const)),
);

/** Whole families: every log_* setting but one is superuser-only, and that one shapes the log too; track_* decides what is counted. */
export const REFUSED_PREFIXES: ReadonlyArray<readonly [string, RefusalKind]> = [
  ['log_', 'audit'],
  ['track_', 'audit'],
  ['pgaudit.', 'audit'],
];

/**
 * Names with a dot belong to an extension or are custom; whether one is superuser-only depends on
 * the extension (pgaudit.*, auto_explain.*, pg_stat_statements.* are), so they are refused at
 * startup but for these, which PL/pgSQL (always installed) lets any role set.
 */
export const USER_LEVEL_CUSTOM_SETTINGS: ReadonlySet<string> = new Set([
  'plpgsql.check_asserts', 'plpgsql.extra_errors', 'plpgsql.extra_warnings', 'plpgsql.print_strict_params',
]);
