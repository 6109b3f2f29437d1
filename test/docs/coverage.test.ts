/**
 * Every fenced block in README.md and docs/*.md is exercised somewhere: YAML by the config snippet
 * test, everything else as support/manifest.ts says. A new block, a new document or a renamed
 * section fails here until it is given a test (or a reason on the allow-list).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { allDocBlocks, DOC_FILES, DOCS_TESTED_ELSEWHERE, extractBlocks } from './support/markdown.ts';
import { BLOCKS } from './support/manifest.ts';

const YAML_LANGS = new Set(['yaml', 'yml']);

test('every document under docs/ is either exercised here or named with the test that covers it', () => {
  const docs = readdirSync('docs').filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  const unlisted = docs.filter((file) => !(DOC_FILES as readonly string[]).includes(file) && !(file in DOCS_TESTED_ELSEWHERE));
  assert.deepEqual(unlisted, [], 'add the document to DOC_FILES (test/docs/support/markdown.ts) and its blocks to the manifest');
});

test('block ids are unique, so each names one snippet', () => {
  const ids = allDocBlocks().map((b) => b.id);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), []);
});

test('every non-YAML block has an entry in the manifest (run, output sample or allow-listed with a reason)', () => {
  const missing = allDocBlocks()
    .filter((b) => !YAML_LANGS.has(b.lang) && !(b.id in BLOCKS))
    .map((b) => `${b.id} (line ${b.line}, \`\`\`${b.lang})`);
  assert.deepEqual(missing, [], 'new snippets need a test in test/docs (or an allow-list entry with the reason in support/manifest.ts)');
});

test('every manifest entry still names a block, and its runner file exists', () => {
  const ids = new Set(allDocBlocks().map((b) => b.id));
  const stale = Object.keys(BLOCKS).filter((id) => !ids.has(id));
  assert.deepEqual(stale, [], 'a block moved or was removed: update test/docs/support/manifest.ts');
  for (const [id, handling] of Object.entries(BLOCKS)) {
    const file = 'runBy' in handling ? handling.runBy : 'sampleCheckedBy' in handling ? handling.sampleCheckedBy : null;
    if (file) assert.ok(existsSync(`test/docs/${file}`), `${id}: test/docs/${file} does not exist`);
    else assert.ok('allow' in handling && handling.allow.length > 20, `${id}: an allow-list entry needs its reason`);
  }
});

test('blocks are tagged with what they are: output samples as text, code with its language', () => {
  // A bare fence cannot be told apart from a command, so it would slip past the runners.
  const bare = allDocBlocks().filter((b) => b.lang === '').map((b) => `${b.id} (line ${b.line})`);
  assert.deepEqual(bare, []);
  for (const [id, handling] of Object.entries(BLOCKS)) {
    const block = allDocBlocks().find((b) => b.id === id);
    if (block && 'sampleCheckedBy' in handling) assert.equal(block.lang, 'text', `${id} is an output sample`);
    if (block && 'runBy' in handling) assert.notEqual(block.lang, 'text', `${id} is run, so it is not a text sample`);
  }
});

test('the extractor names blocks by file, heading and position, and skips fenced text inside other fences', () => {
  const blocks = extractBlocks(
    'x.md',
    ['# A', '```sh', 'one', '```', '## B c', 'text', '````md', '```sh', 'inner', '```', '````', '```yaml', 'k: v', '```', ''].join('\n'),
  );
  assert.deepEqual(
    blocks.map((b) => [b.id, b.lang, b.line, b.text]),
    [
      ['x.md › A › 1', 'sh', 2, 'one\n'],
      ['x.md › B c › 1', 'md', 7, '```sh\ninner\n```\n'],
      ['x.md › B c › 2', 'yaml', 12, 'k: v\n'],
    ],
  );
  assert.throws(() => extractBlocks('y.md', '```sh\nnever closed\n'), /y\.md:1: code fence never closed/);
});
