/** `gatehouse s3 …`: S3 credentials for agents, and which request wrote an object. */
import { Command } from 'commander';
import { callApi, clientSettings } from './api-client.ts';
import { table, time } from './output.ts';

type Print = (text: string) => void;

interface S3Credential {
  accessKeyId: string;
  secretAccessKey: string;
  tokenId: string;
  connection: string;
  expiresAt: number | null;
}

interface ObjectWrite {
  interactionId: string;
  sessionId: string | null;
  principal: string | null;
  agent: string | null;
  connection: string;
  bucket: string;
  key: string;
  etag: string | null;
  versionId: string | null;
  writtenAt: number;
}

export function s3Commands(print: Print): Command[] {
  const s3 = new Command('s3').description('object storage: S3 credentials for agents, and who wrote an object');
  const credentials = s3.command('credentials').description('S3 access keys issued by Gatehouse (short-lived, revocable like tokens)');
  credentials
    .command('create')
    .description('issue an access key id and secret for one s3 connection (the secret is shown once)')
    .requiredOption('--connection <name>', 'the s3 connection')
    .option('--ttl <duration>', 'lifetime, e.g. 1h (default and maximum from config)')
    .option('--name <name>', 'agent name, written into object metadata', 's3 credential')
    .option('--env', 'print as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY lines for a shell')
    .action(async (opts: { connection: string; ttl?: string; name: string; env?: boolean }, command: Command) => {
      const body = { connection: opts.connection, name: opts.name, ...(opts.ttl ? { ttl: opts.ttl } : {}) };
      const issued = await callApi<S3Credential>(await clientSettings(), 'POST', '/s3/credentials', body);
      if (command.optsWithGlobals().json) return print(JSON.stringify(issued, null, 2));
      if (opts.env) return print(`AWS_ACCESS_KEY_ID=${issued.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${issued.secretAccessKey}`);
      print(
        [
          `access key id:     ${issued.accessKeyId}`,
          `secret access key: ${issued.secretAccessKey}`,
          `token:             ${issued.tokenId} (revoke with: gatehouse token revoke ${issued.tokenId})`,
          `expires:           ${issued.expiresAt === null ? 'never' : time(issued.expiresAt)}`,
        ].join('\n'),
      );
    });
  s3.command('whowrote <bucket> <key>')
    .description('the recorded requests that wrote an object through the gateway, newest first')
    .option('--connection <name>', 'only writes through this connection')
    .action(async (bucket: string, key: string, opts: { connection?: string }, command: Command) => {
      const query = new URLSearchParams({ bucket, key, ...(opts.connection ? { connection: opts.connection } : {}) });
      const { writes } = await callApi<{ writes: ObjectWrite[] }>(await clientSettings(), 'GET', `/s3/objects?${query}`);
      if (command.optsWithGlobals().json) return print(JSON.stringify(writes, null, 2));
      const rows = writes.map((w) => ({ ...w, writtenAt: time(w.writtenAt) }));
      print(writes.length === 0 ? `no recorded write of ${bucket}/${key}` : table(rows, ['writtenAt', 'interactionId', 'principal', 'agent', 'sessionId', 'etag']));
    });
  return [s3];
}
