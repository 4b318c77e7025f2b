import { lstatSync, statSync } from 'node:fs';
import { lstat, readdir, rmdir, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../context/root-path.js';

/**
 * runc creates a missing mount target (an empty file or directory, and its missing parents) inside
 * the rootfs. In a build that rootfs is an overlay merged dir, so those stubs would land in the
 * layer. Like BuildKit's MountStubsCleaner we note which paths are missing before the run and, after
 * it, remove the ones still empty and restore the parent's times.
 */
export interface MountStubs {
  /** Removes the stubs that are still empty; never throws (a stub the process filled is kept). */
  cleanup(): Promise<void>;
}

interface ParentTimes { dir: string; atime: number; mtime: number }

export async function recordMountStubs(rootfs: string, targets: string[]): Promise<MountStubs> {
  const root = path.resolve(rootfs);
  const stubs = new Set<string>();
  const parents = new Map<string, ParentTimes>();
  await Promise.all([...new Set(targets)].map(async (target) => {
    const resolved = await resolveInRoot(root, target);
    const parts = path.relative(root, resolved).split(path.sep).filter((p) => p !== '');
    for (let i = 0; i < parts.length; i++) {
      const candidate = path.join(root, ...parts.slice(0, i + 1));
      if (exists(candidate)) continue;
      for (let j = i; j < parts.length; j++) stubs.add(path.join(root, ...parts.slice(0, j + 1)));
      const dir = path.dirname(candidate);
      if (!parents.has(dir)) {
        let info: ReturnType<typeof statSync> | undefined;
        try {
          info = statSync(dir);
        } catch {
          info = undefined;
        }
        // Seconds as doubles keep sub-millisecond precision that Date would drop.
        if (info) parents.set(dir, { dir, atime: info.atimeMs / 1000, mtime: info.mtimeMs / 1000 });
      }
      break;
    }
  }));
  return {
    async cleanup() {
      // Deepest first, so a directory stub is empty by the time we reach it.
      const ordered = [...stubs].sort((a, b) => b.length - a.length);
      for (const stub of ordered) await removeIfEmptyStub(stub);
      for (const parent of [...parents.values()].sort((a, b) => b.dir.length - a.dir.length)) {
        await utimes(parent.dir, parent.atime, parent.mtime).catch(() => undefined);
      }
    },
  };
}

/** Direct lstat: a RUN looks up each of its mount targets on its path, where a thread-pool round trip costs more. */
function exists(file: string): boolean {
  try {
    return lstatSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

async function removeIfEmptyStub(stub: string): Promise<void> {
  try {
    const info = await lstat(stub);
    if (info.isFile() && info.size === 0) await unlink(stub);
    else if (info.isDirectory() && (await readdir(stub)).length === 0) await rmdir(stub);
  } catch {
    // Gone already, or busy: leave it.
  }
}
