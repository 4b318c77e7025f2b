import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants as fsConstants, open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.js';
import { findProgram } from './monitor.js';
import type { ContainerPaths } from './record.js';

/**
 * stdin into a conmon-monitored container. conmon (started with `-i`) keeps the write end of the container's stdin
 * (or the pty master with -t) and feeds it from clients of its attach socket, `<bundle>/attach` with
 * `--full-attach`. That socket is SOCK_SEQPACKET, which Node's net module cannot open, so Debian's socat bridges
 * it: our bytes go to socat's stdin, socat sends them as packets. When our input ends socat shuts the socket's
 * write side; conmon then closes the container's stdin unless it runs with --leave-stdin-open (StdinOnce false).
 * What conmon sends back (its output packets, each with a stream byte in front) is read and dropped: output reaches
 * clients through the log (logs.ts), and conmon blocks on an attach client that does not read.
 */
export interface StdinBridge {
  /** Resolves when socat ends (input ended and was delivered, the container exited, or close()). */
  readonly done: Promise<void>;
  /** Stops forwarding without closing the container's stdin when the container keeps it (docker's detach). */
  close(): void;
}

let socat: Promise<string> | undefined;
function socatPath(): Promise<string> {
  socat ??= (async () => {
    const found = await findProgram('socat', ['/usr/bin', '/bin']);
    if (found) return found;
    throw new BuildError('NOT_SUPPORTED', 'attaching stdin to a container needs socat (apt-get install socat)');
  })();
  socat.catch(() => { socat = undefined; });
  return socat;
}

/** Whether the container's monitor has an attach socket now (it exists from `runc create` until conmon exits). */
export async function hasAttachSocket(paths: Pick<ContainerPaths, 'bundle'>): Promise<boolean> {
  return access(path.join(paths.bundle, 'attach')).then(() => true, () => false);
}

/**
 * Forwards `input` into the container's stdin until `input` ends. The socket is named relative to the bundle
 * (socat runs there): an absolute path under a long store root can pass the 108-byte sun_path limit.
 */
export async function attachStdin(paths: Pick<ContainerPaths, 'bundle' | 'id'>, input: Readable): Promise<StdinBridge> {
  const bin = await socatPath();
  if (!(await hasAttachSocket(paths))) throw new BuildError('CONFLICT', `container ${paths.id.slice(0, 12)} is not running`);
  // -b: one packet per read of ours; -t 1: after our EOF, wait at most 1 s for conmon before exiting.
  const child: ChildProcess = spawn(bin, ['-b', '8193', '-t', '1', 'STDIO', 'UNIX-CONNECT:attach,type=5'], {
    cwd: paths.bundle, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let closed = false;
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000); });
  child.stdout?.resume();
  child.stdin?.on('error', () => undefined); // socat gone (container exited): the input has nowhere to go
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new BuildError('SANDBOX_FAILED', `cannot start socat: ${err.message}`)));
    child.once('close', (code) => {
      input.unpipe(child.stdin!);
      if (code !== 0 && code !== null && !closed && /Connection refused|No such file/.test(stderr)) {
        reject(new BuildError('CONFLICT', `container ${paths.id.slice(0, 12)} is not running`));
      } else resolve();
    });
  });
  done.catch(() => undefined);
  input.pipe(child.stdin!);
  return {
    done,
    close: () => {
      closed = true;
      input.unpipe(child.stdin!);
      child.kill('SIGKILL');
    },
  };
}

/**
 * Resizes the container's pty: conmon reads `1 <rows> <columns>` lines (WIN_RESIZE_EVENT) from its ctl FIFO in the
 * bundle. Non-blocking, so a monitor that is gone (no reader) is an ENXIO we ignore rather than a hang.
 */
export async function resizeTty(paths: Pick<ContainerPaths, 'bundle'>, rows: number, columns: number): Promise<void> {
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 0 || columns < 0 || rows > 1000 || columns > 1000) {
    throw new BuildError('INVALID_ARGUMENT', `invalid terminal size ${rows}x${columns}: rows and columns are 0 to 1000`);
  }
  const handle = await open(path.join(paths.bundle, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return;
  try {
    await handle.write(`1 ${rows} ${columns}\n`);
  } catch {
    // The monitor went away between open and write: nothing left to resize.
  } finally {
    await handle.close();
  }
}
