/** Registers the registry commands on the program; their modules load only when one of them runs. */
import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';

/** `pull`, `push`, `login`, `logout`. Each action sets `process.exitCode`; errors go to main's one handler. */
export function registerRegistryCommands(program: Command): void {
  const global = (): GlobalOptions => program.opts<GlobalOptions>();
  const done = (code: number): void => {
    process.exitCode = code;
  };
  program.command('pull').description('Pull an image from a registry').argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('--platform <os/arch>', 'platform to pull from a multi-platform image (default linux/amd64)')
    .option('-q, --quiet', 'print only the image name')
    .action(async (name: string, opts) => done(await (await import('./registry.js')).pullCommand(name, opts, global())));
  program.command('push').description('Push an image to a registry').argument('<name>', 'NAME[:TAG] in the store')
    .argument('[destination]', 'push it under this name instead (default: NAME)')
    .option('-q, --quiet', 'print only the pushed reference')
    .action(async (name: string, destination: string | undefined, opts) => done(await (await import('./registry.js')).pushCommand(name, destination, opts, global())));
  program.command('login').description('Log in to a registry (stored in $DOCKER_CONFIG/config.json)').argument('[server]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'username')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (server: string | undefined, opts) => done(await (await import('./registry.js')).loginCommand(server, opts)));
  program.command('logout').description('Log out from a registry').argument('[server]', 'registry host (default docker.io)')
    .action(async (server: string | undefined) => done(await (await import('./registry.js')).logoutCommand(server)));
}
