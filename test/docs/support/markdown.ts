/**
 * Fenced code blocks of the project's Markdown, each named by file, heading and position, so a
 * failing snippet test says which block in which section broke.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface DocBlock {
  /** `README.md › Quick start (one command) › 2`: file, nearest heading above, 1-based index under it. */
  readonly id: string;
  readonly file: string;
  readonly heading: string;
  readonly index: number;
  /** First word of the info string (`sh`, `yaml`, `text` …); '' for a bare fence. */
  readonly lang: string;
  readonly text: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
}

/** The documents whose snippets the tests in test/docs exercise. */
export const DOC_FILES = ['README.md', 'docs/agents.md', 'docs/approvals.md', 'docs/audit.md', 'docs/audit-export.md', 'docs/deployment.md', 'docs/identity.md', 'docs/masking.md', 'docs/mcp.md', 'docs/policy.md', 'docs/postgres.md', 'docs/providers.md', 'docs/s3.md', 'docs/troubleshooting.md'] as const;

/**
 * Other documents under docs/ and why their snippets are exercised elsewhere; a new document that is
 * in neither list fails test/docs/coverage.test.ts.
 */
export const DOCS_TESTED_ELSEWHERE: Readonly<Record<string, string>> = {
  'docs/errors.md': 'the error-code table is checked against src/errors.ts in both directions by its own test',
  'docs/api.md': 'the admin API reference is checked against the generated OpenAPI document by its own test',
};

export function blockId(file: string, heading: string, index: number): string {
  return `${file} › ${heading} › ${index}`;
}

export function extractBlocks(file: string, text: string = readFileSync(resolve(file), 'utf8')): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  const perHeading = new Map<string, number>();
  let heading = '(top)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (fence) {
      const marker = fence[1]!;
      const body: string[] = [];
      let j = i + 1;
      // A closing fence uses the same character, at least as many of them, and nothing after.
      while (j < lines.length && !new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(lines[j]!)) body.push(lines[j++]!);
      if (j >= lines.length) throw new Error(`${file}:${i + 1}: code fence never closed`);
      const index = (perHeading.get(heading) ?? 0) + 1;
      perHeading.set(heading, index);
      blocks.push({ id: blockId(file, heading, index), file, heading, index, lang: fence[2]!.toLowerCase(), text: `${body.join('\n')}\n`, line: i + 1 });
      i = j;
      continue;
    }
    const title = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (title) heading = title[1]!;
  }
  return blocks;
}

export function allDocBlocks(): DocBlock[] {
  return DOC_FILES.flatMap((file) => extractBlocks(file));
}

/** The block with this id; throws (naming the id) when the doc no longer has it. */
export function docBlock(id: string): DocBlock {
  const file = id.split(' › ')[0]!;
  const found = extractBlocks(file).find((b) => b.id === id);
  if (!found) throw new Error(`no block ${id} in ${file}: the section was renamed or the block moved`);
  return found;
}
