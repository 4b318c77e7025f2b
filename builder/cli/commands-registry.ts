/** Registers the registry commands on the program; their modules load only when one of them runs. */
import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';
import { definePullCommand, definePushCommand } from './registry-defs.js';

/** `pull`, `push`, `login`, `logout`. Each action sets `process.exitCode`; errors go to main's one handler. */
export function registerRegistryCommands(program: Command): void {
  const global = (): GlobalOptions => program.opts<GlobalOptions>();
  const done = (code: number): void => {
    process.exitCode = code;
  };
  definePullCommand(program)
    .action(async (name: string, opts) => done(await (await import('./registry.js')).pullCommand(name, opts, global())));
  definePushCommand(program)
    .action(async (name: string, destination: string | undefined, opts) => done(await (await import('./registry.js')).pushCommand(name, destination, opts, global())));
  program.command('login').description('Log in to a registry (stored in $DOCKER_CONFIG/config.json)').argument('[server]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'username')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (server: string | undefined, opts) => done(await (await import('./registry.js')).loginCommand(server, opts)));
  program.command('logout').description('Log out from a registry').argument('[server]', 'registry host (default docker.io)')
    .action(async (server: string | undefined) => done(await (await import('./registry.js')).logoutCommand(server)));
}
