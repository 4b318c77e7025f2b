import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { CacheBackend, CacheEntry } from './backend.js';
import type { CacheKey } from './key.js';

/** Cache records as JSON files under `<store>/cache/`, one per key, written atomically. */
export class LocalCache implements CacheBackend {
  constructor(
    private readonly dir: string,
    /** Whether a layer blob is present; a record whose blob is gone is a miss and is removed. */
    private readonly hasBlob: (digest: string) => Promise<boolean>,
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
    if (entry.layer && !(await this.hasBlob(entry.layer.digest))) {
      this.warn(`cache record ${key} refers to missing blob ${entry.layer.digest}; rebuilding the step`);
      await unlink(file).catch(() => {});
      return undefined;
    }
    return entry;
  }

  async put(key: CacheKey, entry: CacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.recordPath(key);
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, file);
  }
}
