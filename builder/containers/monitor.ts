import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { RUNC_ROOT, runcLogErrors, runcPath } from '../sandbox/runc.js';
import { runCommandSplit } from '../snapshot/command-helper.js';
import { launchWithSyncPipe } from '../snapshot/mount-syscall.js';
import type { ContainerPaths } from './record.js';
import { internalCliEntry, internalNodeEnv } from './internal-env.js';

/**
 * The monitor is Debian's conmon (Podman's): one small C process per container that runs `runc create`, holds the
 * container's stdio, writes the k8s-file log, writes exits/<id> with the exit code and then runs our exit command
 * (`builder container cleanup <id>`), which applies the restart policy and --rm. conmon stays ~1 MB RSS;
 * a Node monitor would be ~40 MB per container.
 */
export interface MonitorStart {
  /** conmon's pid (its pid file), read while the caller goes on to `runc start`. */
  monitorPid: Promise<number>;
  pid: number;
}

const CLI_MAIN = internalCliEntry();

/**
 * The first executable `name` on PATH or in `extraDirs`, or undefined. Synchronous access() calls: a dozen PATH
 * entries cost microseconds so, where one thread-pool round trip each (in series) took 15-40 ms under load and
 * held a pool thread all along.
 */
export async function findProgram(name: string, extraDirs: string[] = []): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/usr/sbin').split(':').concat(extraDirs)) {
    const candidate = path.join(dir || '.', name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not here: the next entry.
    }
  }
  return undefined;
}

let conmon: Promise<string> | undefined;
export function conmonPath(): Promise<string> {
  conmon ??= (async () => {
    const found = await findProgram('conmon', ['/usr/bin', '/usr/libexec/podman']);
    if (found) return found;
    throw new BuildError('RUNC_MISSING', 'conmon not found: detached containers need it (apt-get install conmon)');
  })();
  conmon.catch(() => { conmon = undefined; });
  return conmon;
}

/**
 * Launches conmon for runtime id `runtimeId` over `paths.bundle`; resolves when `runc create` finished, with the
 * container's pid. The container is then created but not started (`runc start` does that). The caller gives it an
 * empty `paths.exitDir` (start.ts makes it beside the bundle dir).
 */
export async function launchMonitor(
  paths: ContainerPaths, runtimeId: string, options: { tty: boolean; root: string; name: string; stdin?: boolean; leaveStdinOpen?: boolean },
): Promise<MonitorStart> {
  const [conmonBin, runc] = await Promise.all([conmonPath(), runcPath()]);
  const args = [
    '--api-version', '1', '-c', runtimeId, '-u', runtimeId, '-r', runc, '-b', paths.bundle, '-n', options.name,
    '-p', path.join(paths.bundle, 'pidfile'), '-P', paths.conmonPid, '--exit-dir', paths.exitDir,
    '-l', `k8s-file:${paths.log}`, '--log-level', 'error', '--socket-dir-path', path.join(paths.dir, 'sockets'), '--full-attach',
    '--runtime-arg', '--root', '--runtime-arg', RUNC_ROOT,
    '--runtime-arg', '--log-format=json', '--runtime-arg', '--log', '--runtime-arg', path.join(paths.bundle, 'runc.log'),
    '--exit-command', process.execPath,
    ...[CLI_MAIN, '--root', options.root, 'container', 'cleanup', paths.id, runtimeId].flatMap((arg) => ['--exit-command-arg', arg]),
    ...(options.tty ? ['-t'] : []),
    // -i keeps a pipe to the container's stdin, fed through the attach socket (attach-stdin.ts); without
    // --leave-stdin-open conmon closes it when the attached client goes (docker's StdinOnce).
    ...(options.stdin ? ['-i'] : []), ...(options.stdin && options.leaveStdinOpen ? ['--leave-stdin-open'] : []),
  ];
  // conmon hands its environment to the exit command, a CLI process that never needs NODE_EXTRA_CA_CERTS.
  const env = internalNodeEnv({ _OCI_SYNCPIPE: '3' });
  const stderrFile = path.join(paths.bundle, 'conmon.stderr');
  const launched = await launchWithSyncPipe(conmonBin, args, definedEntries(env), stderrFile);
  let message: string;
  let stderr = '';
  if (launched?.errno === 0) {
    message = launched.message;
    // Only a failed launch needs it: conmon's stderr is a file here (read before the message is judged).
    if (!/"data"\s*:\s*[1-9]/.test(message)) stderr = await readFile(stderrFile, 'utf8').catch(() => '');
  } else if (launched) {
    throw new BuildError('SANDBOX_FAILED', `cannot start conmon: ${launched.message}`);
  } else ({ message, stderr } = await spawnMonitor(conmonBin, args, env));
  let parsed: { data?: number; message?: string };
  try {
    parsed = JSON.parse(message.slice(message.indexOf('{'), message.indexOf('}') + 1)) as { data?: number; message?: string };
  } catch {
    throw new BuildError('SANDBOX_FAILED', `conmon did not report the container's start${stderr ? `: ${stderr.trim()}` : ''}`);
  }
  if (!parsed.data || parsed.data < 0) {
    const runcLog = await runcLogErrors(paths.bundle);
    throw new BuildError('SANDBOX_FAILED', `cannot create container: ${parsed.message ?? runcLog ?? (stderr.trim() || 'unknown error')}`);
  }
  const monitorPid = Promise.resolve(readSmall(paths.conmonPid)).then((text) => Number(text?.trim() ?? 0));
  return { monitorPid, pid: parsed.data };
}

/** The values of `env` that are set (a ProcessEnv may hold undefined ones). */
function definedEntries(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

/** conmon spawned by this process (where the perl helper cannot take it): its sync pipe's message and its stderr. */
async function spawnMonitor(conmonBin: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ message: string; stderr: string }> {
  const child = spawn(conmonBin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env, detached: true });
  child.unref();
  const sync = child.stdio[3] as NodeJS.ReadableStream;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const message = await new Promise<string>((resolve, reject) => {
    let text = '';
    sync.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('}')) resolve(text);
    });
    sync.on('end', () => resolve(text));
    child.once('error', (err) => reject(new BuildError('SANDBOX_FAILED', `cannot start conmon: ${err.message}`)));
  });
  (sync as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  child.stderr?.removeAllListeners('data');
  (child.stderr as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
  return { message, stderr };
}

/**
 * Runs `runc --root RUNC_ROOT ...args`; resolves its stdout, rejects with runc's stderr. Through the snapshot
 * code's long-lived sh helper (snapshot/command-helper.ts): a spawn from this ~60 MB process blocks the event loop
 * for its fork (3-5 ms under load), on `run -d`'s path for `runc start`; the helper is a 1 MB sh already running
 * since the container's mount. A direct spawn when no helper can take it.
 */
export async function runc(args: string[]): Promise<string> {
  const bin = await runcPath();
  const { code, stdout, stderr } = await runCommandSplit(bin, ['--root', RUNC_ROOT, ...args]);
  if (code !== 0) throw new BuildError('SANDBOX_FAILED', `runc ${args[0]} failed: ${(stderr || `exit code ${code}`).trim()}`);
  return stdout;
}

/**
 * A small file's text, or undefined when it cannot be read. Synchronous: /proc files and pid files are read in
 * microseconds, where a thread-pool round trip costs 1-8 ms under load (and `ps` reads two per container).
 */
function readSmall(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The start time field of /proc/<pid>/stat: with the pid it names one process for the whole boot. */
export async function processStart(pid: number): Promise<string | undefined> {
  if (!pid) return undefined;
  const stat = readSmall(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Zombies are dead for our purposes.
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

export async function bootId(): Promise<string> {
  return (readSmall('/proc/sys/kernel/random/boot_id') ?? '').trim();
}

/** Whether the process recorded as (pid, start) still runs in this boot. */
export async function isSameProcess(pid: number | undefined, start: string | undefined, recordedBoot: string | undefined): Promise<boolean> {
  if (!pid || !start) return false;
  if (recordedBoot && recordedBoot !== await bootId()) return false;
  return (await processStart(pid)) === start;
}

/** The exit code conmon wrote, if it did. */
export async function readExitFile(paths: ContainerPaths, runtimeId: string): Promise<number | undefined> {
  const text = await readFile(path.join(paths.exitDir, runtimeId), 'utf8').catch(() => undefined);
  if (text === undefined || text.trim() === '') return undefined;
  const code = Number.parseInt(text.trim(), 10);
  return Number.isNaN(code) ? undefined : code;
}
