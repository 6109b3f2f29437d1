import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES } from '../src/errors.ts';

test('every error code is documented in docs/errors.md with its HTTP status and SQLSTATE', async () => {
  const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { status, sqlstate }] of Object.entries(ERROR_CODES)) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.ok(row.includes(`| ${status} |`) && row.includes(`| ${sqlstate} |`), `row for ${code} shows ${status} / ${sqlstate}`);
  }
});
