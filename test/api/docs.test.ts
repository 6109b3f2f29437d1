/**
 * docs/api.md as a reader uses it: each ```sh block runs with bash against a gateway, with
 * GATEHOUSE_URL and GATEHOUSE_TOKEN set as the page says, and a ```text block right after one is its
 * output, compared value for value (`…` in a sample stands for anything). The route table is checked
 * against the generated OpenAPI document in both directions.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { extractBlocks, type DocBlock } from '../docs/support/markdown.ts';
import { describe, makeShims, runBash, shellEnv } from '../docs/support/shell.ts';

const DOC = 'docs/api.md';
const blocks = extractBlocks(DOC);

let t: TestGateway;
let shims: string;
before(async () => {
  [t, shims] = await Promise.all([startTestGateway(), makeShims()]);
});
after(async () => {
  await t.close();
  await rm(shims, { recursive: true, force: true });
});

/** `actual` with every value the sample elides (a string with `…`) replaced by the sample's, when it fits. */
function elide(actual: unknown, sample: unknown): unknown {
  if (typeof sample === 'string' && sample.includes('…') && typeof actual === 'string') {
    const pattern = new RegExp(`^${sample.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    return pattern.test(actual) ? sample : actual;
  }
  if (Array.isArray(sample) && Array.isArray(actual)) return actual.map((value, i) => elide(value, sample[i]));
  if (sample && actual && typeof sample === 'object' && typeof actual === 'object') {
    return Object.fromEntries(Object.entries(actual).map(([key, value]) => [key, elide(value, (sample as Record<string, unknown>)[key])]));
  }
  return actual;
}

const sampleAfter = (block: DocBlock): DocBlock | undefined => {
  const next = blocks[blocks.indexOf(block) + 1];
  return next && next.lang === 'text' && next.heading === block.heading && next.index === block.index + 1 ? next : undefined;
};

test(`${DOC} holds only shell commands and their output samples`, () => {
  assert.ok(blocks.length > 0);
  for (const block of blocks) {
    if (block.lang === 'sh') continue;
    assert.equal(block.lang, 'text', `${block.id}: only sh and text blocks are exercised here`);
    const previous = blocks[blocks.indexOf(block) - 1];
    assert.ok(previous?.lang === 'sh' && sampleAfter(previous) === block, `${block.id}: a sample must follow the command it shows`);
  }
});

for (const block of blocks.filter((b) => b.lang === 'sh')) {
  test(`${block.id} runs as written`, async () => {
    const env = shellEnv(shims, { GATEHOUSE_URL: t.gateway.adminUrl, GATEHOUSE_TOKEN: ADMIN_TOKEN });
    const result = await runBash(`set -eo pipefail\n${block.text}`, { cwd: shims, env });
    assert.equal(result.code, 0, describe(block.text, result));
    const sample = sampleAfter(block);
    if (sample) {
      const shown = JSON.parse(sample.text);
      assert.deepEqual(elide(JSON.parse(result.stdout), shown), shown, describe(block.text, result));
    } else {
      const saved = /-o (\S+)/.exec(block.text)?.[1];
      assert.ok(saved, `${block.id}: shows no output and saves no file, so nothing checks what it did`);
      const doc = JSON.parse(await readFile(join(shims, saved), 'utf8'));
      assert.match(doc.openapi, /^3\.1\./);
    }
  });
}

test(`the route table in ${DOC} lists exactly the routes in the OpenAPI document`, async () => {
  const doc = (await (await fetch(`${t.gateway.adminUrl}/api/v1/openapi.json`)).json()) as { paths: Record<string, object> };
  const generated = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
  const text = await readFile(DOC, 'utf8');
  const documented = [...text.matchAll(/^\| (GET|PUT|POST|DELETE|PATCH) \| `([^`]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(documented.sort(), generated.sort());
});
