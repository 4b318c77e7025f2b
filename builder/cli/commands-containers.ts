import { Option, type Command } from 'commander';
import { addCreateFlags, type CreateFlags } from './container-flag-defs.js';
import type { GlobalOptions } from './options.js';

/**
 * Container commands with docker's names and flags (create, start, stop, ps, logs, exec, cp, …) over the one
 * container service (builder/containers/service.ts) that `builder daemon` serves too. Modules load lazily.
 */
export function registerContainerCommands(program: Command, setExit: (code: number) => void): void {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const load = () => import('./containers.js');

  addCreateFlags(program.command('create').description('Create a new container').argument('<image>').argument('[command...]'))
    .passThroughOptions()
    .action(async (image: string, command: string[], opts: CreateFlags) => setExit(await (await load()).createCommand(image, command, opts, globals())));

  program.command('start').description('Start one or more stopped containers').argument('<containers...>')
    .option('-a, --attach', 'attach stdout/stderr and forward signals').option('-i, --interactive', "attach the container's stdin")
    .option('--detach-keys <keys>', 'key sequence that detaches (default ctrl-p,ctrl-q)')
    .action(async (refs: string[], opts: { attach?: boolean; interactive?: boolean; detachKeys?: string }) => setExit(await (await load()).startCommand(refs, opts, globals())));

  program.command('attach').description("Attach local standard input, output, and error streams to a running container").argument('<container>')
    .option('--no-stdin', 'do not attach stdin').option('--no-sig-proxy', 'do not proxy signals to the container (without a TTY)')
    .option('--detach-keys <keys>', 'key sequence that detaches (default ctrl-p,ctrl-q)')
    .action(async (ref: string, opts: { stdin?: boolean; sigProxy?: boolean; detachKeys?: string }) => setExit(await (await load()).attachCommand(ref, opts, globals())));

  for (const verb of ['stop', 'restart'] as const) {
    program.command(verb).description(verb === 'stop' ? 'Stop one or more running containers' : 'Restart one or more containers').argument('<containers...>')
      .option('-t, --time <seconds>', 'seconds to wait before killing the container').option('-s, --signal <signal>', 'signal to send')
      .action(async (refs: string[], opts: { time?: string; signal?: string }) => setExit(await (await load()).stopCommand(refs, opts, globals(), verb === 'restart')));
  }
  program.command('kill').description('Kill one or more running containers').argument('<containers...>')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(async (refs: string[], opts: { signal?: string }) => setExit(await (await load()).simpleCommand('kill', refs, opts, globals())));
  for (const verb of ['pause', 'unpause'] as const) {
    program.command(verb).description(`${verb === 'pause' ? 'Pause' : 'Unpause'} all processes within one or more containers`).argument('<containers...>')
      .action(async (refs: string[]) => setExit(await (await load()).simpleCommand(verb, refs, {}, globals())));
  }
  program.command('wait').description('Block until containers stop, then print their exit codes').argument('<containers...>')
    .action(async (refs: string[]) => setExit(await (await load()).waitCommand(refs, globals())));
  program.command('rm').description('Remove one or more containers').argument('<containers...>')
    .option('-f, --force', 'force the removal of a running container (SIGKILL)').option('-v, --volumes', 'remove anonymous volumes')
    .action(async (refs: string[], opts: { force?: boolean; volumes?: boolean }) => setExit(await (await load()).rmCommand(refs, opts, globals())));
  program.command('rename').description('Rename a container').argument('<container>').argument('<new-name>')
    .action(async (ref: string, name: string) => setExit(await (await load()).renameCommand(ref, name, globals())));

  const addPsFlags = (command: Command): Command => command
    .option('-a, --all', 'show all containers (default shows just running)').option('-q, --quiet', 'only display container ids')
    .option('-f, --filter <filter>', 'filter: status=, name= (regexp), label=, ancestor=, id=, exited=, health=, network=, volume=, publish=, expose=; repeatable', collect, [])
    .option('--format <template>', 'Go template subset, table TEMPLATE, or json').option('--no-trunc', 'do not truncate output')
    .option('-n, --last <n>', 'show n last created containers').option('-l, --latest', 'show the latest created container')
    .action(async (opts) => setExit(await (await load()).psCommand(opts, globals())));
  addPsFlags(program.command('ps').description('List containers'));

  program.command('logs').description('Fetch the logs of a container').argument('<container>')
    .option('-f, --follow', 'follow log output').option('-n, --tail <n>', 'number of lines from the end', 'all')
    .option('--since <time>', 'since a timestamp (RFC 3339, unix) or relative (10m)').option('-t, --timestamps', 'show timestamps')
    .action(async (ref: string, opts) => setExit(await (await load()).logsCommand(ref, opts, globals())));
  program.command('top').description('Display the running processes of a container').argument('<container>').argument('[ps-options...]')
    .passThroughOptions()
    .action(async (ref: string, args: string[]) => setExit(await (await load()).topCommand(ref, args, globals())));
  program.command('port').description('List port mappings of a container').argument('<container>').argument('[port]')
    .action(async (ref: string, port: string | undefined) => setExit(await (await load()).portCommand(ref, port, globals())));
  program.command('stats').description('Display resource usage of containers').argument('[containers...]')
    .option('--no-stream', 'print one sample and exit (the only mode)').option('-a, --all', 'all containers')
    .action(async (refs: string[], opts) => setExit(await (await load()).statsCommand(refs, opts, globals())));
  program.command('exec').description('Execute a command in a running container').argument('<container>').argument('<command...>')
    .helpOption('--help', 'display help for command')
    .option('-i, --interactive', 'keep stdin open').option('-t, --tty', 'allocate a terminal').option('-d, --detach', 'not supported')
    .option('-e, --env <K=V>', 'set an environment variable; repeatable', collect, [])
    .option('-u, --user <user>', 'user[:group]').option('-w, --workdir <dir>', 'working directory')
    .passThroughOptions()
    .action(async (ref: string, command: string[], opts) => setExit(await (await load()).execCommand(ref, command, opts, globals())));
  program.command('cp').description('Copy files between a container and the local filesystem').argument('<source>').argument('<dest>')
    .action(async (source: string, dest: string) => setExit(await (await import('./container-cp.js')).cpCommand(source, dest, globals())));

  const container = program.command('container').description('Manage containers');
  addPsFlags(container.command('ls').alias('list').description('List containers'));
  container.command('prune').description('Remove all stopped containers').option('-f, --force', 'do not prompt')
    .option('--filter <filter>', 'label=…; repeatable', collect, [])
    .action(async (opts) => setExit(await (await load()).pruneCommand(opts, globals())));
  container.command('inspect').description('Show container details as JSON').argument('<containers...>')
    .option('-f, --format <template>', 'Go template subset: {{.State.Status}}, {{json .Config}}')
    .action(async (refs: string[], opts: { format?: string }) => setExit(await (await import('./container-inspect.js')).inspectAny(refs, globals(), 'container', opts.format)));
  container.command('cleanup', { hidden: true }).description('Record a container\'s exit (run by its monitor)').argument('<id>').argument('[runtime-id]')
    .action(async (id: string, runtimeId?: string) => {
      const { Containers } = await import('../containers/service.js');
      await (await Containers.open(globals().root)).cleanup(id, runtimeId);
    });
  container.command('healthcheck', { hidden: true }).description('Run one healthcheck (run by the health timer)').argument('<id>').argument('<runtime-id>')
    .action(async (id: string, runtimeId: string) => {
      const { Containers } = await import('../containers/service.js');
      setExit((await (await Containers.open(globals().root)).healthcheck(id, runtimeId)) ? 0 : 1);
    });
  container.command('revive').description('Start --restart always|unless-stopped containers after a reboot (for a systemd unit)')
    .action(async () => {
      const { Containers } = await import('../containers/service.js');
      const revived = await (await Containers.open(globals().root)).reviveAfterReboot();
      for (const id of revived) process.stdout.write(`${id}\n`);
    });

  program.command('info').description('Display system-wide information')
    .addOption(new Option('-f, --format <format>', 'json'))
    .action(async (opts: { format?: string }) => setExit(await (await import('./info.js')).infoCommand(opts, globals())));
  program.command('version').description('Show the builder version information')
    .addOption(new Option('-f, --format <format>', 'json'))
    .action(async (opts: { format?: string }) => setExit(await (await import('./info.js')).versionCommand(opts, globals())));
}

