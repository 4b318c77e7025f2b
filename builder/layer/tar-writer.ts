/**
 * The layer tar of a tree, written in 1 MiB chunks: headers and small files go straight into the current chunk
 * (no buffer, promise or hash call per entry; 20,000 small files are ~20 chunks), a file of medium size is read
 * in one call into a buffer of its own, and a big file is hashed here and queued by handle (spooled-writer.ts),
 * so its bytes are not held in memory. The bytes are exactly what encodeHeader() per entry gives
 * (golden-digest.test.ts pins them).
 */
import { closeSync, readlinkSync, readSync } from 'node:fs';
import { openArchived, openArchivedSync } from './archive-open.js';
import { BuildError } from '../errors.js';
import { BLOCK, encodeHeader, paddingFor, writeSimpleHeader, type TarHeader } from './tar-format.js';
import { INLINE_FILE, ReadAhead, type Prepared } from './read-ahead.js';
import { fileReaderRunning } from './file-reader.js';
import { ThreadWalk, type EntrySource } from './thread-walk.js';
import { isOverlayWhiteout, walkTree, WHITEOUT_PREFIX, type EntryStat, type TreeEntry } from './tree-walk.js';
import type { FileContent } from './spooled-writer.js';
import type { XattrTree } from './xattrs.js';

/** Where the tar goes: SpooledWriter. */
export interface TarSink {
  write(chunk: Buffer): Promise<void>;
  hash(chunk: Buffer): void;
  writeFile(content: FileContent): Promise<void>;
}

export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
const CHUNK = 1024 * 1024;
/** Files from this size on are queued by handle instead of by bytes. */
const BIG_FILE = 8 * 1024 * 1024;
/** Read size (two buffers, one read while the other is hashed) for a big file. */
const BIG_READ = 4 * 1024 * 1024;
/** Entries written ahead of the xattrs between two turns of the event loop (~1 ms). */
const YIELD_EVERY = 512;
/** Bytes written ahead of the xattrs at most (20,000 small files are ~20 MiB of tar). */
const HOLD_BYTES = 32 * 1024 * 1024;
/** Directories of a tree listed for directories() at most: a small layer's, not a 20,000-file one's. */
const DIRECTORIES_KEPT = 64;

/** An entry written before the xattrs were in, and where its bytes began. */
interface Written {
  item: Prepared;
  full: number;
  chunk: Buffer;
  used: number;
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

const NO_XATTRS: Map<string, Buffer> = new Map();

export class LayerTarWriter {
  /** "dev:ino" → first path seen, for hardlinks. */
  private readonly inodes = new Map<string, string>();
  private xattrs: XattrTree = new Map();
  /** Zeroed when allocated (fresh pages from the kernel, no memset): headers, padding and the end need no fill. */
  private chunk: Buffer = Buffer.alloc(CHUNK);
  private used = 0;
  /** Cut chunks not yet given to the sink, in order. */
  private full: Buffer[] = [];
  /** The tree's directories while there are few (see directories()); undefined past DIRECTORIES_KEPT. */
  private dirs: Set<string> | undefined = new Set();

  constructor(
    private readonly root: string,
    private readonly out: TarSink,
    private readonly epoch: number | undefined,
  ) {}

  /**
   * The tree's directories and the xattrs read for it, once writeTree is done, when it has at most
   * {@link DIRECTORIES_KEPT} directories: a later direct COPY into them need not read their xattrs again
   * (exec/copy-direct.ts rememberDirectories).
   */
  directories(): { rels: string[]; xattrs: XattrTree } | undefined {
    return this.dirs && { rels: [...this.dirs], xattrs: this.xattrs };
  }

  /**
   * Writes every entry of the tree and the end-of-archive blocks. `readXattrs` is asked once the walk knows whether
   * the tree has at most `smallTree` entries; while it reads them, entries are written as if they had none (see
   * writeAhead), then each entry is written as the walk reaches it.
   */
  async writeTree(readXattrs: (small: boolean) => Promise<XattrTree>, smallTree: number, readerThread: boolean): Promise<void> {
    const walked = new ReadAhead(this.root, walkTree(this.root), readerThread);
    walked.fill(smallTree + 1);
    const small = walked.done() && walked.waiting() <= smallTree;
    // A big tree is walked again from its root on the reader thread, which reads its small files as it goes
    // (thread-walk.ts): the ~200 entries walked here only told the two apart. Only when that thread is up (a long
    // RUN starts it, exec/run.ts): its start (20-40 ms) would cost a tree of a few hundred entries more than the
    // walk; such a tree stays with ReadAhead, which starts the thread past 256 small files as before.
    const thread = !small && readerThread && threadWalkEnabled() && fileReaderRunning();
    const ahead: EntrySource = thread ? new ThreadWalk(this.root) : walked;
    try {
      const xattrs = readXattrs(small);
      let settled = false;
      xattrs.then(() => (settled = true), () => (settled = true));
      const { log, next } = await this.writeAhead(ahead, () => settled);
      this.xattrs = await xattrs;
      await this.reconcile(log);
      for (let item = next; item; ) {
        const waiting = this.step(item);
        if (waiting) await waiting;
        const following = ahead.next();
        item = following instanceof Promise ? await following : following;
      }
    } finally {
      ahead.close();
    }
    this.room(2 * BLOCK);
    this.zeros(2 * BLOCK);
    this.cut();
    await this.drain();
  }

  /**
   * getfattr takes about as long as the walk: waiting for it before the first header put the two in a row. So,
   * until the xattrs are in, entries are written as if they had none and held back (nothing hashed or compressed
   * yet), yielding now and then so getfattr's output is read. Stops before a big file (hashed as it is read), past
   * {@link HOLD_BYTES} held, or once the xattrs are in; returns the entries written, each with where it began,
   * and the one it stopped at (not written).
   */
  private async writeAhead(ahead: EntrySource, settled: () => boolean): Promise<{ log: Written[]; next: Prepared | undefined }> {
    const log: Written[] = [];
    const first = ahead.next();
    let item = first instanceof Promise ? await first : first;
    for (; item && !settled(); ) {
      const { stat } = item.entry;
      if (stat.isFile() && stat.size >= BIG_FILE) break;
      if (log.length > 0 && log.length % YIELD_EVERY === 0) {
        if (this.held() > HOLD_BYTES) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (settled()) break;
      }
      log.push({ item, full: this.full.length, chunk: this.chunk, used: this.used });
      const waiting = this.entry(item);
      if (waiting) await waiting;
      const following = ahead.next();
      item = following instanceof Promise ? await following : following;
    }
    return { log, next: item };
  }

  /**
   * With the xattrs in: from the first entry written ahead that they change (xattrs kept in the layer, an opaque
   * directory), the held bytes are dropped and the entries written again. The bytes are those of a writer that
   * had the xattrs from the start.
   */
  private async reconcile(log: Written[]): Promise<void> {
    const from = log.findIndex(({ item }) => this.changedByXattrs(item.entry));
    if (from === -1) return;
    const mark = log[from]!;
    this.full.length = mark.full;
    this.chunk = mark.chunk;
    this.chunk.fill(0, mark.used);
    this.used = mark.used;
    for (const { item: { entry: { rel, stat } } } of log.slice(from)) {
      const inode = `${stat.dev}:${stat.ino}`;
      if (stat.nlink > 1 && this.inodes.get(inode) === rel) this.inodes.delete(inode);
    }
    for (const { item } of log.slice(from)) {
      const waiting = this.entry(item);
      if (waiting) await waiting;
    }
  }

  /** Whether entry() writes `entry` otherwise with its xattrs than without (and its errors, as entry() gives them). */
  private changedByXattrs({ rel, stat }: TreeEntry): boolean {
    const own = this.xattrs.get(rel);
    if (!own) return false;
    const kept = layerXattrs(own, rel);
    if (isOverlayWhiteout(stat)) return false;
    if (stat.isDirectory()) return kept.size > 0 || own.get(OVERLAY_OPAQUE)?.toString() === 'y';
    return kept.size > 0 && (stat.isFile() || stat.isSymbolicLink() || stat.isFIFO() || stat.isCharacterDevice() || stat.isBlockDevice());
  }

  /** Bytes written and not yet given to the sink. */
  private held(): number {
    let bytes = this.used;
    for (const piece of this.full) bytes += piece.length;
    return bytes;
  }

  /** One entry, awaiting only when a chunk is full or a big file is read. */
  private step(item: Prepared): Promise<void> | undefined {
    const waiting = this.entry(item);
    if (waiting) return waiting.then(() => (this.full.length > 0 ? this.drain() : undefined));
    return this.full.length > 0 ? this.drain() : undefined;
  }

  private async drain(): Promise<void> {
    for (let index = 0; index < this.full.length; index++) await this.out.write(this.full[index]!);
    this.full = [];
  }

  /** Makes room for `bytes` in the current chunk (cutting it if they do not fit). */
  private room(bytes: number): void {
    if (this.used + bytes > CHUNK) this.cut();
  }

  private cut(): void {
    if (this.used === 0) return;
    this.full.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.alloc(CHUNK);
    this.used = 0;
  }

  /** Zero bytes: the chunk's bytes past `used` are still zero. */
  private zeros(count: number): void {
    this.used += count;
  }

  /** Bytes made elsewhere: copied into the chunk, or, when bigger than one, passed on as they are. */
  private bytes(data: Buffer): void {
    if (data.length > CHUNK) {
      this.cut();
      this.full.push(data);
      return;
    }
    this.room(data.length);
    data.copy(this.chunk, this.used);
    this.used += data.length;
  }

  private header(name: string, stat: EntryStat, fields: Partial<TarHeader>): void {
    const mtime = Math.floor(stat.mtimeMs / 1000);
    const header: TarHeader = {
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
      xattrs: NO_XATTRS,
      ...fields,
    };
    this.room(BLOCK);
    if (writeSimpleHeader(this.chunk, this.used, header)) this.used += BLOCK;
    else this.bytes(encodeHeader(header));
  }

  private entry(item: Prepared): Promise<void> | undefined {
    const { rel, relDir, name, stat } = item.entry;
    const own = this.xattrs.get(rel);
    const xattrs = own ? layerXattrs(own, rel) : NO_XATTRS;
    if (isOverlayWhiteout(stat)) {
      this.header((relDir === '' ? '' : relDir + '/') + WHITEOUT_PREFIX + name, stat, { mode: 0, xattrs: NO_XATTRS });
    } else if (stat.isDirectory()) {
      if (this.dirs && this.dirs.add(rel).size > DIRECTORIES_KEPT) this.dirs = undefined;
      this.header(rel + '/', stat, { type: 'directory', xattrs });
      if (own?.get(OVERLAY_OPAQUE)?.toString() === 'y') this.header(`${rel}/${OPAQUE_WHITEOUT}`, stat, { mode: 0, xattrs: NO_XATTRS });
    } else if (stat.isFile()) {
      const inode = `${stat.dev}:${stat.ino}`;
      const first = stat.nlink > 1 ? this.inodes.get(inode) : undefined;
      if (first !== undefined) {
        this.header(rel, stat, { type: 'link', linkname: first, xattrs });
        return undefined;
      }
      if (stat.nlink > 1) this.inodes.set(inode, rel);
      this.header(rel, stat, { size: stat.size, xattrs });
      const { batch } = item;
      if (!batch) return this.content(`${this.root}/${rel}`, stat);
      if (batch.contents) return this.readAhead(batch.contents, item.offset, stat.size);
      return batch.promise!.then((contents) => this.readAhead(contents, item.offset, stat.size));
    } else if (stat.isSymbolicLink()) {
      this.header(rel, stat, { type: 'symlink', linkname: readlinkSync(`${this.root}/${rel}`), xattrs });
    } else if (stat.isFIFO()) {
      this.header(rel, stat, { type: 'fifo', xattrs });
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      const type = stat.isCharacterDevice() ? 'char' : 'block';
      this.header(rel, stat, { type, devmajor: major(stat.rdev), devminor: minor(stat.rdev), xattrs });
    }
    // Sockets are not image content (docker skips them too).
    return undefined;
  }

  private content(abs: string, stat: EntryStat): Promise<void> | undefined {
    const size = stat.size;
    if (size >= BIG_FILE) return this.bigContent(abs, stat);
    if (size > 0 && size <= INLINE_FILE) {
      this.room(size);
      readExactly(abs, this.chunk, this.used, size);
      this.used += size;
    } else if (size > 0) {
      this.cut();
      const data = Buffer.allocUnsafe(size);
      readExactly(abs, data, 0, size);
      this.full.push(data);
    }
    this.padding(size);
    return undefined;
  }

  /** A small file's bytes, read by the reader thread. */
  private readAhead(contents: Buffer, offset: number, size: number): undefined {
    this.room(size);
    contents.copy(this.chunk, this.used, offset, offset + size);
    this.used += size;
    this.padding(size);
    return undefined;
  }

  private padding(size: number): void {
    const padding = paddingFor(size);
    if (padding === 0) return;
    this.room(padding);
    this.zeros(padding);
  }

  /** Reads and hashes a big file here, and queues it by handle for the compressor. */
  private async bigContent(abs: string, stat: EntryStat): Promise<void> {
    this.cut();
    await this.drain();
    const handle = await openArchived(abs);
    try {
      const buffers = [Buffer.allocUnsafe(BIG_READ), Buffer.allocUnsafe(BIG_READ)];
      let position = 0;
      let turn = 0;
      let reading = handle.read(buffers[0]!, 0, Math.min(BIG_READ, stat.size), 0);
      while (position < stat.size) {
        const { bytesRead, buffer } = await reading;
        if (bytesRead === 0) break;
        position += bytesRead;
        turn ^= 1;
        // The next read runs on the thread pool while this piece is hashed.
        if (position < stat.size) reading = handle.read(buffers[turn]!, 0, Math.min(BIG_READ, stat.size - position), position);
        this.out.hash(buffer.subarray(0, bytesRead));
      }
      if (position !== stat.size) throw new BuildError('INTERNAL', `"${abs}" changed size while it was being archived`);
    } catch (err) {
      await handle.close();
      throw err;
    }
    await this.out.writeFile({ handle, stat, path: abs });
    this.padding(stat.size);
  }
}

/** BUILDER_THREAD_WALK=off keeps a big tree's walk on the main thread (the reader thread then only reads). */
function threadWalkEnabled(): boolean {
  return process.env['BUILDER_THREAD_WALK'] !== 'off';
}

/** Reads exactly `size` bytes of the file into `target` at `at` (open, read, close: no fstat, no buffer). */
function readExactly(abs: string, target: Buffer, at: number, size: number): void {
  const fd = openArchivedSync(abs);
  let copied = 0;
  try {
    for (let read = -1; copied < size && read !== 0; copied += read) read = readSync(fd, target, at + copied, size - copied, copied);
  } finally {
    closeSync(fd);
  }
  if (copied !== size) throw new BuildError('INTERNAL', `"${abs}" changed size while it was being archived`);
}
