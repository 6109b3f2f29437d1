/**
 * Which statement kind a parse-tree node is. Node type names are PostgreSQL's own
 * (src/include/nodes/parsenodes.h) as libpg-query reports them.
 */

type Node = Readonly<Record<string, unknown>>;

const FIXED: Readonly<Record<string, string>> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
  CreateStmt: 'create_table',
  CreateForeignTableStmt: 'create_table',
  IndexStmt: 'create_index',
  ViewStmt: 'create_view',
  CreateFunctionStmt: 'create_function',
  CreateSchemaStmt: 'create_schema',
  CreateExtensionStmt: 'create_extension',
  CreateRoleStmt: 'create_role',
  AlterRoleStmt: 'alter_role',
  AlterRoleSetStmt: 'alter_role',
  DropRoleStmt: 'drop_role',
  TruncateStmt: 'truncate',
  CopyStmt: 'copy',
  CallStmt: 'call',
  DoStmt: 'do',
  VariableShowStmt: 'show',
  TransactionStmt: 'transaction',
  ExplainStmt: 'explain',
  PrepareStmt: 'prepare',
  ExecuteStmt: 'execute',
  DeallocateStmt: 'deallocate',
  ListenStmt: 'listen',
  NotifyStmt: 'notify',
  UnlistenStmt: 'unlisten',
  LockStmt: 'lock',
  DiscardStmt: 'discard',
  DeclareCursorStmt: 'declare_cursor',
  FetchStmt: 'fetch',
  ClosePortalStmt: 'close_cursor',
  CommentStmt: 'comment',
  // no family of their own: the precise kind is the only one
  LoadStmt: 'load',
  ReassignOwnedStmt: 'reassign_owned',
  // CREATE AGGREGATE / OPERATOR / TYPE …, CREATE TYPE … AS (…), CREATE RULE, IMPORT FOREIGN SCHEMA
  DefineStmt: 'create_other',
  CompositeTypeStmt: 'create_other',
  RuleStmt: 'create_other',
  ImportForeignSchemaStmt: 'create_other',
};

/**
 * Finer kinds reported after the family kind above, so that a rule can name exactly what it means
 * (`set_role`) while rules written against the family (`set`, `create_other`) keep matching.
 */
const PRECISE_FIXED: Readonly<Record<string, string>> = {
  AlterRoleSetStmt: 'alter_role_set',
  DropOwnedStmt: 'drop_owned',
  CreateTrigStmt: 'create_trigger',
  CreateEventTrigStmt: 'create_event_trigger',
  RuleStmt: 'create_rule',
  CreatePLangStmt: 'create_language',
  DropdbStmt: 'drop_database',
  CreatedbStmt: 'create_database',
  AlterSystemStmt: 'alter_system',
  AlterDatabaseStmt: 'alter_database',
  AlterDatabaseSetStmt: 'alter_database',
  AlterDatabaseRefreshCollStmt: 'alter_database',
};

/** Settings whose change switches the identity the session acts as. */
export const IDENTITY_SETTINGS: Readonly<Record<string, string>> = {
  role: 'set_role',
  session_authorization: 'set_session_authorization',
};

/** The precise kind of a statement node, when it is finer than its family kind; otherwise null. */
export function preciseKind(type: string, node: Node): string | null {
  const fixed = PRECISE_FIXED[type];
  if (fixed !== undefined) return fixed;
  switch (type) {
    case 'VariableSetStmt':
      return node['kind'] === 'VAR_RESET' || node['kind'] === 'VAR_RESET_ALL' ? null : (IDENTITY_SETTINGS[node['name'] as string] ?? null);
    case 'CreateFunctionStmt':
      return node['is_procedure'] === true ? 'create_procedure' : null;
    case 'CreateRoleStmt':
      return node['stmt_type'] === 'ROLESTMT_USER' ? 'create_user' : node['stmt_type'] === 'ROLESTMT_GROUP' ? 'create_group' : null;
    case 'GrantRoleStmt':
      return node['is_grant'] === true ? 'grant_role' : 'revoke_role';
    case 'AlterOwnerStmt':
      return node['objectType'] === 'OBJECT_DATABASE' ? 'alter_database' : null;
  }
  return null;
}

/** Parts of other statements, not statements of their own (function bodies, PL/pgSQL assignments). */
const NOT_STATEMENTS = new Set(['RawStmt', 'ReturnStmt', 'PLAssignStmt']);

const TABLE_OBJECTS = new Set(['OBJECT_TABLE', 'OBJECT_FOREIGN_TABLE']);

/** The kind for a parse-tree node, or null when the node is not a statement. */
export function statementKind(type: string, node: Node): string | null {
  const fixed = FIXED[type];
  if (fixed !== undefined) return fixed;
  switch (type) {
    case 'CreateTableAsStmt':
      return node['objtype'] === 'OBJECT_MATVIEW' ? 'create_view' : 'create_table';
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return node['is_grant'] === true ? 'grant' : 'revoke';
    case 'VariableSetStmt':
      return node['kind'] === 'VAR_RESET' || node['kind'] === 'VAR_RESET_ALL' ? 'reset' : 'set';
    case 'VacuumStmt':
      return node['is_vacuumcmd'] === true ? 'vacuum' : 'analyze';
    case 'AlterTableStmt':
      return TABLE_OBJECTS.has(node['objtype'] as string) ? 'alter_table' : 'alter_other';
    case 'AlterObjectSchemaStmt':
      return TABLE_OBJECTS.has(node['objectType'] as string) ? 'alter_table' : 'alter_other';
    case 'RenameStmt':
      if (node['renameType'] === 'OBJECT_ROLE') return 'alter_role';
      return TABLE_OBJECTS.has(node['renameType'] as string) || TABLE_OBJECTS.has(node['relationType'] as string)
        ? 'alter_table'
        : 'alter_other';
  }
  if (NOT_STATEMENTS.has(type) || !type.endsWith('Stmt')) return null;
  // Prefixes keep statements PostgreSQL adds later in the right family rather than in 'other'.
  if (type.startsWith('Create')) return 'create_other';
  if (type.startsWith('Alter')) return 'alter_other';
  if (type.startsWith('Drop')) return 'drop';
  return 'other';
}
