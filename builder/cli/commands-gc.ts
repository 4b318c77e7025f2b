import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';

/**
 * `builder prune` and `builder system df|prune`. Modules load lazily, like the other commands. Failures
 * are thrown as BuildErrors and reach main.ts's one exit point.
 */
export function registerGcCommands(program: Command): void {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const addPruneOptions = (command: Command, withContainers = false): Command =>
    command
      .option('-a, --all', 'remove all build cache, not just unused records (tagged images stay)')
      .option('--keep-storage <size>', 'remove least recently used cache until the store is at most this size (e.g. 10g)')
      .option('--filter <filter>', 'only cache unused for longer than this: until=DURATION (e.g. until=24h); repeatable', collect, [])
      .option('-f, --force', 'do not prompt for confirmation')
      .action(async (opts: { all?: boolean; keepStorage?: string; filter: string[]; force?: boolean }) => {
        // `system prune` first removes stopped containers (docker's order), so their images become prunable.
        if (withContainers) await (await import('./containers.js')).pruneCommand({ force: true, filter: [] }, globals());
        // …then networks no container uses (docker's next step).
        if (withContainers) await (await import('./network.js')).networkPrune({ filter: [] }, globals());
        const { pruneCommand } = await import('./prune.js');
        await pruneCommand(opts, globals());
      });

  addPruneOptions(program.command('prune').description('Remove build cache and unreferenced blobs and snapshots'));

  const system = program.command('system').description('Manage the local store');
  system.command('df').description('Show disk usage of the store')
    .option('--format <format>', 'table (default) or json')
    .action(async (opts: { format?: string }) => {
      const { systemDfCommand } = await import('./system.js');
      await systemDfCommand(opts, globals());
    });
  addPruneOptions(system.command('prune').description('Remove stopped containers and unused networks, then what `builder prune` removes'), true);
}
