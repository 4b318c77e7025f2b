import { mkdir, readFile, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { CacheBackend, CacheEntry } from './backend.js';
import type { CacheKey } from './key.js';
import { writeFileAtomic } from '../builder/store/atomic-write.js';

/** Cache records as JSON files under `<store>/cache/`, one per key, written atomically. */
export class LocalCache implements CacheBackend {
  constructor(
    private readonly dir: string,
    /** Size of a layer blob on disk, or undefined when it is gone; a record whose blob is gone or has the wrong size is a miss and is removed. */
    private readonly blobSize: (digest: string) => Promise<number | undefined>,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  private recordPath(key: CacheKey): string {
    return path.join(this.dir, `${key.replace(/^sha256:/, '')}.json`);
  }

  async get(key: CacheKey): Promise<CacheEntry | undefined> {
    const file = this.recordPath(key);
    let entry: CacheEntry;
    try {
      entry = JSON.parse(await readFile(file, 'utf8')) as CacheEntry;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.warn(`cache record ${key} is unreadable; ignoring it`);
        await unlink(file).catch(() => {});
      }
      return undefined;
    }
    if (entry.layer) {
      const size = await this.blobSize(entry.layer.digest);
      if (size !== entry.layer.size) {
        const problem = size === undefined ? 'is missing' : `has ${size} bytes, expected ${entry.layer.size}`;
        this.warn(`cache record for "${entry.createdBy}": layer blob ${entry.layer.digest} ${problem}; running the step again`);
        await unlink(file).catch(() => {});
        return undefined;
      }
    }
    // The record's mtime is its last use: `builder prune` evicts least recently used records first.
    const now = new Date();
    await utimes(file, now, now).catch(() => {});
    return entry;
  }

  async put(key: CacheKey, entry: CacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.recordPath(key);
    await writeFileAtomic(file, JSON.stringify(entry), { sync: false });
  }
}
