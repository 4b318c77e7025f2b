/**
 * The tree walk, run ahead of the tar writer, with the contents of small files requested from the reader thread
 * (file-reader.ts) in batches before the writer reaches them. Used only once a tree has many small files: for a
 * few, a thread hop costs more than the reads. Bounded: at most {@link WINDOW} walked entries and
 * {@link BUDGET_BYTES} of requested contents wait for the writer.
 */
import { readFiles } from './file-reader.js';
import type { TreeEntry } from './tree-walk.js';

import { INLINE_FILE } from './thread-walk-source.js';

export { INLINE_FILE };
/** Small files in a tree before the reader thread is used. */
const READER_FROM = 256;
const BATCH_FILES = 256;
const BATCH_BYTES = 1024 * 1024;
const BUDGET_BYTES = 16 * 1024 * 1024;
/** Entries walked ahead of the writer once the head start is used up. */
const WINDOW = 4096;

/** A batch of files read together; `contents` once they are in. */
export class Batch {
  readonly paths: string[] = [];
  readonly sizes: number[] = [];
  total = 0;
  contents: Buffer | undefined;
  promise: Promise<Buffer> | undefined;

  send(): void {
    this.promise = readFiles(this.paths, this.sizes, this.total).then((contents) => (this.contents = contents));
    this.promise.catch(() => undefined); // awaited by the writer when it gets there; an earlier failure may stop it first
  }
}

/** A walked entry and, for a small file read ahead, where its bytes are. */
export interface Prepared {
  entry: TreeEntry;
  batch?: Batch;
  offset: number;
}

export class ReadAhead {
  /** Nothing runs ahead on its own (EntrySource). */
  close(): void {}

  private queue: Prepared[] = [];
  private head = 0;
  private dispatched = 0;
  private walkDone = false;
  private smallFiles = 0;
  private requestedBytes = 0;
  private open: Batch | undefined;

  constructor(private readonly root: string, private readonly walk: Iterator<TreeEntry>, private readonly readerThread = true) {}

  /** Walks until `count` entries wait for the writer (or the tree ends), requesting contents as it goes. */
  fill(count: number): void {
    while (!this.walkDone && this.queue.length - this.head < count) {
      const next = this.walk.next();
      if (next.done) {
        this.walkDone = true;
        break;
      }
      const entry = next.value;
      if (isSmallFile(entry)) this.smallFiles++;
      this.queue.push({ entry, offset: 0 });
      if (this.queue.length % BATCH_FILES === 0) this.dispatch();
    }
    this.dispatch();
  }

  /** Whether the walk has reached the end of the tree. */
  done(): boolean {
    return this.walkDone;
  }

  /** Walked entries the writer has not taken yet. */
  waiting(): number {
    return this.queue.length - this.head;
  }

  /** The next entry in tar order, or undefined at the end. */
  next(): Prepared | undefined {
    if (this.queue.length - this.head < WINDOW / 2) this.fill(WINDOW);
    if (this.head >= this.queue.length) return undefined;
    const item = this.queue[this.head++]!;
    if (item.batch) {
      this.requestedBytes -= item.entry.stat.size;
      // The writer needs it now: an unsent batch goes as it is.
      if (item.batch === this.open) this.sendOpen();
      // Big small files (up to 256 KiB each) use the budget up long before the walked entries: request more.
      if (this.requestedBytes < BUDGET_BYTES / 2 && this.dispatched < this.queue.length) this.dispatch();
    }
    if (this.head >= WINDOW * 2) {
      this.queue = this.queue.slice(this.head);
      this.dispatched = Math.max(0, this.dispatched - this.head);
      this.head = 0;
      this.dispatch();
    }
    return item;
  }

  private dispatch(): void {
    if (!this.readerThread || this.smallFiles < READER_FROM) return;
    // Entries the writer already took were read by it.
    this.dispatched = Math.max(this.dispatched, this.head);
    while (this.dispatched < this.queue.length && this.requestedBytes < BUDGET_BYTES) {
      const item = this.queue[this.dispatched++]!;
      if (!isSmallFile(item.entry)) continue;
      const batch = (this.open ??= new Batch());
      item.batch = batch;
      item.offset = batch.total;
      batch.paths.push(`${this.root}/${item.entry.rel}`);
      batch.sizes.push(item.entry.stat.size);
      batch.total += item.entry.stat.size;
      this.requestedBytes += item.entry.stat.size;
      if (batch.paths.length >= BATCH_FILES || batch.total >= BATCH_BYTES) this.sendOpen();
    }
    if (this.walkDone && this.dispatched >= this.queue.length) this.sendOpen();
  }

  private sendOpen(): void {
    this.open?.send();
    this.open = undefined;
  }
}

/** Read by the reader thread: a regular file with content that is not a hardlink (those the writer handles). */
function isSmallFile({ stat }: TreeEntry): boolean {
  return stat.isFile() && stat.nlink === 1 && stat.size > 0 && stat.size <= INLINE_FILE;
}
