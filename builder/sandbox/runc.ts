import { execFile, spawn, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import { prepareEtcFiles, type EtcExtras } from './etc-files.js';
import { recordMountStubs, type MountStubs } from './mount-stubs.js';
import { buildRuntimeSpec, defaultHostname, type RunSpec, type RuntimeSpec } from './spec.js';
import { resolveUser, type ResolvedUser } from './user.js';

import { RUNC_ROOT } from './runc-root.js';
import { markHeavyRun } from '../cli/code-cache-hint.js';
import { runIdleWork } from '../store/idle-work.js';
import { makeOwnedDirSync } from '../store/owner.js';
import { findRuntime, runtimeCommand, runtimeName, type OciRuntime } from './runtime.js';
import { inSpan, nowUs, type Span } from '../trace/tracer.js';
import { prepareLaunch, warmLaunchServer, type PreparedLaunch, type RuntimeChild } from './launch-server.js';

export { RUNC_ROOT };
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const KILL_DEADLINE_MS = 2000;

let prerequisites: Promise<string> | undefined;

/** Checks root and runc once per process; resolves runc's path. */
export async function checkSandboxPrerequisites(): Promise<void> {
  await runcPath();
}

export function runcPath(): Promise<string> {
  prerequisites ??= (async () => {
    if (process.getuid?.() !== 0) throw new BuildError('NOT_ROOT', 'builder needs root to run containers (runc, overlayfs)');
    // Synchronous access(): microseconds per PATH entry, where a thread-pool round trip each (in series) took
    // 15-40 ms under load and held a pool thread while `run` mounts.
    for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
      const candidate = path.join(dir || '.', 'runc');
      try {
        accessSync(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // Try the next PATH entry.
      }
    }
    throw new BuildError('RUNC_MISSING', 'runc not found in PATH: install it (apt-get install runc)');
  })();
  // A failed check is not cached, so installing runc fixes a long-running worker.
  prerequisites.catch(() => { prerequisites = undefined; });
  return prerequisites;
}

/**
 * Runs RunSpec in a fresh runc container (`runc run` in the foreground, which removes the container
 * when its process exits) and resolves the process's exit code (128+n for signal n). A command that
 * cannot be found gives 127 and one that cannot be executed 126, as in docker. Abort kills the
 * container and rejects with CANCELLED. The bundle dir and any mount stubs are always removed.
 */
export async function runSandbox(spec: RunSpec & { runtime?: string; span?: Span; keepMountStubs?: boolean }): Promise<{ exitCode: number }> {
  const runtime = await sandboxRuntime(spec.runtime);
  if (spec.args.length === 0) throw new BuildError('INVALID_ARGUMENT', 'no command specified');
  if (spec.tty && spec.stdio !== 'inherit') throw new BuildError('INVALID_ARGUMENT', 'a terminal (tty) needs stdio "inherit"');
  if (spec.signal?.aborted) throw new BuildError('CANCELLED', 'run cancelled');
  const id = spec.id ?? `builder-${randomBytes(6).toString('hex')}`;
  // Piped stdio (builds): the launch server forks the runtime; its pipes are asked for now, beside the bundle.
  const launcher = spec.stdio === 'inherit' ? undefined : prepareLaunch();
  const launching = countLaunch();
  const bundleSpan = spec.span?.start('bundle');
  const [user, made] = await Promise.allSettled([resolveUser(spec.rootfs, spec.user), (async () => makeOwnedDirSync(os.tmpdir(), 'builder-bundle'))()]);
  if (made.status === 'rejected') {
    bundleSpan?.end();
    launcher?.discard();
    launching();
    throw new BuildError('SANDBOX_FAILED', `cannot create a runc bundle dir: ${errorMessage(made.reason)}`);
  }
  // The process waiting on `runc run` owns the container (owner.json in the bundle): if it dies, store/reap.ts
  // deletes what it left.
  const bundle = made.value;
  try {
    if (user.status === 'rejected') throw user.reason;
    const { stubs } = await writeBundle({ ...spec, id }, bundle, user.value, spec.etc, spec.keepMountStubs).finally(() => bundleSpan?.end());
    try {
      const exitCode = await runContainerProcess(runtime, id, bundle, spec, launcher, launching);
      return { exitCode: await classifyExit(exitCode, bundle) };
    } finally {
      await inSpan(spec.span, 'mount stubs cleanup', () => stubs.cleanup());
    }
  } finally {
    launcher?.discard();
    launching();
    const removeBundle = (): Promise<void> => rm(bundle, { recursive: true, force: true });
    if (spec.deferCleanup) spec.deferCleanup(spec.span ? spec.span.background('bundle cleanup', removeBundle) : removeBundle());
    else await inSpan(spec.span, 'bundle cleanup', removeBundle);
  }
}

/** RUNs between their start and their runtime's launch (stages starting their RUNs at once). */
let preparing = 0;

/**
 * Counts a RUN until its runtime is launched; the returned function ends that (once). The runtime then takes tens of
 * ms to create the container: what a build deferred (its reap) runs meanwhile, once no other RUN is still writing
 * its bundle on this thread (the reap ran between three stages' launches and put the later ones 4-12 ms behind).
 */
function countLaunch(): () => void {
  preparing++;
  let counted = true;
  return () => {
    if (!counted) return;
    counted = false;
    preparing--;
    if (preparing === 0) runIdleWork();
  };
}

/** runc (checked once, with root) unless the build named another runtime. */
async function sandboxRuntime(requested: string | undefined): Promise<OciRuntime> {
  const name = runtimeName(requested);
  if (name === 'runc') return { name, path: await runcPath(), root: RUNC_ROOT };
  if (process.getuid?.() !== 0) throw new BuildError('NOT_ROOT', `builder needs root to run containers (${name}, overlayfs)`);
  return findRuntime(name);
}

/**
 * Writes a runc bundle for `spec` into `bundle`: config.json plus the generated /etc files. Returns the mount
 * stubs runc will create in the rootfs (a build removes them after the run; a kept container may keep them;
 * `keepStubs` skips looking for them, for a rootfs that is thrown away after the run).
 */
export async function writeBundle(
  spec: RunSpec & { id: string },
  bundle: string,
  resolvedUser?: ResolvedUser,
  etc: EtcExtras = {},
  keepStubs = false,
): Promise<{ config: RuntimeSpec; stubs: MountStubs }> {
  const resolved = resolvedUser ?? await resolveUser(spec.rootfs, spec.user);
  const hostname = spec.hostname ?? defaultHostname({ id: spec.id, network: spec.network });
  const etcMounts = await prepareEtcFiles(bundle, spec.rootfs, hostname, spec.network, etc);
  const config = buildRuntimeSpec({ ...spec, hostname }, resolved, etcMounts);
  // Mounts nested in /dev, /proc or /sys land on fresh kernel filesystems, not in the rootfs.
  const targets = config.mounts.map((mount) => mount.destination).filter((d) => !/^\/(dev|proc|sys)\/./.test(d));
  const stubs = keepStubs ? { cleanup: async () => undefined } : await recordMountStubs(spec.rootfs, targets);
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
  return { config, stubs };
}

function stdioFor(spec: RunSpec): StdioOptions {
  const stdin = spec.stdin || spec.tty ? 'inherit' : 'ignore';
  return spec.stdio === 'inherit' ? [stdin, 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'];
}

async function runContainerProcess(
  runtime: OciRuntime, id: string, bundle: string, spec: RunSpec & { span?: Span }, launcher?: PreparedLaunch, launched = (): void => undefined,
): Promise<number> {
  const pidFile = path.join(bundle, 'pid');
  const args = ['--root', runtime.root, '--log', path.join(bundle, 'runc.log'), '--log-format', 'json', 'run', '--bundle', bundle, ...(spec.span ? ['--pid-file', pidFile] : []), id];
  // A terminal reader must stay in the terminal's foreground process group (else SIGTTIN); otherwise
  // runc gets its own group, so a Ctrl-C reaches the container once, through our forwarding.
  const readsTerminal = spec.stdio === 'inherit' && (spec.tty === true || (spec.stdin === true && process.stdin.isTTY === true));
  if (spec.signal?.aborted) throw new BuildError('CANCELLED', 'run cancelled');
  const phases = spec.span ? new RuntimePhases(spec.span, runtime.name, bundle) : undefined;
  const { command, argv } = runtimeCommand(runtime, args);
  const child: RuntimeChild = (await launcher?.start(command, argv)) ?? spawn(command, argv, { stdio: stdioFor(spec), detached: !readsTerminal });
  markHeavyRun();
  launched();
  if (spec.stdio !== 'inherit') {
    child.stdout?.on('data', (chunk: Buffer) => spec.onStdout?.(chunk));
    child.stderr?.on('data', (chunk: Buffer) => spec.onStderr?.(chunk));
  }
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
  const forwarding = spec.forwardSignals ?? spec.stdio === 'inherit';
  if (forwarding) for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  let cancelled = false;
  const onAbort = (): void => {
    cancelled = true;
    void killContainer(runtime, id, child);
  };
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  // An abort while the launch was awaited (no event comes for it now).
  if (spec.signal?.aborted) onAbort();
  try {
    const exitCode = await waitForExit(child, spec.stdio !== 'inherit');
    if (cancelled) throw new BuildError('CANCELLED', 'run cancelled');
    return exitCode;
  } finally {
    phases?.end();
    spec.signal?.removeEventListener('abort', onAbort);
    if (forwarding) for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    // `runc run` deletes the container itself; only a killed runc leaves state behind.
    if (await exists(path.join(runtime.root, id))) await runcQuiet(runtime, ['delete', '--force', id]);
  }
}

/**
 * Starts the launch server (launch-server.ts) and makes the default seccomp filter on a later turn of the event
 * loop, when a build is about to run its first RUN (exec/run.ts, loaded ahead by the handler prefetch). Never on
 * import here: `builder run` loads this module too and has no use for either.
 */
export function warmLauncher(): void {
  setImmediate(() => {
    warmLaunchServer();
    // While perl starts: the first RUN's bundle would otherwise parse the seccomp profile and /proc/config.gz.
    try {
      buildRuntimeSpec({ id: 'warm', rootfs: '/', args: ['true'], env: [], cwd: '/', user: '', network: 'host' }, { uid: 0, gid: 0, additionalGids: [] });
    } catch {
      // A broken profile is reported by the RUN's own bundle.
    }
  });
}

/**
 * `run` is create + start + wait in one process (it must stay our child to hand us the exit code). The pid file
 * the runtime writes once the container exists, before its process starts, splits it: `create` up to the pid file,
 * `start+wait` from there to the exit (the process's own run time and the runtime's teardown included).
 */
class RuntimePhases {
  private readonly started = nowUs();
  private created?: number;
  private readonly watcher?: FSWatcher;

  constructor(private readonly span: Span, private readonly runtime: string, bundle: string) {
    try {
      // runc writes `.pid` then renames it to `pid`; crun writes `pid` directly: either way an event names `pid`.
      this.watcher = watch(bundle, (_event, name) => {
        if (name === 'pid' && this.created === undefined) this.created = nowUs();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // Out of inotify instances (a busy host): the trace shows one `run` span instead of two; the build goes on.
    }
  }

  end(): void {
    this.watcher?.close();
    const ended = nowUs();
    if (this.created === undefined) {
      this.span.mark(`${this.runtime} run`, this.started, ended);
      return;
    }
    this.span.mark(`${this.runtime} create`, this.started, this.created);
    this.span.mark(`${this.runtime} start+wait`, this.created, ended);
  }
}

function waitForExit(child: RuntimeChild, piped: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new BuildError('SANDBOX_FAILED', `cannot start runc: ${err.message}`, { cause: err })));
    // With pipes, 'close' also means all output was delivered.
    child.once(piped ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) => {
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
}

/** SIGKILL through runc; retried because an abort can come before runc has created the container. */
async function killContainer(runtime: OciRuntime, id: string, child: RuntimeChild): Promise<void> {
  const deadline = Date.now() + KILL_DEADLINE_MS - 300;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    await runcQuiet(runtime, ['kill', '--all', id, 'KILL']);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await runcQuiet(runtime, ['delete', '--force', id]);
  }
}

function runcQuiet(runtime: OciRuntime, args: string[]): Promise<void> {
  const { command, argv } = runtimeCommand(runtime, ['--root', runtime.root, ...args]);
  return new Promise((resolve) => { execFile(command, argv, () => resolve()); });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/**
 * runc's own failures also end in exit code 1, indistinguishable from the process's; its log
 * (JSON, errors only) tells them apart. Exec failures map to docker's 127/126.
 */
async function classifyExit(exitCode: number, bundle: string): Promise<number> {
  if (exitCode === 0) return 0;
  const message = await runcLogErrors(bundle);
  if (message === undefined) return exitCode;
  if (/exec: .*(executable file not found|no such file or directory)/.test(message)) return 127;
  if (/exec: .*permission denied/.test(message)) return 126;
  throw new BuildError('SANDBOX_FAILED', `cannot start container: ${message}`);
}

/** runc's own error lines from a bundle's JSON log (`--log BUNDLE/runc.log --log-format json`, or `file`), joined; undefined if none. */
export async function runcLogErrors(bundle: string, file = path.join(bundle, 'runc.log')): Promise<string | undefined> {
  const log = await readFile(file, 'utf8').catch(() => '');
  const errors = log.split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      return entry.level === 'error' || entry.level === 'fatal' ? [entry.msg ?? ''] : [];
    } catch {
      return [];
    }
  });
  return errors.length > 0 ? errors.join('; ') : undefined;
}
