import { scimInvalid } from './errors.ts';

export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
/** The most resources one page holds, whatever `count` asks for (ServiceProviderConfig says so). */
export const MAX_RESULTS = 200;

export interface Page {
  /** 1-based, as SCIM counts. */
  readonly startIndex: number;
  readonly count: number;
}

function integer(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^-?\d{1,20}$/.test(raw)) throw scimInvalid('invalidValue', `${name} must be an integer`);
  return Number(raw);
}

/** RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0; a large count is capped. */
export function readPage(query: Record<string, unknown>): Page {
  const startIndex = integer('startIndex', query.startIndex) ?? 1;
  const count = integer('count', query.count) ?? MAX_RESULTS;
  return { startIndex: Math.max(1, startIndex), count: Math.min(MAX_RESULTS, Math.max(0, count)) };
}

export function listResponse<T>(all: readonly T[], page: Page, render: (item: T) => unknown): Record<string, unknown> {
  const slice = all.slice(page.startIndex - 1, page.startIndex - 1 + page.count);
  return {
    schemas: [LIST_SCHEMA],
    totalResults: all.length,
    startIndex: page.startIndex,
    itemsPerPage: slice.length,
    Resources: slice.map(render),
  };
}
