import { spawn } from 'node:child_process';
import { access, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.js';
import { RUNC_ROOT, runcLogErrors, runcPath } from '../sandbox/runc.js';
import { attachStdin, resizeTty, type StdinBridge } from './attach-stdin.js';
import { DirChanges } from './dir-changes.js';
import type { ExecStdio } from './docker-types.js';
import { internalNodeEnv } from './internal-env.js';
import { readLogs } from './logs.js';
import { execStartFailure } from './exec.js';
import { conmonPath } from './monitor.js';
import type { ContainerPaths } from './record.js';

/**
 * `exec -t` for a caller without a terminal of its own (the daemon's hijacked stream, a CLI whose stdio is piped).
 * `runc exec --tty` makes the pty only for a caller that has a terminal (it opens /dev/tty otherwise, and fails) or
 * that takes the pty master over a console socket (SCM_RIGHTS, which Node cannot receive). conmon's exec mode, as
 * podman's exec uses it, is that receiver: it runs `runc exec --tty --console-socket`, holds the master, writes
 * the output to a k8s-file log, feeds stdin from its attach socket and resizes the pty on `1 <rows> <columns>`
 * from its ctl FIFO, which is what docker's POST /exec/{id}/resize needs. Everything lives in `execTtyDir`.
 */
export function execTtyDir(paths: ContainerPaths, execId: string): string {
  return path.join(paths.execDir, `${execId.slice(0, 16)}.tty`);
}

export interface MonitoredExec {
  paths: ContainerPaths;
  runtimeId: string;
  execId: string;
  /** The OCI process spec for `runc exec --process` (terminal: true). */
  processFile: string;
  stdio: ExecStdio;
  /** Feed stdio.stdin into the pty (docker's AttachStdin). */
  stdin: boolean;
  /** [rows, columns] to apply as soon as the pty exists (docker's ConsoleSize). */
  size?: [number, number];
  /** Called once the process runs, with its pid. */
  onStart?: (pid: number) => void;
}

/** Runs the exec under conmon; resolves the process's exit code once its output has been written to stdio.stdout. */
export async function execWithMonitor(exec: MonitoredExec): Promise<number> {
  const dir = execTtyDir(exec.paths, exec.execId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const [conmon, runc] = await Promise.all([conmonPath(), runcPath()]);
  const log = path.join(dir, 'log');
  const args = [
    '--api-version', '1', '-c', exec.runtimeId, '-u', exec.execId, '-r', runc, '-b', dir, '-p', path.join(dir, 'pid'),
    '-l', `k8s-file:${log}`, '--exit-dir', dir, '--log-level', 'error', '--socket-dir-path', dir, '--full-attach',
    '--exec', '--exec-process-spec', exec.processFile, '-t', ...(exec.stdin ? ['-i'] : []),
    '--runtime-arg', '--root', '--runtime-arg', RUNC_ROOT,
    '--runtime-arg', '--log-format=json', '--runtime-arg', '--log', '--runtime-arg', path.join(dir, 'runc.log'),
  ];
  const child = spawn(conmon, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: internalNodeEnv({ _OCI_SYNCPIPE: '3' }), detached: true });
  child.unref();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000); });
  // conmon reports twice on the sync pipe: {"data": pid} once runc exec started the process, then {"data": exit code}.
  const messages = syncMessages(child.stdio[3] as Readable, () => stderr);
  child.once('error', (err) => messages.fail(new BuildError('SANDBOX_FAILED', `cannot start conmon: ${err.message}`)));
  let bridge: StdinBridge | undefined;
  let exited = false;
  const changes = new DirChanges([dir]);
  try {
    const pid = await messages.next();
    if (pid <= 0) {
      const message = (await runcLogErrors(dir)) ?? (messages.text() || stderr.trim() || 'unknown error');
      const code = execStartFailure(message, exec.stdio.stderr ?? exec.stdio.stdout);
      if (code !== undefined) return code;
      throw new BuildError('SANDBOX_FAILED', `cannot exec in container ${exec.paths.id.slice(0, 12)}: ${message}`);
    }
    exec.onStart?.(pid);
    if (exec.size) await resizeTty({ bundle: dir }, exec.size[0], exec.size[1]);
    if (exec.stdin && exec.stdio.stdin) bridge = await attachStdin({ bundle: dir, id: exec.paths.id }, exec.stdio.stdin as Readable);
    const exitCode = messages.next().finally(() => { exited = true; });
    exitCode.catch(() => undefined);
    const output = exec.stdio.stdout;
    for await (const entry of readLogs(log, { follow: true, partial: true }, async () => !exited, () => changes.next(100))) {
      output?.write(entry.line);
    }
    return await exitCode;
  } finally {
    changes.close();
    bridge?.close();
    if (!exited) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

/** Sends a resize to a running monitored exec; waits (as dockerd, up to 10 s) for its pty to exist. */
export async function resizeMonitoredExec(paths: ContainerPaths, execId: string, rows: number, columns: number, finished: () => Promise<boolean>): Promise<void> {
  const dir = execTtyDir(paths, execId);
  const deadline = Date.now() + 10_000;
  while (!(await access(path.join(dir, 'pid')).then(() => true, () => false))) {
    if (await finished()) return;
    if (Date.now() > deadline) throw new BuildError('CONFLICT', `timeout waiting for exec session ${execId.slice(0, 12)} to be ready`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await resizeTty({ bundle: dir }, rows, columns);
}

/** The JSON messages conmon writes on its sync pipe, one `data` number each, in order. */
function syncMessages(pipe: Readable, stderr: () => string): { next(): Promise<number>; text(): string; fail(err: Error): void } {
  let buffer = '';
  let lastText = '';
  let ended = false;
  let failure: Error | undefined;
  const queue: number[] = [];
  const waiters: { resolve: (n: number) => void; reject: (err: Error) => void }[] = [];
  const settle = (): void => {
    while (waiters.length > 0 && queue.length > 0) waiters.shift()!.resolve(queue.shift()!);
    if (ended || failure) {
      const err = failure ?? new BuildError('SANDBOX_FAILED', `conmon ended before the exec did${stderr() ? `: ${stderr().trim()}` : ''}`);
      for (const waiter of waiters.splice(0)) waiter.reject(err);
    }
  };
  pipe.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let end = buffer.indexOf('}'); end >= 0; end = buffer.indexOf('}')) {
      const text = buffer.slice(buffer.indexOf('{'), end + 1);
      buffer = buffer.slice(end + 1);
      try {
        const parsed = JSON.parse(text) as { data?: number; message?: string };
        if (parsed.message) lastText = parsed.message;
        queue.push(parsed.data ?? -1);
      } catch {
        queue.push(-1);
      }
    }
    settle();
  });
  pipe.on('end', () => { ended = true; settle(); });
  pipe.on('error', () => { ended = true; settle(); });
  return {
    next: () => new Promise<number>((resolve, reject) => { waiters.push({ resolve, reject }); settle(); }),
    text: () => lastText,
    fail: (err) => { failure = err; settle(); },
  };
}
