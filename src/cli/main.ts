import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { GatewayError } from '../errors.ts';
import { adminCommands } from './admin-commands.ts';
import { agentsCommands } from './agents-commands.ts';
import { s3Commands } from './s3-commands.ts';
import { approvalsCommands } from './approvals-commands.ts';
import { accessCommands } from './access-commands.ts';
import { localCommands } from './local-commands.ts';
import { offlineCommands } from './offline-commands.ts';
import { configCommands } from './config-check.ts';
import { loginCommands } from './login.ts';
import { mcpCommands } from './mcp-commands.ts';

/** From package.json, two folders up from both src/cli and dist/cli. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildProgram(print: (text: string) => void = (text) => process.stdout.write(`${text}\n`)): Command {
  const program = new Command('gatehouse')
    .description('Access gateway for AI agents: authenticate, decide, mask, forward and record every request.\n\nCommands other than start and the local checks talk to a running gateway: set GATEHOUSE_URL and GATEHOUSE_TOKEN (an admin token) or run `gatehouse login`.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });

  program
    .command('start')
    .description('run the gateway')
    .option('-c, --config <file>', 'configuration file (default ./gatehouse.yaml; with --demo, the bundled demo config)')
    .option('--demo', 'start a local demo model and an example configuration; prints a token to try it with')
    // Loaded only to start: the gateway's modules cost the other commands a second of start-up.
    .action(async (opts: { config?: string; demo?: boolean }) => (await import('./start.ts')).runStart(opts));

  for (const command of [...loginCommands(print), ...adminCommands(print), ...agentsCommands(print), ...approvalsCommands(print), ...accessCommands(print), ...mcpCommands(print), ...localCommands(print), ...configCommands(print), ...offlineCommands(print), ...s3Commands(print)]) program.addCommand(command);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    const message = err instanceof GatewayError ? `${err.message} (${err.code})` : (err as Error).message;
    process.stderr.write(`gatehouse: ${message}\n`);
    return err instanceof GatewayError && err.code === 'config_invalid' ? 2 : 1;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exit(code);
