/**
 * Lock files for cache mounts: `sharing=locked` waits for one, `sharing=private` tries several.
 * builder/store/file-lock.ts wraps a function and gives up after a minute; a cache mount must be held
 * for a whole RUN (which can take an hour) and a waiting build must wait as long, so this is its own
 * small lock: O_EXCL create with our pid inside, broken only when that pid is dead.
 */
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { BuildError } from '../errors.js';

const POLL_MS = 50;
/** An empty lock file older than this was left by a process that died between create and write. */
const EMPTY_STALE_MS = 5_000;

/** A held lock; release is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM';
  }
}

async function isStale(path: string): Promise<boolean> {
  const content = await readFile(path, 'utf8').catch(() => undefined);
  if (content === undefined) return false;
  const pid = Number.parseInt(content, 10);
  if (Number.isInteger(pid) && pid > 0) return !isAlive(pid);
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > EMPTY_STALE_MS;
}

async function createExclusive(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(String(process.pid));
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw new BuildError('INTERNAL', `cannot create lock file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Removes a dead holder's lock. The `.break` lock keeps two waiters that both saw the dead pid from
 * deleting a fresh lock a third process took in between (the second one re-checks under it).
 */
async function breakStale(path: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await createExclusive(breaker))) {
    if (await isStale(breaker)) await unlink(breaker).catch(() => undefined);
    return;
  }
  try {
    if (await isStale(path)) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}

/** Takes the lock at `path` if it is free (or stale); undefined when someone alive holds it. */
export async function tryLock(path: string): Promise<HeldLock | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createExclusive(path)) {
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await unlink(path).catch(() => undefined);
        },
      };
    }
    if (!(await isStale(path))) return undefined;
    await breakStale(path);
  }
  return undefined;
}

/** Waits (without a deadline: the holder may run a long RUN) until the lock at `path` is ours. */
export async function waitLock(path: string, signal?: AbortSignal): Promise<HeldLock> {
  for (;;) {
    if (signal?.aborted) throw new BuildError('CANCELLED', 'build cancelled');
    const held = await tryLock(path);
    if (held) return held;
    await sleep(POLL_MS + Math.random() * POLL_MS);
  }
}
