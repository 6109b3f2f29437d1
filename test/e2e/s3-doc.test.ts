/**
 * docs/s3.md run as written: the `gatehouse s3` commands (through the real CLI, a child process)
 * and the AWS SDK snippet (a file of its own under Node with tsx), against a gateway in front of
 * s3rver with the doc's connection name and bucket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ADMIN_TOKEN, startBench, type Bench } from '../adapters/s3/support.ts';
import { docBlock } from '../docs/support/markdown.ts';

const run = promisify(execFile);
// Inside node_modules, so the snippet's imports resolve to the project's packages.
const SCRATCH = resolve('node_modules/.cache/gatehouse-s3-docs');

describe('docs/s3.md snippets', () => {
  let b: Bench;
  before(async () => {
    b = await startBench({
      buckets: ['agent-traces'],
      extraConnections: (url) => `  - name: traces\n    type: s3\n    upstream: ${url}\n    credential: { type: aws, accessKeyId: S3RVER, secretAccessKey: S3RVER, region: us-east-1 }\n`,
      policyYaml: 'policy:\n  rules:\n    - name: allow-all\n      action: allow\n',
    });
    await mkdir(SCRATCH, { recursive: true });
  });
  after(async () => {
    await b?.close();
    await rm(SCRATCH, { recursive: true, force: true });
  });

  const cli = async (line: string, env: NodeJS.ProcessEnv) => {
    const args = line.trim().split(/\s+/);
    assert.equal(args.shift(), 'gatehouse');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env, timeout: 60_000 });
    return stdout;
  };

  it('issues a credential with the CLI, writes and reads with the SDK snippet, and finds the writer', async () => {
    // The doc's connection points at s3rver here (its upstream URL is the only thing changed).
    const lines = docBlock('docs/s3.md › Credentials for agents › 1').text.trim().split('\n');
    const env = { ...process.env, GATEHOUSE_URL: b.url, GATEHOUSE_TOKEN: ADMIN_TOKEN, HOME: SCRATCH };
    const created = await cli(lines[0]!, env);
    const accessKeyId = /access key id:\s+(\S+)/.exec(created)?.[1];
    const secret = /secret access key:\s+(\S+)/.exec(created)?.[1];
    assert.ok(accessKeyId?.startsWith('GHS3') && secret);

    const block = docBlock('docs/s3.md › Credentials for agents › 2');
    assert.equal(block.lang, 'ts');
    const file = join(SCRATCH, `${randomBytes(6).toString('hex')}.mts`);
    await writeFile(file, block.text);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, GATEHOUSE_URL: b.url, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secret },
      timeout: 60_000,
    });
    assert.match(stdout, /\{"step":1\}/);

    const who = await cli(lines[1]!, env);
    assert.match(who, /int_[0-9a-f]+/);
    assert.match(who, /trace-writer/);
  });
});
