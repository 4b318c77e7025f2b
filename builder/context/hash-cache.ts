/**
 * Content hashes of a context's files kept between builds, keyed by what stat says of a file (device, inode, size,
 * mtime, ctime), as BuildKit's contenthash cache keeps them: a rebuild whose context did not change reads no file
 * content, however many files it has. A touch changes mtime and ctime, so a touched file is read again (and, its
 * bytes being the same, gives the same digest: still a cache hit).
 *
 * ctime cannot be set by userland (utimes sets it to now), so an unchanged key means unchanged content, except for
 * a file written twice within one timestamp tick: as git's "racily clean" rule, a hash is only kept when the file
 * was last changed well before it was read. One JSON file per context directory under `<store>/cache/context-hashes`;
 * a lost or unreadable file only costs reading the files again. The engine's processes (daemon, worker) also keep
 * hashes in memory (context/digest.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { writeSmallFileAtomicSync } from '../store/atomic-write.js';

/** A file changed this recently may change again within the same timestamp tick: its hash is not kept. */
const RACY_MS = 2000;
/** Hashes of files no build used lately are dropped beyond this many (deleted files, other branches). */
const MAX_ENTRIES = 200_000;
const VERSION = 1;

/** What identifies a file's content without reading it. */
export function statKey(stat: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

export class ContextHashCache {
  private loaded?: Map<string, string>;
  private readonly seen = new Map<string, string>();
  private added = false;

  private constructor(private readonly file: string) {}

  /** The cache of `contextDir` in the store's cache directory (nothing is read until a hash is asked for). */
  static forContext(cacheDir: string, contextDir: string): ContextHashCache {
    const name = createHash('sha256').update(path.resolve(contextDir)).digest('hex').slice(0, 32);
    return new ContextHashCache(path.join(cacheDir, 'context-hashes', `${name}.json`));
  }

  /** The content digest recorded for this stat key, if any. */
  get(key: string): string | undefined {
    const digest = this.entries().get(key);
    if (digest !== undefined) this.seen.set(key, digest);
    return digest;
  }

  /** Records a digest just computed (or found in memory) for a file last changed at `changedMs`. */
  remember(key: string, digest: string, changedMs: number, nowMs = Date.now()): void {
    if (nowMs - changedMs < RACY_MS || this.seen.get(key) === digest) return;
    this.seen.set(key, digest);
    if (this.entries().get(key) !== digest) this.added = true;
  }

  /** Writes the file when this build learned a hash (atomic; a failure is the caller's to report, never fatal). */
  save(): void {
    if (!this.added) return;
    const kept = new Map(this.seen);
    for (const [key, digest] of this.entries()) {
      if (kept.size >= MAX_ENTRIES) break;
      if (!kept.has(key)) kept.set(key, digest);
    }
    mkdirSync(path.dirname(this.file), { recursive: true });
    writeSmallFileAtomicSync(this.file, JSON.stringify({ version: VERSION, hashes: Object.fromEntries(kept) }), { unlinkFirst: true });
    this.added = false;
  }

  private entries(): Map<string, string> {
    if (this.loaded) return this.loaded;
    this.loaded = new Map();
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: unknown; hashes?: unknown };
      if (parsed.version === VERSION && typeof parsed.hashes === 'object' && parsed.hashes !== null) {
        for (const [key, digest] of Object.entries(parsed.hashes)) if (typeof digest === 'string') this.loaded.set(key, digest);
      }
    } catch {
      // Absent (first build of this context) or unreadable: start empty; the next save replaces it.
    }
    return this.loaded;
  }
}
