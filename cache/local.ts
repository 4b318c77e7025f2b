import { readFileSync, utimesSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { CacheBackend, CacheCall, CacheEntry, CacheHit } from './backend.js';
import type { CacheKey } from './key.js';
import { writeSmallFileAtomicSync } from '../builder/store/atomic-write.js';

/** Records written before config deltas (whole configs, issue 14) carry no `delta` and are treated as misses. */
function isEntry(value: unknown): value is CacheEntry {
  return typeof value === 'object' && value !== null && typeof (value as CacheEntry).delta === 'object' && typeof (value as CacheEntry).createdBy === 'string';
}

/** Cache records as JSON files under `<store>/cache/`, one per key, written atomically. */
export class LocalCache implements CacheBackend {
  readonly name = 'local';
  private made?: Promise<void>;

  constructor(
    private readonly dir: string,
    /** Size of a layer blob on disk, or undefined when it is gone; a record whose blob is gone or has the wrong size is a miss and is removed. */
    private readonly blobSize: (digest: string) => Promise<number | undefined>,
  ) {}

  private recordPath(key: CacheKey): string {
    return path.join(this.dir, `${key.replace(/^sha256:/, '')}.json`);
  }

  async get(key: CacheKey, call: CacheCall): Promise<CacheHit | undefined> {
    const file = this.recordPath(key);
    let entry: unknown;
    try {
      // Records are a few hundred bytes: a synchronous read costs microseconds, where the four thread-pool hops of
      // an async read made a long Dockerfile's cached rebuild mostly waiting (issue 14: 10,000 steps in seconds).
      entry = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        call.warn(`cache record ${key} is unreadable; ignoring it`);
        await unlink(file).catch(() => {});
      }
      return undefined;
    }
    if (!isEntry(entry)) return undefined;
    if (entry.layer) {
      const size = await this.blobSize(entry.layer.digest);
      if (size !== entry.layer.size) {
        const problem = size === undefined ? 'is missing' : `has ${size} bytes, expected ${entry.layer.size}`;
        call.warn(`cache record for "${entry.createdBy}": layer blob ${entry.layer.digest} ${problem}; running the step again`);
        await unlink(file).catch(() => {});
        return undefined;
      }
    }
    // The record's mtime is its last use: `builder prune` evicts least recently used records first.
    const now = new Date();
    try { utimesSync(file, now, now); } catch { /* removed meanwhile: still a hit */ }
    return { ...entry, backend: this.name };
  }

  async put(key: CacheKey, entry: CacheEntry): Promise<void> {
    this.made ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.made;
    const record: CacheEntry = { layer: entry.layer, delta: entry.delta, createdBy: entry.createdBy, preimage: entry.preimage, builtBy: entry.builtBy };
    writeSmallFileAtomicSync(this.recordPath(key), JSON.stringify(record));
  }

  async forget(key: CacheKey): Promise<void> {
    await unlink(this.recordPath(key)).catch(() => {});
  }
}
