import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';

/** `builder volume create|ls|inspect|rm|prune`, docker's flags and output. */
export function registerVolumeCommands(program: Command): void {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const load = (): Promise<typeof import('./volume.js')> => import('./volume.js');
  const volume = program.command('volume').description('Manage volumes');
  volume.command('create').description('Create a volume').argument('[name]')
    .option('-d, --driver <driver>', 'volume driver name', 'local')
    .option('--label <k=v>', 'set metadata for a volume; repeatable', collect, [])
    .action(async (name: string | undefined, opts) => { await (await load()).volumeCreate(name, opts, globals()); });
  volume.command('ls').alias('list').description('List volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <filter>', 'filter output (name=, label=, dangling=true|false); repeatable', collect, [])
    .action(async (opts) => { await (await load()).volumeLs(opts, globals()); });
  volume.command('inspect').description('Display detailed information on one or more volumes').argument('<volumes...>')
    .action(async (names: string[]) => { await (await load()).volumeInspect(names, globals()); });
  volume.command('rm').alias('remove').description('Remove one or more volumes').argument('<volumes...>')
    .option('-f, --force', 'do not fail for volumes that do not exist')
    .action(async (names: string[], opts) => { await (await load()).volumeRm(names, opts, globals()); });
  volume.command('prune').description('Remove unused anonymous volumes (all unused ones with --all)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (label=); repeatable', collect, [])
    .action(async (opts) => { await (await load()).volumePrune(opts, globals()); });
}
