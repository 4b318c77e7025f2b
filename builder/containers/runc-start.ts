/**
 * `runc start` without a runc process. In runc 1.1 a created container's init blocks opening
 * `<runc root>/<id>/exec.fifo` for writing; `runc start` opens it for reading, reads the one byte init writes,
 * and removes the fifo (its absence is what makes `runc state` say running rather than created); init then execs
 * the container's command. That is 7-8.5 ms of `run -d`'s path for a Go start around an open, a read and an
 * unlink, so this does the same from Node, and falls back to `runc start` whenever the fifo is not there (another
 * runc version, another layout). As runc does, a dead init is caught by polling its pid: the reader is then
 * unblocked by opening the fifo for writing ourselves, reads nothing, and the start fails as runc's does.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { RUNC_ROOT } from '../sandbox/runc.js';

const POLL_MS = 100;

/** Whether `pid` is gone or a zombie (runc's system.Stat check). */
async function initGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return true;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/**
 * Starts the created container `runtimeId` whose init is `initPid`. Resolves false, having done nothing, when the
 * exec fifo is not where runc 1.1 keeps it (the caller then runs `runc start`); throws when init is dead.
 */
export async function startThroughExecFifo(runtimeId: string, initPid: number): Promise<boolean> {
  const fifo = path.join(RUNC_ROOT, runtimeId, 'exec.fifo');
  const info = await lstat(fifo).catch(() => undefined);
  if (!info?.isFIFO()) return false;
  let settled = false;
  // Blocks (on a pool thread) until init opens the fifo for writing, or until we do, below.
  const reading = (async () => {
    const handle = await open(fifo, fsConstants.O_RDONLY);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
      settled = true;
    }
  })();
  const watch = async (): Promise<void> => {
    while (!settled) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS).unref());
      if (settled || !(await initGone(initPid))) continue;
      // Init died before the start: open the write side so the blocked reader sees end-of-file (ENXIO while
      // the reader is not blocked yet: try again at the next poll).
      const writer = await open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
      if (!writer) continue;
      await writer.close();
      return;
    }
  };
  // The watch ends by itself at its next poll once the read settled; only the read is waited for.
  void watch().catch(() => undefined);
  const data = await reading;
  if (data.length === 0) throw new BuildError('SANDBOX_FAILED', 'runc start failed: container process is already dead');
  await unlink(fifo);
  return true;
}
