import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';

/** `builder network create|ls|inspect|rm|connect|disconnect|prune`, docker's flags and output. */
export function registerNetworkCommands(program: Command): void {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const load = (): Promise<typeof import('./network.js')> => import('./network.js');
  const network = program.command('network').description('Manage networks');
  network.command('create').description('Create a network').argument('<name>')
    .option('-d, --driver <driver>', 'driver to manage the network', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format, e.g. 10.5.0.0/24')
    .option('--gateway <ip>', 'gateway for the subnet')
    .option('--internal', 'restrict external access to the network')
    .option('--label <k=v>', 'set metadata on the network; repeatable', collect, [])
    .action(async (name: string, opts) => { await (await load()).networkCreate(name, opts, globals()); });
  network.command('ls').alias('list').description('List networks')
    .option('-q, --quiet', 'only display network IDs')
    .option('-f, --filter <filter>', 'filter output (name=, id=, label=, driver=); repeatable', collect, [])
    .option('--no-trunc', 'do not truncate the output')
    .action(async (opts) => { await (await load()).networkLs(opts, globals()); });
  network.command('inspect').description('Display detailed information on one or more networks').argument('<networks...>')
    .action(async (names: string[]) => { await (await load()).networkInspect(names, globals()); });
  network.command('rm').alias('remove').description('Remove one or more networks').argument('<networks...>')
    .action(async (names: string[]) => { await (await load()).networkRm(names, globals()); });
  network.command('connect').description('Connect a running container to a network').argument('<network>').argument('<container>')
    .option('--alias <alias>', 'add a network-scoped alias for the container; repeatable', collect, [])
    .action(async (net: string, container: string, opts) => { await (await load()).networkConnect(net, container, opts, globals()); });
  network.command('disconnect').description('Disconnect a container from a network').argument('<network>').argument('<container>')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action(async (net: string, container: string, opts) => { await (await load()).networkDisconnect(net, container, opts, globals()); });
  network.command('prune').description('Remove all unused networks')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (label=); repeatable', collect, [])
    .action(async (opts) => { await (await load()).networkPrune(opts, globals()); });
}
