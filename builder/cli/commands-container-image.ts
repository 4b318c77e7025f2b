import type { Command } from 'commander';
import type { GlobalOptions } from './options.js';

/**
 * docker's diff, commit, export, import, history and update (with `container`/`image` aliases), over the same
 * service code as `builder daemon`'s endpoints. Modules load lazily: registering costs nothing at start-up.
 */
export function registerContainerImageCommands(program: Command, setExit: (code: number) => void): void {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const load = () => import('./container-image.js');
  const container = program.commands.find((c) => c.name() === 'container');
  const image = program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('Manage images');

  for (const parent of [program, container]) {
    if (!parent) continue;
    parent.command('diff').description("Inspect changes to files or directories on a container's filesystem").argument('<container>')
      .action(async (ref: string) => setExit(await (await load()).diffCommand(ref, globals())));
    parent.command('commit').description("Create a new image from a container's changes").argument('<container>').argument('[repository[:tag]]')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENV, LABEL, …); repeatable', collect, [])
      .option('-m, --message <message>', 'commit message').option('-a, --author <author>', 'author')
      .option('-p, --pause', 'pause the container while committing (default)', true).option('--no-pause', 'do not pause it')
      .action(async (ref: string, reference: string | undefined, opts) => setExit(await (await load()).commitCommand(ref, reference, opts, globals())));
    parent.command('export').description("Export a container's filesystem as a tar archive").argument('<container>')
      .option('-o, --output <file>', 'write to a file instead of stdout')
      .action(async (ref: string, opts: { output?: string }) => setExit(await (await load()).exportCommand(ref, opts, globals())));
    parent.command('update').description('Update the restart policy and resources of one or more containers').argument('<containers...>')
      .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:max-retries]').option('-m, --memory <size>', 'memory limit')
      .option('--memory-swap <size>', 'memory + swap limit').option('--cpus <n>', 'number of CPUs').option('--cpu-shares <n>', 'CPU shares')
      .option('--pids-limit <n>', 'process limit')
      .action(async (refs: string[], opts) => setExit(await (await load()).updateCommand(refs, opts, globals())));
  }
  for (const parent of [program, image]) {
    parent.command('import').description('Import the contents from a tarball to create a filesystem image').argument('<file|URL|->').argument('[repository[:tag]]')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENV, LABEL, …); repeatable', collect, [])
      .option('-m, --message <message>', 'commit message for the imported image').option('--platform <os/arch>', 'the image\'s platform')
      .action(async (file: string, reference: string | undefined, opts) => setExit(await (await load()).importCommand(file, reference, opts, globals())));
    parent.command('history').description('Show the history of an image').argument('<image>')
      .option('-q, --quiet', 'only image ids').option('--no-trunc', 'do not truncate output')
      .action(async (name: string, opts: { quiet?: boolean; trunc?: boolean }) => setExit(await (await load()).historyCommand(name, { quiet: opts.quiet, noTrunc: opts.trunc === false }, globals())));
  }
}
