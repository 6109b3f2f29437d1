import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

/**
 * `scheme://user:password@host…` for database and broker schemes. Only the password is
 * masked, so the host and database stay visible in recordings.
 */
const URL_WITH_PASSWORD =
  /\b((?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|cockroachdb|clickhouse|jdbc:[a-z]+)(?:\+[a-z0-9]+)?:\/\/[^\s:@\/?#'"<>]*:)([^\s@\/'"<>]+)@(?=[A-Za-z0-9.\[_-])/gi;
// `${DB_PASSWORD}`, `<password>`, `****`, `%s`, `{password}`: templates, not secrets.
const PLACEHOLDER = /^(?:\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|<[^>]*>|\*+|x+|%s|\{[^}]*\}|\[[^\]]*\]|\.\.\.)$/i;

export const databaseUrlDetector: Detector = {
  type: 'database_url',
  name: 'database_url',
  signalled: true,
  priority: PRIORITY.database_url,
  find(text: string, out: Span[]): void {
    if (text.indexOf('://') === -1) return;
    URL_WITH_PASSWORD.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = URL_WITH_PASSWORD.exec(text)) !== null) {
      const password = m[2]!;
      if (PLACEHOLDER.test(password)) continue;
      const start = m.index + m[1]!.length;
      out.push({ start, end: start + password.length, detector: databaseUrlDetector });
    }
  },
};
