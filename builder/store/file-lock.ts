import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { BuildError } from '../errors.js';

const RETRY_MS = 10;
const TIMEOUT_MS = 60_000;
/** A lock file that stays empty this long belongs to a process that died between create and write. */
const EMPTY_STALE_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Whether a process with this pid exists (used to spot locks and leases left by dead processes). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errCode(err) === 'EPERM';
  }
}

/**
 * Synchronous, as removeQuietly: an O_EXCL open, a few bytes and a close take microseconds, where three thread-pool
 * round trips cost 3-20 ms under load (every `run -d`, `start` and `stop` takes a container lock and gives it back).
 */
async function createExclusive(path: string): Promise<boolean> {
  try {
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw err;
  }
}

/** True when the lock at `path` was left by a dead process (or is gone). */
async function isStale(path: string): Promise<boolean> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
  const pid = Number.parseInt(content, 10);
  if (Number.isInteger(pid) && pid > 0) return !isProcessAlive(pid);
  try {
    return Date.now() - (await stat(path)).mtimeMs > EMPTY_STALE_MS;
  } catch {
    return false;
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
  }
}

/**
 * Breaks a stale lock. A second "breaker" lock makes sure two waiters that both saw the same dead pid
 * cannot delete a fresh lock that a third process created in between.
 */
async function breakStale(path: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await createExclusive(breaker))) {
    if (await isStale(breaker)) await removeQuietly(breaker);
    return;
  }
  try {
    if (await isStale(path)) await removeQuietly(path);
  } finally {
    await removeQuietly(breaker);
  }
}

/** A held lock; release is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Takes the lock at `path` if it is free (or stale); undefined when a live process holds it. */
export async function tryLock(path: string): Promise<HeldLock | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createExclusive(path)) {
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await removeQuietly(path);
        },
      };
    }
    if (!(await isStale(path))) return undefined;
    await breakStale(path);
  }
  return undefined;
}

/**
 * Waits until the lock at `path` is ours. With `timeoutMs` it gives up with a clear error; without,
 * it waits as long as the holder lives (a cache mount may be held for a whole RUN).
 */
export async function waitLock(path: string, options: { signal?: AbortSignal; timeoutMs?: number; pollMs?: number } = {}): Promise<HeldLock> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? RETRY_MS;
  for (;;) {
    if (options.signal?.aborted) throw new BuildError('CANCELLED', 'build cancelled');
    const held = await tryLock(path);
    if (held) return held;
    if (Date.now() > deadline) {
      throw new BuildError('INTERNAL', `timed out waiting for lock ${path}; if no builder process is running, delete it`);
    }
    await sleep(pollMs + Math.random() * pollMs);
  }
}

// Serialises holders inside one process, so they queue instead of polling the file.
const inProcess = new Map<string, Promise<void>>();

/** Runs `fn` holding an exclusive cross-process lock file at `path` (O_EXCL + pid, stale-lock detection). */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = inProcess.get(path) ?? Promise.resolve();
  let release!: () => void;
  const current = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => current);
  inProcess.set(path, chained);
  await previous;
  try {
    const held = await waitLock(path, { timeoutMs: TIMEOUT_MS });
    try {
      return await fn();
    } finally {
      await held.release();
    }
  } finally {
    release();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  }
}
