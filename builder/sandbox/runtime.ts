/**
 * Which OCI runtime runs RUN steps: runc (the default) or crun (C, no Go runtime to start: about half runc's start
 * cost in published figures and in our trace). Both take the same bundle, `run --bundle DIR ID`, `--root`, `--log`,
 * `--log-format json` and `--pid-file`; each keeps its state under its own root (their state formats differ).
 * Chosen by `--runtime`, else BUILDER_RUNTIME, else `[build] runtime` in the config file.
 */
import { access, constants as fsConstants, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { RUNC_ROOT } from './runc-root.js';

export const RUNTIME_NAMES = ['runc', 'crun'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** A runtime binary and the state root builder gives it. */
export interface OciRuntime {
  name: RuntimeName;
  path: string;
  root: string;
  /** A command the runtime is run under (see hybridWrapper), before `path`. */
  wrapper?: string[];
}

/** The command and argv that run `runtime` with `args`. */
export function runtimeCommand(runtime: OciRuntime, args: string[]): { command: string; argv: string[] } {
  if (!runtime.wrapper) return { command: runtime.path, argv: args };
  const [command, ...rest] = runtime.wrapper;
  return { command: command!, argv: [...rest, runtime.path, ...args] };
}

/**
 * crun refuses a hybrid cgroup layout whose v2 hierarchy holds controllers ("cgroups in hybrid mode not supported,
 * drop all controllers from cgroupv2"), even with its cgroup manager disabled; this machine's has hugetlb there.
 * Run it in a private mount namespace without /sys/fs/cgroup/unified: it then sees plain cgroup v1 and applies the
 * memory and pids limits there, as runc does. The host's mounts are untouched (one `unshare` + `sh`, ~2 ms).
 */
async function hybridWrapper(): Promise<string[] | undefined> {
  const controllers = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '');
  if (controllers.trim() === '') return undefined;
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"'];
}

/** crun's state dir: apart from runc's, which store/reap.ts reads as runc state. */
export const CRUN_ROOT = '/run/builder-crun';

/** Validates a runtime name: an unknown one is a clear error, not a failed exec later. */
export function runtimeName(value: string | undefined, where = '--runtime'): RuntimeName {
  if (value === undefined || value === '') return 'runc';
  const name = value.trim().toLowerCase();
  if ((RUNTIME_NAMES as readonly string[]).includes(name)) return name as RuntimeName;
  throw new BuildError('INVALID_ARGUMENT', `${where}: unknown OCI runtime "${value}" (builder runs RUN steps with ${RUNTIME_NAMES.join(' or ')}; runc is the default)`);
}

/**
 * The runtime to use when the caller did not name one: BUILDER_RUNTIME, else `[build] runtime` of the config file.
 * Invalid values fail here, before the build starts.
 */
export function configuredRuntime(raw: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): RuntimeName {
  if (env.BUILDER_RUNTIME) return runtimeName(env.BUILDER_RUNTIME, 'BUILDER_RUNTIME');
  const build = raw.build;
  const value = build && typeof build === 'object' ? (build as Record<string, unknown>).runtime : undefined;
  if (value === undefined) return 'runc';
  if (typeof value !== 'string') throw new BuildError('INVALID_ARGUMENT', '[build] runtime in the config file must be a string ("runc" or "crun")');
  return runtimeName(value, '[build] runtime');
}

const found = new Map<RuntimeName, Promise<OciRuntime>>();

/** Finds the runtime's binary in PATH once per process (a failed look-up is retried, so installing it fixes a worker). */
export function findRuntime(name: RuntimeName): Promise<OciRuntime> {
  let lookup = found.get(name);
  if (!lookup) {
    lookup = (async () => {
      for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
        const candidate = path.join(dir || '.', name);
        if (!(await access(candidate, fsConstants.X_OK).then(() => true, () => false))) continue;
        const wrapper = name === 'crun' ? await hybridWrapper() : undefined;
        return { name, path: candidate, root: name === 'runc' ? RUNC_ROOT : CRUN_ROOT, ...(wrapper ? { wrapper } : {}) };
      }
      throw new BuildError('RUNC_MISSING', `${name} not found in PATH: install it (apt-get install ${name})${name === 'runc' ? '' : ' or build with --runtime runc'}`);
    })();
    found.set(name, lookup);
    lookup.catch(() => found.delete(name));
  }
  return lookup;
}
