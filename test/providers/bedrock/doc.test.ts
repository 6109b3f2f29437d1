/**
 * docs/providers.md's Bedrock SDK snippet, run as written (a file of its own, under Node with tsx)
 * against a gateway whose bedrock connection leads to a loopback Bedrock that verifies the
 * gateway's Signature V4.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { docBlock } from '../../docs/support/markdown.ts';
import { jsonReply, startBedrockUpstream, type BedrockUpstream } from './support/upstream.ts';

const run = promisify(execFile);
// Inside node_modules, so the snippet's imports resolve to the project's packages.
const SCRATCH = resolve('node_modules/.cache/gatehouse-bedrock-docs');
const KEY = { accessKeyId: 'AKIDGATEWAYEXAMPLE03', secretAccessKey: randomBytes(20).toString('base64'), region: 'us-east-1' };

describe('docs/providers.md Bedrock snippet', () => {
  let t: TestGateway;
  let up: BedrockUpstream;
  let token: string;

  before(async () => {
    up = await startBedrockUpstream(KEY);
    up.respond = () => jsonReply({ output: { message: { role: 'assistant', content: [{ text: 'hello from bedrock' }] } }, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 3, totalTokens: 4 } });
    process.env.BEDROCK_ACCESS_KEY_ID = KEY.accessKeyId;
    process.env.BEDROCK_SECRET_ACCESS_KEY = KEY.secretAccessKey;
    t = await startTestGateway({
      extraConnections: `  - name: bedrock\n    type: bedrock\n    upstream: ${up.url}\n    credential:\n      type: aws\n      accessKeyId: \${BEDROCK_ACCESS_KEY_ID}\n      secretAccessKey: \${BEDROCK_SECRET_ACCESS_KEY}\n      region: us-east-1\n`,
    });
    token = await t.token({ connections: ['bedrock'] });
    await mkdir(SCRATCH, { recursive: true });
  });
  after(async () => {
    await t.close();
    await up.close();
    await rm(SCRATCH, { recursive: true, force: true });
  });

  it('docs/providers.md › Bedrock › 2 runs as written', async () => {
    const block = docBlock('docs/providers.md › Bedrock › 2');
    assert.equal(block.lang, 'ts');
    const file = join(SCRATCH, `${randomBytes(6).toString('hex')}.mts`);
    await writeFile(file, block.text);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: token }, timeout: 60_000 });
    assert.match(stdout, /hello from bedrock/);
    const seen = up.received.at(-1)!;
    assert.ok(seen.signatureValid, 'signed by the gateway with its key');
    assert.equal(seen.url, `/model/${encodeURIComponent('anthropic.claude-3-5-haiku-20241022-v1:0')}/converse`);
    assert.ok(!JSON.stringify(seen.headers).includes(token));
  });
});
