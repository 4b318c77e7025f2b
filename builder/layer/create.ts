/** Directory (an overlay upperdir) → deterministic OCI layer blob. */
import { readdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { BuildError, errorMessage } from '../errors.js';
import { MEDIA_TYPES, type Layer } from '../image/types.js';
import { defaultGzipLevel, GzipBlobWriter } from './gzip-writer.js';
import { SpooledWriter } from './spooled-writer.js';
import { LayerTarWriter, OPAQUE_WHITEOUT } from './tar-writer.js';
import { WHITEOUT_PREFIX } from './tree-walk.js';
import { HELPER_ENTRY_LIMIT, readXattrTree, type XattrTree } from './xattrs.js';

/** Options for {@link createLayer}. */
export interface CreateLayerOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), as SOURCE_DATE_EPOCH asks. */
  sourceDateEpoch?: number;
  /** gzip level 0-9; default env BUILDER_GZIP_LEVEL, else 1 (measured: level 6 costs ~3x the time for ~10% smaller text). */
  gzipLevel?: number;
  /** Tar bytes that may wait for the compressor before the tar writer waits (spooled-writer.ts). */
  spoolBytes?: number;
  /** false: read every file on the event loop, never on the reader thread (read-ahead.ts; tests compare the two). */
  readerThread?: boolean;
}

/** A layer whose tar is written and hashed (its diffId is final) while its gzip blob is still being finished. */
export interface StartedLayer {
  diffId: string;
  /** The finished layer, once the blob file is complete (the handle closed); rejects after removing the file. */
  layer: Promise<Layer>;
  /** A small tree's directories (relative paths) and the xattrs read for the tar (LayerTarWriter.directories). */
  directories?: { rels: string[]; xattrs: XattrTree };
}

export { WHITEOUT_PREFIX, OPAQUE_WHITEOUT };

/** Synchronous on purpose: one getdents on a step's path, not a thread-pool round trip behind background work. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  return readdirSync(dir).length === 0;
}

function layerError(err: unknown, upperdir: string): BuildError {
  if (err instanceof BuildError) return err;
  // Node reads directory names as UTF-8 strings: a name that is not valid UTF-8 comes back with U+FFFD in it, and
  // the lstat of that string finds nothing. Say so instead of a bare ENOENT (docker's layers carry such names as
  // raw bytes; ours cannot yet, see docs/ARCHITECTURE.md "Peers read our images").
  const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' ? (err as NodeJS.ErrnoException).path ?? errorMessage(err) : '';
  if (missing.includes('\uFFFD')) {
    const at = missing.indexOf(upperdir + '/');
    const name = at >= 0 ? '/' + missing.slice(at + upperdir.length + 1).replace(/'.*$/, '') : missing;
    return new BuildError('NOT_SUPPORTED', `the step wrote a file whose name is not valid UTF-8 (${name}, `
      + 'the bad bytes shown as \uFFFD): builder cannot put such names into a layer; rename the file in the step', { cause: err });
  }
  const full = (err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as NodeJS.ErrnoException).code === 'EDQUOT';
  // A full store is the user's to fix (and nothing half-written stays: the temp blob is removed).
  const hint = full ? ' (the builder store\'s file system is full: free space, e.g. `builder prune`, and build again)' : '';
  return new BuildError('INTERNAL', `creating a layer from ${upperdir} failed: ${errorMessage(err)}${hint}`, { cause: err });
}

/**
 * Tars `upperdir` (an overlay upperdir, or any directory) as an OCI layer and gzips it into `outFile`
 * (created or truncated; callers rename it into the store). Entries are sorted, parents before children;
 * overlay whiteouts become `.wh.` entries; numeric owners, modes, xattrs (PAX SCHILY.xattr), hardlinks are kept.
 * Resolves once the tar is read and hashed: `upperdir` may then move or be removed; the gzip blob is finished in
 * the background (`layer`), from the bytes already read and, for files of 8 MiB and more, from handles opened on
 * them, so those must not be written to until it is (a change fails the blob instead of corrupting it).
 */
export async function startLayer(upperdir: string, outFile: string, options: CreateLayerOptions = {}): Promise<StartedLayer> {
  const level = options.gzipLevel ?? defaultGzipLevel();
  const handle = await open(outFile, 'w', 0o644);
  const spool = new SpooledWriter(new GzipBlobWriter(handle, level, false), options.spoolBytes);
  let ended: ReturnType<SpooledWriter['end']>;
  let directories: StartedLayer['directories'];
  try {
    // getfattr runs in its own process while the tar is written ahead of it (tar-writer.ts writeAhead). A tree
    // the walk already found bigger than the mount helper's limit goes straight to getfattr: asking the helper
    // first costs a round trip (and a fresh perl while the helper is busy unmounting) only to hear "too many".
    const xattrs = (small: boolean): Promise<XattrTree> => readXattrTree(upperdir, small ? {} : { via: 'getfattr' });
    const writer = new LayerTarWriter(upperdir, spool, options.sourceDateEpoch);
    await writer.writeTree(xattrs, HELPER_ENTRY_LIMIT, options.readerThread ?? true);
    directories = writer.directories();
    ended = spool.end();
  } catch (err) {
    await spool.abort();
    await handle.close();
    await rm(outFile, { force: true });
    throw layerError(err, upperdir);
  }
  const layer = ended.blob.then(
    async ({ digest, size }): Promise<Layer> => {
      await handle.close();
      return { digest, diffId: ended.diffId, size, mediaType: MEDIA_TYPES.ociLayerGzip };
    },
    async (err: unknown): Promise<never> => {
      await handle.close().catch(() => undefined);
      await rm(outFile, { force: true });
      throw layerError(err, upperdir);
    },
  );
  return { diffId: ended.diffId, layer, ...(directories ? { directories } : {}) };
}

/** {@link startLayer}, waiting for the blob. */
export async function createLayer(upperdir: string, outFile: string, options: CreateLayerOptions = {}): Promise<Layer> {
  return (await startLayer(upperdir, outFile, options)).layer;
}
