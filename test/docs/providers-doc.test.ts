/**
 * The SDK snippets of docs/providers.md, run as written (a file of their own, under Node with tsx)
 * against a gateway whose provider connections lead to a loopback upstream speaking each wire format.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { startFakeUpstream, type FakeUpstream, type Reply } from '../providers/support/fake-upstream.ts';
import { docBlock } from './support/markdown.ts';

const run = promisify(execFile);
// Inside node_modules, so the snippet's imports resolve to the project's packages.
const SCRATCH = resolve('node_modules/.cache/gatehouse-provider-docs');

function answer(url: string): Reply {
  const body = (value: unknown): Reply => ({ headers: { 'content-type': 'application/json' }, steps: [JSON.stringify(value)] });
  if (url.startsWith('/v1/messages')) {
    return body({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'hello from anthropic' }], stop_reason: 'end_turn', usage: { input_tokens: 2, output_tokens: 3 } });
  }
  if (url.includes(':generateContent')) return body({ candidates: [{ content: { parts: [{ text: 'hello from gemini' }], role: 'model' }, finishReason: 'STOP', index: 0 }] });
  return body({ id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4o', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'hello from azure' } }] });
}

describe('docs/providers.md SDK snippets', () => {
  let t: TestGateway;
  let up: FakeUpstream;
  let token: string;

  before(async () => {
    up = await startFakeUpstream();
    up.respond = (request) => answer(request.url);
    const conn = (name: string) => `  - name: ${name}\n    type: ${name}\n    upstream: ${up.url}\n    credential: \${UPSTREAM_KEY}\n`;
    t = await startTestGateway({ extraConnections: conn('anthropic') + conn('gemini') + conn('azure-openai') });
    token = await t.token({ connections: ['anthropic', 'gemini', 'azure-openai'] });
    await mkdir(SCRATCH, { recursive: true });
  });
  after(async () => {
    await t.close();
    await up.close();
    await rm(SCRATCH, { recursive: true, force: true });
  });

  const cases: [string, string, RegExp, string][] = [
    ['docs/providers.md › Anthropic › 2', 'hello from anthropic', /^\/v1\/messages$/, 'x-api-key'],
    ['docs/providers.md › Gemini › 2', 'hello from gemini', /^\/v1beta\/models\/gemini-2\.5-flash:generateContent$/, 'x-goog-api-key'],
    ['docs/providers.md › Azure OpenAI › 3', 'hello from azure', /^\/openai\/deployments\/gpt-4o-prod\/chat\/completions\?api-version=2024-10-21$/, 'api-key'],
  ];
  for (const [id, expected, path, keyHeader] of cases) {
    it(`${id} runs as written`, async () => {
      const block = docBlock(id);
      assert.equal(block.lang, 'ts');
      const file = join(SCRATCH, `${randomBytes(6).toString('hex')}.mts`);
      await writeFile(file, block.text);
      const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: token }, timeout: 60_000 });
      assert.match(stdout, new RegExp(expected));
      const seen = up.received.at(-1)!;
      assert.match(seen.url, path);
      assert.equal(seen.headers[keyHeader], UPSTREAM_KEY);
    });
  }
});
