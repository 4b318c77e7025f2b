import { Command, Option } from 'commander';
import { handleError } from './handle-error.js';
import { registerRegistryCommands } from './commands-registry.js';
import { registerGcCommands } from './commands-gc.js';
import { registerFarmCommands } from './commands-farm.js';
import { registerDaemonCommand } from './daemon.js';
import { registerContainerCommands } from './commands-containers.js';
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
const program = new Command()
  .name('builder')
  .description('Build Dockerfiles into OCI images with runc, and run them')
  .option('--root <dir>', 'store directory (default $BUILDER_ROOT, /var/lib/builder for root)')
  .option('--debug', 'print error causes')
  .enablePositionalOptions()
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  .exitOverride();

program.command('build')
  .description('Build an image from a Dockerfile')
  .argument('<context>', 'build context directory (- reads a context tar or a Dockerfile from stdin)')
  .option('-t, --tag <name>', 'name and optionally a tag (name:tag); repeatable', collect, [])
  .option('-f, --file <path>', 'Dockerfile (default: CONTEXT/Dockerfile)')
  .option('--build-arg <arg>', 'set a build-time variable (K=V, or K to take it from the environment); repeatable', collect, [])
  .option('--target <stage>', 'build this stage')
  .option('--no-cache', 'do not use the cache')
  .option('--no-cache-filter <stage>', 'do not use the cache for this stage; repeatable', collect, [])
  .addOption(new Option('--progress <mode>', 'progress output').choices(['auto', 'plain', 'tty', 'rawjson', 'quiet']).default('auto'))
  .addOption(new Option('--network <mode>', 'network for RUN (isolated: own netns on builder\'s build bridge, no access to this host)').choices(['host', 'none', 'default', 'isolated']).default('host'))
  .option('--iidfile <file>', 'write the image id (manifest digest) to this file')
  .option('--metadata-file <file>', "write the build result as buildx's JSON (containerimage.digest, image.name, …)")
  .option('-q, --quiet', 'print only the image id')
  .option('--memory <size>', 'memory limit per RUN (e.g. 2g)')
  .option('--pids-limit <n>', 'process limit per RUN')
  .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR; repeatable', collect, [])
  .option('--pull', 'always look for newer versions of the base images')
  .option('--push', 'push every -t tag to its registry after the build')
  .option('--no-daemon', 'build in this process even when a builder daemon answers (BUILDER_HOST or /run/builder/docker.sock)')
  .option('--remote <url>', 'build on a build farm (builder serve) instead of locally')
  .option('--token <token>', 'API token for --remote (default $BUILDER_TOKEN)')
  .option('--label <k=v>', 'set a label on the image; repeatable', collect, [])
  .option('-o, --output <spec>', 'also write the result: type=oci|docker|tar|local,dest=PATH (DIR = local, - = tar on stdout), type=image|registry[,name=REF][,push=true]; oci-mediatypes=false for a Docker v2s2 manifest; repeatable', collect, [])
  .option('--cache-to <spec>', 'export the build cache: type=registry,ref=HOST/REPO:TAG[,mode=min|max] or type=local,dest=DIR; repeatable', collect, [])
  .option('--cache-from <spec>', 'also use this cache: type=registry,ref=HOST/REPO:TAG or type=local,src=DIR; repeatable', collect, [])
  .option('--build-context <name=value>', 'named context for FROM/--from: NAME=DIR or NAME=docker-image://REF; repeatable', collect, [])
  .option('--trace <file>', 'write a Chrome/Perfetto trace of the build (every step\'s phases) to this file')
  .option('--runtime <name>', 'OCI runtime for RUN steps: runc (default) or crun (default $BUILDER_RUNTIME, [build] runtime)')
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
