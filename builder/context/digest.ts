import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { createReadStream, readFileSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import type { CopyOptions, CopySource } from './copy-types.js';
import { modeFor, ownerFor } from './dest-fs.js';
import { createMatcher } from './ignore.js';
import { resolveSources } from './sources.js';
import { filtersFor, walkTree, type TreeEntry } from './walk.js';
import { statKey } from './hash-cache.js';

const VERSION = 'builder.copy.v1';
const HASH_CONCURRENCY = 32;
const MAX_CACHED_HASHES = 500_000;
const SYNC_UP_TO = 64 * 1024;
/** Files larger than this are hashed as a stream rather than read whole. */
const STREAM_ABOVE = 4 * 1024 * 1024;

/**
 * Content hashes by inode identity, per source root, for the life of the process: a rebuild rehashes only what
 * changed. A context that lives for one build (a farm job's extracted upload, the daemon's) is forgotten when the
 * build ends (forgetContentHashes): its inodes never come back, and a worker would otherwise keep one entry per file
 * of every build it ran.
 */
const contentHashes = new Map<string, Map<string, string>>();
let cachedHashes = 0;

/** Drops the content hashes of files under `root` (a context directory about to be removed), sub-roots included. */
export function forgetContentHashes(root: string): void {
  const dir = path.resolve(root);
  for (const [key, hashes] of contentHashes) {
    if (key !== dir && !key.startsWith(`${dir}/`)) continue;
    cachedHashes -= hashes.size;
    contentHashes.delete(key);
  }
}

/** How many content hashes the process holds (for tests of the above). */
export function contentHashCount(): number {
  return cachedHashes;
}

/**
 * Digest (`sha256:hex`) of everything copyInto would copy: relative path, type, mode (after --chmod), owner
 * (after --chown), content sha256 and symlink target of each entry, plus dest, flags and heredoc contents.
 * Never mtimes, never absolute paths: the same files give the same digest on any machine and in any directory.
 * Throws the same errors as copyInto for missing or escaping sources.
 */
export async function digestSources(
  source: CopySource,
  options: CopyOptions,
  /** When given, receives one canonical record per source entry (path in the source → record), for cache-miss explanations. */
  files?: Record<string, string>,
): Promise<string> {
  const items = await resolveSources(source, options);
  const exclude = options.exclude.length > 0 ? createMatcher(options.exclude) : undefined;
  const hash = createHash('sha256');
  const write = (record: unknown[]): void => {
    hash.update(JSON.stringify(record));
    hash.update('\n');
  };
  write([
    VERSION,
    options.dest,
    options.chown ?? null,
    options.chmod ?? null,
    options.add,
    options.parents,
    [...options.exclude],
    source.isContext,
  ]);
  for (const item of items) {
    if (item.kind === 'inline') {
      write(['inline', item.name, item.content]);
      continue;
    }
    write(['source', item.rel, item.name, item.parentsRel]);
    if (!item.stat.isDirectory()) {
      const record = await savedOrEntryRecord('.', item.hostPath, item.stat, source, options);
      write(record);
      if (files) files[item.rel] = JSON.stringify(record.slice(1));
      continue;
    }
    const entries = await walkTree(item.hostPath, filtersFor(source, item.hostPath, exclude));
    const records = await mapLimited(entries, HASH_CONCURRENCY, (entry: TreeEntry) =>
      savedOrEntryRecord(entry.rel, entry.hostPath, entry.stat, source, options),
    );
    for (const record of records) {
      write(record);
      if (files) files[path.posix.join(item.rel, String(record[0]))] = JSON.stringify(record.slice(1));
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

async function entryRecord(rel: string, hostPath: string, stat: Stats, source: CopySource, options: CopyOptions): Promise<unknown[]> {
  const owner = ownerFor(stat, source.isContext, options.chown);
  const common = [rel, owner.uid, owner.gid];
  if (stat.isSymbolicLink()) return [...common, 'symlink', 0, await readlink(hostPath)];
  const mode = modeFor(stat, options.chmod);
  if (stat.isDirectory()) return [...common, 'dir', mode, ''];
  if (stat.isFile()) return [...common, 'file', mode, await contentHash(source.root, hostPath, stat)];
  return [...common, 'other', mode, '']; // skipped by copyInto; recorded so the key still sees it
}

async function contentHash(root: string, hostPath: string, stat: Stats): Promise<string> {
  const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  const rootKey = path.resolve(root);
  const cached = contentHashes.get(rootKey)?.get(key);
  if (cached) return cached;
  let digest: string;
  if (stat.size <= SYNC_UP_TO) {
    // Small files: a sync read avoids three thread-pool round trips (open/read/close) per file.
    digest = createHash('sha256').update(readFileSync(hostPath)).digest('hex');
  } else if (stat.size <= STREAM_ABOVE) {
    digest = createHash('sha256').update(await readFile(hostPath)).digest('hex');
  } else {
    const hasher = createHash('sha256');
    await pipeline(createReadStream(hostPath), hasher);
    digest = hasher.digest('hex');
  }
  if (cachedHashes >= MAX_CACHED_HASHES) {
    contentHashes.clear();
    cachedHashes = 0;
  }
  let hashes = contentHashes.get(rootKey);
  if (!hashes) contentHashes.set(rootKey, (hashes = new Map()));
  if (!hashes.has(key)) cachedHashes++;
  hashes.set(key, digest);
  return digest;
}

/** Maps with at most `limit` calls in flight, keeping order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      // Small files hash synchronously; let timers and I/O run now and then.
      if (index % 512 === 511) await new Promise<void>((resolve) => setImmediate(resolve));
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * entryRecord, through the hashes a previous build of this context saved (source.hashes, context/hash-cache.ts):
 * a file whose stat key is known is not read. The record is entryRecord's file record with the saved hash.
 */
async function savedOrEntryRecord(rel: string, hostPath: string, stat: Stats, source: CopySource, options: CopyOptions): Promise<unknown[]> {
  const saved = source.hashes && stat.isFile() ? source.hashes.get(statKey(stat)) : undefined;
  if (saved !== undefined) {
    const owner = ownerFor(stat, source.isContext, options.chown);
    return [rel, owner.uid, owner.gid, 'file', modeFor(stat, options.chmod), saved];
  }
  const record = await entryRecord(rel, hostPath, stat, source, options);
  if (source.hashes && stat.isFile()) source.hashes.remember(statKey(stat), String(record[5]), Math.max(stat.mtimeMs, stat.ctimeMs));
  return record;
}
