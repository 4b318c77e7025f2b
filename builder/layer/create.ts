/** Directory (an overlay upperdir) → deterministic OCI layer blob. */
import { createReadStream, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import { MEDIA_TYPES, type Layer } from '../image/types.js';
import { defaultGzipLevel, GzipBlobWriter } from './gzip-writer.js';
import { SpooledWriter } from './spooled-writer.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarHeader } from './tar-format.js';
import { isOverlayWhiteout, walkTree, WHITEOUT_PREFIX, type TreeEntry } from './tree-walk.js';
import { readXattrTree, type XattrTree } from './xattrs.js';

/** Options for {@link createLayer}. */
export interface CreateLayerOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), as SOURCE_DATE_EPOCH asks. */
  sourceDateEpoch?: number;
  /** gzip level 0-9; default env BUILDER_GZIP_LEVEL, else 1 (measured: level 6 costs ~3x the time for ~10% smaller text). */
  gzipLevel?: number;
  /** Tar bytes that may wait for the compressor before the tar writer waits (spooled-writer.ts). */
  spoolBytes?: number;
}

/** A layer whose tar is written and hashed (its diffId is final) while its gzip blob is still being finished. */
export interface StartedLayer {
  diffId: string;
  /** The finished layer, once the blob file is complete (the handle closed); rejects after removing the file. */
  layer: Promise<Layer>;
}

export { WHITEOUT_PREFIX };
/** Entries walked ahead while xattrs are read: ~20,000 lstat results are a few MB. */
const WALK_HEAD_START = 20_000;
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
/** Files up to this size are read in one call; bigger ones are streamed. */
const SMALL_FILE = 1024 * 1024;
const NO_PADDING = Buffer.alloc(0);

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/** xattrs that belong in a layer: overlay bookkeeping and host SELinux labels are not image content. */
function layerXattrs(all: Map<string, Buffer> | undefined, path: string): Map<string, Buffer> {
  const kept = new Map<string, Buffer>();
  if (!all) return kept;
  for (const [name, value] of all) {
    if (name === 'trusted.overlay.redirect' || name === 'trusted.overlay.metacopy') {
      throw new BuildError('INTERNAL', `"${path}" uses overlayfs ${name.slice(16)}; mount with redirect_dir=off,metacopy=off to diff it`);
    }
    if (name.startsWith('trusted.overlay.') || name === 'security.selinux') continue;
    kept.set(name, value);
  }
  return kept;
}

function major(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
function minor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xfff00n));
}

class LayerTarWriter {
  /** "dev:ino" → first path seen, for hardlinks. */
  private readonly inodes = new Map<string, string>();
  private xattrs: XattrTree = new Map();

  constructor(
    private readonly root: string,
    private readonly out: { write(chunk: Buffer): Promise<void> },
    private readonly epoch: number | undefined,
  ) {}

  private header(name: string, stat: Stats, fields: Partial<TarHeader>): TarHeader {
    const mtime = Math.floor(stat.mtimeMs / 1000);
    return {
      name,
      type: 'file',
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      gid: stat.gid,
      size: 0,
      mtime: this.epoch !== undefined && mtime > this.epoch ? this.epoch : mtime,
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
      ...fields,
    };
  }

  /**
   * Writes every entry of the tree. The first `headStart` entries are walked (lstat) while `xattrs` is still
   * being read; then each entry is written as the walk reaches it.
   */
  async writeTree(xattrs: Promise<XattrTree>, headStart: number): Promise<void> {
    const walk = walkTree(this.root);
    const ahead: TreeEntry[] = [];
    for (let next = walk.next(); ; next = walk.next()) {
      if (next.done) break;
      ahead.push(next.value);
      if (ahead.length >= headStart) break;
    }
    this.xattrs = await xattrs;
    for (const entry of ahead) await this.entry(entry);
    if (ahead.length < headStart) return;
    for (const entry of walk) await this.entry(entry);
  }

  private async entry({ rel, relDir, name, stat }: TreeEntry): Promise<void> {
    const abs = join(this.root, rel);
    const xattrs = layerXattrs(this.xattrs.get(rel), rel);
    if (isOverlayWhiteout(stat)) {
      const whiteout = (relDir === '' ? '' : relDir + '/') + WHITEOUT_PREFIX + name;
      await this.out.write(encodeHeader(this.header(whiteout, stat, { mode: 0 })));
    } else if (stat.isDirectory()) {
      await this.out.write(encodeHeader(this.header(rel + '/', stat, { type: 'directory', xattrs })));
      if (this.xattrs.get(rel)?.get(OVERLAY_OPAQUE)?.toString() === 'y') {
        await this.out.write(encodeHeader(this.header(`${rel}/${OPAQUE_WHITEOUT}`, stat, { mode: 0 })));
      }
    } else if (stat.isFile()) {
      const inode = `${stat.dev}:${stat.ino}`;
      const first = stat.nlink > 1 ? this.inodes.get(inode) : undefined;
      if (first !== undefined) {
        await this.out.write(encodeHeader(this.header(rel, stat, { type: 'link', linkname: first, xattrs })));
        return;
      }
      if (stat.nlink > 1) this.inodes.set(inode, rel);
      await this.out.write(encodeHeader(this.header(rel, stat, { size: stat.size, xattrs })));
      await this.content(abs, stat.size);
    } else if (stat.isSymbolicLink()) {
      await this.out.write(encodeHeader(this.header(rel, stat, { type: 'symlink', linkname: readlinkSync(abs), xattrs })));
    } else if (stat.isFIFO()) {
      await this.out.write(encodeHeader(this.header(rel, stat, { type: 'fifo', xattrs })));
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      const type = stat.isCharacterDevice() ? 'char' : 'block';
      await this.out.write(encodeHeader(this.header(rel, stat, { type, devmajor: major(stat.rdev), devminor: minor(stat.rdev), xattrs })));
    }
    // Sockets are not image content (docker skips them too).
  }

  private async content(abs: string, size: number): Promise<void> {
    let copied = 0;
    if (size <= SMALL_FILE) {
      const data = readFileSync(abs);
      copied = data.length;
      if (copied === size) await this.out.write(data);
    } else {
      for await (const chunk of createReadStream(abs, { highWaterMark: SMALL_FILE, end: size - 1 })) {
        copied += (chunk as Buffer).length;
        await this.out.write(chunk as Buffer);
      }
    }
    if (copied !== size) throw new BuildError('INTERNAL', `"${abs}" changed size while it was being archived`);
    const padding = paddingFor(size);
    await this.out.write(padding === 0 ? NO_PADDING : Buffer.alloc(padding));
  }
}

function layerError(err: unknown, upperdir: string): BuildError {
  if (err instanceof BuildError) return err;
  const full = (err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as NodeJS.ErrnoException).code === 'EDQUOT';
  // A full store is the user's to fix (and nothing half-written stays: the temp blob is removed).
  const hint = full ? ' (the builder store\'s file system is full: free space, e.g. `builder prune`, and build again)' : '';
  return new BuildError('INTERNAL', `creating a layer from ${upperdir} failed: ${errorMessage(err)}${hint}`, { cause: err });
}

/**
 * Tars `upperdir` (an overlay upperdir, or any directory) as an OCI layer and gzips it into `outFile`
 * (created or truncated; callers rename it into the store). Entries are sorted, parents before children;
 * overlay whiteouts become `.wh.` entries; numeric owners, modes, xattrs (PAX SCHILY.xattr), hardlinks are kept.
 * Resolves once the tar is read and hashed: `upperdir` may then change or move; the gzip blob is finished in
 * the background (`layer`), from the bytes already read.
 */
export async function startLayer(upperdir: string, outFile: string, options: CreateLayerOptions = {}): Promise<StartedLayer> {
  const level = options.gzipLevel ?? defaultGzipLevel();
  const handle = await open(outFile, 'w', 0o644);
  const spool = new SpooledWriter(new GzipBlobWriter(handle, level, false), options.spoolBytes);
  let ended: ReturnType<SpooledWriter['end']>;
  try {
    // getfattr runs in its own process while the walk gets ahead (bounded: a head start holds lstat results).
    const xattrs = readXattrTree(upperdir);
    xattrs.catch(() => undefined); // awaited by writeTree; a walk error first must not leave it unhandled
    await new LayerTarWriter(upperdir, spool, options.sourceDateEpoch).writeTree(xattrs, WALK_HEAD_START);
    await spool.write(Buffer.from(END_OF_ARCHIVE));
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
  return { diffId: ended.diffId, layer };
}

/** {@link startLayer}, waiting for the blob. */
export async function createLayer(upperdir: string, outFile: string, options: CreateLayerOptions = {}): Promise<Layer> {
  return (await startLayer(upperdir, outFile, options)).layer;
}
