import { normalizeSqlName } from '../sql-name.ts';
import type { RuleConfig } from '../schema.ts';
import { celStringList, SQL_ONLY, sqlFlag } from './cel-snippets.ts';

export interface DataExfiltrationOptions {
  /** Tables whose full contents must not be read in one go; compared by bare, lower-cased name. */
  readonly sensitiveTables: readonly string[];
  /** Connections carrying one of these tags treat every table as sensitive. */
  readonly sensitiveConnectionTags: readonly string[];
}

const UNBOUNDED_SELECT_STAR = `${sqlFlag('select_star')} && !${sqlFlag('has_limit')}`;
const COPY = "'copy' in request.sql.kinds";
// SQL text the classifier could not read (query_to_xml($1), database_to_xml …) may read any table
const UNSEEN = sqlFlag('dynamic_sql');

export function dataExfiltrationRules(options: DataExfiltrationOptions): RuleConfig[] {
  const rules: RuleConfig[] = [];
  if (options.sensitiveTables.length > 0) {
    const touchesSensitive = `request.sql.tables.exists(t, sqlName(t) in ${celStringList([
      ...new Set(options.sensitiveTables.map(normalizeSqlName)),
    ])})`;
    rules.push(
      {
        name: 'data-exfiltration/select-star-sensitive-table',
        match: SQL_ONLY,
        when: `${UNBOUNDED_SELECT_STAR} && ${touchesSensitive}`,
        action: 'deny',
        reason: 'SELECT * without LIMIT on a sensitive table is blocked; name the columns you need or add a LIMIT',
      },
      {
        name: 'data-exfiltration/copy-sensitive-table',
        match: SQL_ONLY,
        when: `${COPY} && ${touchesSensitive}`,
        action: 'deny',
        reason: 'COPY of a sensitive table is blocked',
      },
      {
        name: 'data-exfiltration/unseen-tables',
        match: SQL_ONLY,
        when: UNSEEN,
        action: 'deny',
        reason: 'the statement runs SQL the gateway cannot read, which could read a sensitive table',
      },
    );
  }
  if (options.sensitiveConnectionTags.length > 0) {
    const match = { ...SQL_ONLY, connectionTags: [...options.sensitiveConnectionTags] };
    rules.push(
      {
        name: 'data-exfiltration/select-star-sensitive-connection',
        match,
        when: UNBOUNDED_SELECT_STAR,
        action: 'deny',
        reason: 'SELECT * without LIMIT is blocked on this connection; name the columns you need or add a LIMIT',
      },
      {
        name: 'data-exfiltration/copy-sensitive-connection',
        match,
        when: COPY,
        action: 'deny',
        reason: 'COPY is blocked on this connection',
      },
      {
        name: 'data-exfiltration/unseen-tables-sensitive-connection',
        match,
        when: UNSEEN,
        action: 'deny',
        reason: 'SQL the gateway cannot read is blocked on this connection',
      },
    );
  }
  return rules;
}
