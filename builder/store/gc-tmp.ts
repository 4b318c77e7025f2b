/** `tmp/`: stale temp entries left by crashed processes, and the trash that snapshot trees are renamed into. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { TEMP_AGE_MS } from './gc-plan.js';
import { treeSize } from './gc-size.js';
import { isProcessAlive } from './file-lock.js';

/** A temp entry that was (or would be) removed. */
export interface TempEntry {
  path: string;
  size: number;
}


/** Every mount point of this mount namespace (a temp dir with a live overlay inside belongs to a running step). */
export async function mountPoints(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const decode = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return mountinfo.split('\n').map((line) => line.split(' ')[4]).filter((f): f is string => f !== undefined).map(decode);
}

/**
 * Temp entries that nobody can still be using: named after a dead pid (`blob-<pid>-…`, `trash-<pid>-…`,
 * `mnt-<pid>-…`), or older than an hour with no mount inside. While builds run, only dead-pid entries qualify:
 * a long step's `extract-` dir carries no pid. Mounted dirs of dead builders are store/reap.ts's.
 */
export async function staleTempEntries(tmpDir: string, now: number, buildsActive: boolean): Promise<TempEntry[]> {
  const mounts = await mountPoints();
  const stale: TempEntry[] = [];
  const names = await readdir(tmpDir).catch(() => [] as string[]);
  for (const name of names) {
    const path = resolve(tmpDir, name);
    if (mounts.some((mount) => mount === path || mount.startsWith(`${path}/`))) continue;
    const pidMatch = /^[a-z]+-(\d+)-[0-9a-f]+/.exec(name);
    if (pidMatch) {
      const pid = Number(pidMatch[1]);
      if (pid === process.pid || isProcessAlive(pid)) continue;
    } else {
      if (buildsActive) continue;
      const info = await stat(path).catch(() => undefined);
      if (!info || now - Math.max(info.mtimeMs, info.ctimeMs) < TEMP_AGE_MS) continue;
    }
    stale.push({ path, size: await treeSize(path) });
  }
  return stale;
}

/** A directory in `tmp/` that doomed trees are renamed into (fast), to be deleted after the lock is released. */
export class Trash {
  readonly dir: string;
  private count = 0;

  constructor(tmpDir: string) {
    this.dir = join(tmpDir, `trash-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Moves `path` into the trash; false when it was already gone. */
  async add(path: string): Promise<boolean> {
    await mkdir(this.dir, { recursive: true });
    try {
      await rename(path, join(this.dir, `${this.count++}-${basename(path)}`));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Deletes the trash. In the background a detached `rm -rf` does it so the caller can exit; if that is
   * killed, the next GC finds `trash-<dead pid>-…` and removes it.
   */
  async empty(background = false): Promise<void> {
    if (this.count === 0) return;
    if (background) {
      const child = spawn('rm', ['-rf', this.dir], { detached: true, stdio: 'ignore' });
      child.on('error', () => undefined);
      child.unref();
      return;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
