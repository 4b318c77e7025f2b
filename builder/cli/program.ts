import { CommanderError, Option } from 'commander';
import { defineBuildCommand, newRootCommand } from './program-defs.js';
import { packageVersion } from './package-version.js';
import { handleError } from './handle-error.js';
import { registerRegistryCommands } from './commands-registry.js';
import { registerGcCommands } from './commands-gc.js';
import { registerFarmCommands } from './commands-farm.js';
import { registerDaemonCommand } from './daemon.js';
import { registerContainerCommands } from './commands-containers.js';
import { registerContainerImageCommands } from './commands-container-image.js';
import { addCreateFlags } from './container-flag-defs.js';
import { registerNetworkCommands } from './commands-network.js';
import { registerVolumeCommands } from './commands-volume.js';

/**
 * The CLI's commands and the one exit point (main.ts only loads this module, bundled or not). Command
 * modules are imported lazily so `builder run` starts fast. Flags follow `docker build` / `docker run`.
 * No top-level await here: scripts/build-cli.ts bundles this module as CommonJS (docs/ARCHITECTURE.md).
 */
const collect = (value: string, previous: string[]): string[] => [...previous, value];
let exitCode = 0;
const program = newRootCommand();
// `docker --version` / `-v`: one line, then exit 0. package.json is read only when asked (commander's .version()
// wants the string up front, i.e. a read on every CLI call); the CommanderError ends the parse as its own does.
program.option('-v, --version', 'print version information and quit').on('option:version', () => {
  process.stdout.write(`builder version ${packageVersion()}\n`);
  throw new CommanderError(0, 'commander.version', `builder version ${packageVersion()}`);
});

defineBuildCommand(program)
  .action(async (context: string, opts) => {
    if (opts.remote) {
      exitCode = await (await import('./remote-build.js')).remoteBuildCommand(context, opts, program.opts());
      return;
    }
    const { findDaemon } = await import('./daemon-client.js');
    const daemon = findDaemon({ noDaemon: opts.daemon === false, rootGiven: program.opts().root !== undefined });
    if (daemon) {
      const { daemonBuildCommand, needsEmbedded } = await import('./daemon-build.js');
      if (!needsEmbedded(opts, context)) {
        exitCode = await daemonBuildCommand(daemon, context, opts);
        return;
      }
    }
    const { buildCommand } = await import('./build.js');
    exitCode = await buildCommand(context, opts, program.opts());
  });

addCreateFlags(program.command('run')
  .description('Run a command in a new container')
  .argument('<image>')
  .argument('[command...]')
  .option('-d, --detach', 'run in the background and print the container id'))
  .passThroughOptions()
  .action(async (image: string, command: string[], opts) => {
    const { runCommand } = await import('./run.js');
    exitCode = await runCommand(image, command, opts, program.opts());
  });

program.command('images').description('List images').option('-q, --quiet', 'only ids')
  .action(async (opts) => { exitCode = await (await import('./images.js')).imagesCommand(opts, program.opts()); });
program.command('tag').description('Create a tag TARGET that refers to SOURCE').argument('<source>').argument('<target>')
  .action(async (source: string, target: string) => { exitCode = await (await import('./images.js')).tagCommand(source, target, program.opts()); });
program.command('rmi').description('Remove image tags').argument('<images...>')
  .action(async (images: string[]) => { exitCode = await (await import('./images.js')).rmiCommand(images, program.opts()); });
program.command('inspect').description('Show details of containers or images as JSON').argument('<names...>')
  .option('--type <type>', 'container or image')
  .option('-f, --format <template>', 'Go template subset: {{.State.Status}}, {{json .Config}}, {{index .Config.Labels "k"}}')
  .action(async (names: string[], opts: { type?: string; format?: string }) => {
    exitCode = await (await import('./container-inspect.js')).inspectAny(names, program.opts(), opts.type, opts.format);
  });
program.command('load').description('Load images from a docker-archive or OCI archive').requiredOption('-i, --input <file>', 'archive')
  .action(async (opts) => { exitCode = await (await import('./archive.js')).loadCommand(opts.input, program.opts()); });
program.command('save').description('Save images to an archive').requiredOption('-o, --output <file>', 'archive').argument('<images...>')
  .addOption(new Option('--format <format>', 'archive format').choices(['oci', 'docker']).default('oci'))
  .action(async (images: string[], opts) => { exitCode = await (await import('./archive.js')).saveCommand(images, opts.output, opts.format, program.opts()); });

registerGcCommands(program);

registerRegistryCommands(program);

registerFarmCommands(program);

registerDaemonCommand(program);

registerContainerCommands(program, (code) => { exitCode = code; });
registerContainerImageCommands(program, (code) => { exitCode = code; });
registerNetworkCommands(program);
registerVolumeCommands(program);

/** Parses argv, runs the command and sets process.exitCode (never calls process.exit). */
export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    exitCode = handleError(err, program.opts().debug === true);
  }
  process.exitCode = exitCode;
}
