import { Command, Option } from 'commander';

/**
 * The CLI's global options and `builder build`'s arguments and flags, in one place for the two parsers that read
 * them: the whole CLI (program.ts) and the short path to a running daemon (daemon-fast.ts), which must accept
 * exactly the same.
 */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function newRootCommand(): Command {
  return new Command()
    .name('builder')
    .description('Build Dockerfiles into OCI images with runc, and run them')
    .option('--root <dir>', 'store directory (default $BUILDER_ROOT, /var/lib/builder for root)')
    .option('--debug', 'print error causes')
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride();
}

export function defineBuildCommand(program: Command): Command {
  return program.command('build')
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
    .option('--ssh <spec>', 'SSH agent for RUN --mount=type=ssh: default (=$SSH_AUTH_SOCK), default=SOCKET or ID=KEYFILE[,KEYFILE]; repeatable', collect, [])
    .option('--pull', 'always look for newer versions of the base images')
    .option('--push', 'push every -t tag to its registry after the build')
    .option('--no-daemon', 'build in this process even when a builder daemon answers (BUILDER_HOST or /run/builder/docker.sock)')
    .option('--remote <url>', 'build on a build farm (builder serve) instead of locally; a git URL context (https://…/repo.git#ref) is cloned there')
    .option('--token <token>', 'API token for --remote (default $BUILDER_TOKEN)')
    .option('--label <k=v>', 'set a label on the image; repeatable', collect, [])
    .option('-o, --output <spec>', 'also write the result: type=oci|docker|tar|local,dest=PATH (DIR = local, - = tar on stdout), type=image|registry[,name=REF][,push=true]; oci-mediatypes=false for a Docker v2s2 manifest; repeatable', collect, [])
    .option('--cache-to <spec>', 'export the build cache: type=registry,ref=HOST/REPO:TAG[,mode=min|max] or type=local,dest=DIR; repeatable', collect, [])
    .option('--cache-from <spec>', 'also use this cache: type=registry,ref=HOST/REPO:TAG or type=local,src=DIR; repeatable', collect, [])
    .option('--build-context <name=value>', 'named context for FROM/--from: NAME=DIR or NAME=docker-image://REF; repeatable', collect, [])
    .option('--trace <file>', 'write a Chrome/Perfetto trace of the build (every step\'s phases) to this file')
    .option('--runtime <name>', 'OCI runtime for RUN steps: runc (default) or crun (default $BUILDER_RUNTIME, [build] runtime)');
}
