import type { Command } from 'commander';

/**
 * `builder pull` and `builder push`: their arguments and flags, in one place for the two parsers that read them:
 * the whole CLI (commands-registry.ts) and the short path of a push or pull (registry-fast.ts), which must accept
 * exactly the same. Definitions only; each caller adds its action.
 */
export function definePullCommand(program: Command): Command {
  return program.command('pull').description('Pull an image from a registry').argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('--platform <os/arch>', 'platform to pull from a multi-platform image (default linux/amd64)')
    .option('-q, --quiet', 'print only the image name');
}

export function definePushCommand(program: Command): Command {
  return program.command('push').description('Push an image to a registry').argument('<name>', 'NAME[:TAG] in the store')
    .argument('[destination]', 'push it under this name instead (default: NAME)')
    .option('-q, --quiet', 'print only the pushed reference');
}
