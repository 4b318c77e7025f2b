/** Disk usage as `du -sb` counts it: apparent sizes of every entry (directories included), hard links once. */
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Apparent size of `path` and everything below it; 0 when it is gone (a concurrent GC or build may remove it). */
export async function treeSize(path: string): Promise<number> {
  const seenInodes = new Set<string>();
  let total = 0;
  const visit = async (entry: string): Promise<void> => {
    let info;
    try {
      info = await lstat(entry);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    if (info.nlink > 1 && !info.isDirectory()) {
      const inode = `${info.dev}:${info.ino}`;
      if (seenInodes.has(inode)) return;
      seenInodes.add(inode);
    }
    total += info.size;
    if (!info.isDirectory()) return;
    let names: string[];
    try {
      names = await readdir(entry);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    // Bounded fan-out: deep trees stay sequential, wide directories go a few at a time.
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(names.slice(i, i + 32).map((name) => visit(join(entry, name))));
    }
  };
  await visit(path);
  return total;
}

/**
 * Sizes of snapshot directories, remembered in a small JSON file: a snapshot never changes after it is
 * committed, so each tree is walked once, not on every `system df` or automatic GC check.
 */
export class SnapshotSizes {
  private sizes: Record<string, number> = {};
  private dirty = false;

  private constructor(private readonly file: string) {}

  static async load(file: string): Promise<SnapshotSizes> {
    const cache = new SnapshotSizes(file);
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
      if (parsed && typeof parsed === 'object') {
        for (const [hex, size] of Object.entries(parsed as Record<string, unknown>)) {
          if (typeof size === 'number') cache.sizes[hex] = size;
        }
      }
    } catch {
      // Missing or damaged: sizes are measured again.
    }
    return cache;
  }

  /** Size of the snapshot `hex` at `path`, walking it only the first time. */
  async sizeOf(hex: string, path: string): Promise<number> {
    const known = this.sizes[hex];
    if (known !== undefined) return known;
    const size = await treeSize(path);
    this.sizes[hex] = size;
    this.dirty = true;
    return size;
  }

  known(hex: string): number | undefined {
    return this.sizes[hex];
  }

  /** Drops entries of snapshots that no longer exist and writes the file if anything changed. */
  async save(existing: Iterable<string>): Promise<void> {
    const keep = new Set(existing);
    for (const hex of Object.keys(this.sizes)) {
      if (!keep.has(hex)) {
        delete this.sizes[hex];
        this.dirty = true;
      }
    }
    if (!this.dirty) return;
    await mkdir(dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(this.sizes));
    this.dirty = false;
  }
}
