import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { mergeEnv } from '../run/container-args.js';
import { RUNC_ROOT, runcLogErrors, runcPath } from '../sandbox/runc.js';
import type { RuntimeSpec } from '../sandbox/spec.js';
import { resolveGroupAdd, resolveUser } from '../sandbox/user.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { ExecCreateBody, ExecInspect, ExecStdio } from './docker-types.js';
import { ContainerPaths, listIds, readRecord, type ContainerRecord, type ContainerStateRecord } from './record.js';

/** One exec session, in containers/<id>/exec/<execId>.json. */
interface ExecRecord {
  id: string;
  containerId: string;
  body: ExecCreateBody;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

async function writeExec(paths: ContainerPaths, exec: ExecRecord): Promise<void> {
  await mkdir(paths.execDir, { recursive: true });
  await writeFileAtomic(path.join(paths.execDir, `${exec.id}.json`), JSON.stringify(exec), { sync: false });
}

/** Finds an exec session; `containerId` (known to the process that created it) saves reading every container's exec dir. */
async function findExec(containersDir: string, execId: string, containerId?: string): Promise<{ paths: ContainerPaths; exec: ExecRecord }> {
  for (const id of containerId ? [containerId] : await listIds(containersDir)) {
    const paths = new ContainerPaths(containersDir, id);
    const text = await readFile(path.join(paths.execDir, `${execId}.json`), 'utf8').catch(() => undefined);
    if (text) return { paths, exec: JSON.parse(text) as ExecRecord };
  }
  if (containerId) return findExec(containersDir, execId);
  throw new BuildError('CONTAINER_NOT_FOUND', `No such exec instance: ${execId}`);
}

export async function execCreate(paths: ContainerPaths, record: ContainerRecord, body: ExecCreateBody): Promise<{ Id: string }> {
  if (!body.Cmd || body.Cmd.length === 0) throw new BuildError('INVALID_ARGUMENT', 'no exec command specified');
  if (body.WorkingDir && !path.isAbsolute(body.WorkingDir)) {
    throw new BuildError('INVALID_ARGUMENT', `the working directory '${body.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  const exec: ExecRecord = { id: randomBytes(32).toString('hex'), containerId: record.id, body, running: false, exitCode: null, pid: 0 };
  await writeExec(paths, exec);
  return { Id: exec.id };
}

/** What execStart is given besides the stdio: docker's exec start body fields, and where the exec was created. */
export interface ExecStartOptions {
  /** [rows, columns] of the pty at start (overrides the create body's). */
  consoleSize?: [number, number] | null;
  /** The container the exec belongs to, when the caller knows it. */
  containerId?: string;
}

/**
 * `runc exec` with a process spec derived from the container's own (same caps, seccomp, rlimits) and the exec's
 * Cmd, Env, User, WorkingDir and Tty. Resolves the exit code. A TTY exec whose caller has no terminal of its own
 * (the daemon, piped stdio) runs under conmon (exec-monitor.ts); with our terminal, runc makes the pty itself and
 * follows our window size on SIGWINCH.
 */
export async function execStart(
  containersDir: string, execId: string, stdio: ExecStdio, currentState: (id: string) => Promise<ContainerStateRecord>,
  options: ExecStartOptions = {},
): Promise<number> {
  const { paths, exec } = await findExec(containersDir, execId, options.containerId);
  const [record, state, specText] = await Promise.all([
    readRecord(paths), currentState(exec.containerId), readFile(path.join(paths.bundle, 'config.json'), 'utf8').catch(() => undefined),
  ]);
  if (!record || state.status !== 'running' || !state.runtimeId || specText === undefined) {
    throw new BuildError('CONFLICT', `container ${exec.containerId.slice(0, 12)} is not running`);
  }
  if (exec.running || exec.exitCode !== null) throw new BuildError('CONFLICT', `exec ${execId} has already run`);
  const spec = JSON.parse(specText) as RuntimeSpec;
  const body = exec.body;
  // A failure before the process starts (an unknown -u user or group) leaves moby's default exit code, 126
  // (EACCES): the docker CLI reads the code from exec inspect after the stream, and null would read as 0.
  const user = await (async () => {
    if (!body.User) return undefined;
    const resolved = await resolveUser(spec.root.path, body.User);
    // moby's exec with -u: the user's groups and the container's --group-add (without -u the container's spec has both).
    resolved.additionalGids = [...new Set([...resolved.additionalGids, ...await resolveGroupAdd(spec.root.path, record.hostConfig.GroupAdd ?? [])])];
    return resolved;
  })().catch(async (err: unknown) => {
    await writeExec(paths, { ...exec, running: false, exitCode: 126, pid: 0 });
    throw err;
  });
  const processSpec = {
    ...spec.process,
    terminal: body.Tty === true,
    args: body.Cmd,
    env: mergeEnv(spec.process.env, [...(body.Tty && !spec.process.env.some((e) => e.startsWith('TERM=')) ? ['TERM=xterm'] : []), ...(body.Env ?? [])]),
    cwd: body.WorkingDir || spec.process.cwd,
    ...(user ? { user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, umask: 0o022 } } : {}),
  };
  const processFile = path.join(paths.execDir, `${execId}.process.json`);
  await writeFileAtomic(processFile, JSON.stringify(processSpec), { sync: false });
  const inherit = stdio.stdin === process.stdin && stdio.stdout === process.stdout;
  const ourTerminal = inherit && (process.stdin.isTTY === true || process.stdout.isTTY === true || process.stderr.isTTY === true);
  let exitCode: number;
  let started: Promise<void> | undefined;
  if (body.Tty === true && !ourTerminal) {
    const { execWithMonitor } = await import('./exec-monitor.js');
    const size = options.consoleSize ?? body.ConsoleSize ?? undefined;
    exitCode = await execWithMonitor({
      paths, runtimeId: state.runtimeId, execId, processFile, stdio, stdin: body.AttachStdin === true, size: size ?? undefined,
      onStart: (pid) => { started = writeExec(paths, { ...exec, running: true, pid }); },
    }).finally(() => started);
  } else {
    exitCode = await runcExec(paths, exec, state.runtimeId, processFile, stdio, inherit);
  }
  // The process spec served runc for this run only; the record stays for execInspect (the docker CLI reads the exit
  // code there after the stream ends).
  await Promise.all([
    writeExec(paths, { ...exec, running: false, exitCode, pid: 0 }), rm(processFile, { force: true }), rm(runcLogFile(processFile), { force: true }),
  ]);
  return exitCode;
}

/** Forgets a finished exec session (the healthcheck's own execs: nobody inspects them, and one runs every interval). */
export async function execRemove(containersDir: string, execId: string, containerId?: string): Promise<void> {
  const { paths } = await findExec(containersDir, execId, containerId);
  await rm(path.join(paths.execDir, `${execId}.json`), { force: true });
}

/**
 * docker's answer when the exec's process cannot start (moby's translateContainerdStartErr): 127 for a command that
 * is not there, 126 for one that cannot be executed, with its "OCI runtime exec failed" line on stderr.
 */
export function execStartFailure(message: string, stderr: NodeJS.WritableStream | undefined): number | undefined {
  const code = /executable file not found|no such file or directory/.test(message) ? 127 : /permission denied/.test(message) ? 126 : undefined;
  if (code === undefined) return undefined;
  stderr?.write(`OCI runtime exec failed: ${message.replace(/^.*?(exec failed:)/, '$1')}: unknown\n`);
  return code;
}

const runcLogFile = (processFile: string): string => `${processFile}.runc.log`;

async function runcExec(paths: ContainerPaths, exec: ExecRecord, runtimeId: string, processFile: string, stdio: ExecStdio, inherit: boolean): Promise<number> {
  const body = exec.body;
  // runc's log lines go to a JSON log (else its logrus lines reach the exec's stderr beside its plain message).
  const runcLog = runcLogFile(processFile);
  const args = ['--root', RUNC_ROOT, '--log', runcLog, '--log-format', 'json', 'exec', '--process', processFile, ...(body.Tty ? ['--tty'] : []), runtimeId];
  const child = spawn(await runcPath(), args, {
    stdio: inherit ? [body.AttachStdin ? 'inherit' : 'ignore', 'inherit', 'inherit'] : [stdio.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (!inherit) {
    if (stdio.stdin && child.stdin) stdio.stdin.pipe(child.stdin);
    if (stdio.stdout) child.stdout?.pipe(stdio.stdout, { end: false });
    if (stdio.stderr) child.stderr?.pipe(stdio.stderr, { end: false });
  }
  // Beside the process, not before it: inspect sees it running a moment late, the exec does not wait for the write.
  const running = writeExec(paths, { ...exec, running: true, pid: child.pid ?? 0 });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new BuildError('SANDBOX_FAILED', `cannot run runc exec: ${err.message}`)));
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? 9 : 0)));
  });
  await running;
  const failure = exitCode === 0 ? undefined : await runcLogErrors('', runcLog);
  // runc itself has printed the failure on its stderr (the exec's): only docker's exit code is ours to give.
  return failure === undefined ? exitCode : execStartFailure(failure, undefined) ?? exitCode;
}

/** POST /exec/{id}/resize: the pty of a running TTY exec under conmon; waits for it to start (dockerd: up to 10 s). */
export async function execResize(containersDir: string, execId: string, rows: number, columns: number, containerId?: string): Promise<void> {
  const { paths, exec } = await findExec(containersDir, execId, containerId);
  if (exec.body.Tty !== true) return;
  const { resizeMonitoredExec } = await import('./exec-monitor.js');
  const finished = async (): Promise<boolean> => (await findExec(containersDir, execId, paths.id)).exec.exitCode !== null;
  await resizeMonitoredExec(paths, execId, rows, columns, finished);
}

export async function execInspect(containersDir: string, execId: string): Promise<ExecInspect> {
  const { exec } = await findExec(containersDir, execId);
  return {
    ID: exec.id, Running: exec.running, ExitCode: exec.exitCode,
    ProcessConfig: {
      tty: exec.body.Tty === true, entrypoint: exec.body.Cmd[0] ?? '', arguments: exec.body.Cmd.slice(1),
      privileged: exec.body.Privileged === true, user: exec.body.User ?? '',
    },
    OpenStdin: exec.body.AttachStdin === true, OpenStderr: exec.body.AttachStderr !== false, OpenStdout: exec.body.AttachStdout !== false,
    ContainerID: exec.containerId, Pid: exec.pid,
  };
}

/** Lists exec ids of a container (for inspect's ExecIDs). */
export async function execIds(paths: ContainerPaths): Promise<string[]> {
  return (await readdir(paths.execDir).catch(() => [] as string[])).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).map((f) => f.slice(0, 64));
}
