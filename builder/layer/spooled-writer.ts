/**
 * Lets the tar writer run ahead of compression. The step needs only the diffId (sha256 of the tar) and the
 * snapshot; the compressed blob is needed later (manifest, push, cache record). Tar bytes are hashed as they
 * come and queued for the compressor, which drains the queue on its own; the writer waits only when more than
 * `maxBytes` are queued. So a layer up to that size is compressed entirely after its step has ended, and a
 * bigger one holds the step only until the last `maxBytes` remain (BuildKit compresses at export instead,
 * but our cache records and image digests name the gzip blob, so it is made here, off the step's path).
 *
 * A big file's content is not queued as bytes: the writer hashes it ({@link SpooledWriter.hash}) and queues an
 * open handle on it ({@link SpooledWriter.writeFile}), which the compressor reads again (from the page cache).
 * The handle outlives the upperdir's rename into snapshots/ (or its removal), and the file's size, mtime and ctime,
 * checked after the second read, show its bytes did not change in between. So a 300 MB layer frees its step after one read
 * and hash, and holds no more memory than a small one.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import type { BlobDigests } from './gzip-writer.js';

/** Where the queued bytes go: a blob writer (GzipBlobWriter) that need not hash the tar itself. */
export interface BlobSink {
  write(chunk: Buffer): Promise<void>;
  /** Appends `length` bytes of the file from `position`, read straight into the sink's own buffers; bytes read. */
  writeFrom?(handle: FileHandle, position: number, length: number): Promise<number>;
  finish(): Promise<BlobDigests>;
}

/** A file's content, by handle, already hashed into the tar by the writer. */
export interface FileContent {
  handle: FileHandle;
  /** The lstat the tar header was written from: the size, mtime and ctime that must not have moved. */
  stat: Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'nlink'>;
  path: string;
}

/** Default cap on tar bytes waiting for the compressor, per layer (several steps may compress at once). */
export const DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024;
/** Handles waiting for the compressor before the writer waits: the process's file limit is shared. */
const MAX_QUEUED_FILES = 64;
const COALESCE_BYTES = 1024 * 1024;
/** Tar bytes between two turns of the event loop (one gzip block). */
const YIELD_BYTES = 1024 * 1024;
/**
 * Read size when the compressor reads a file again: one gzip block. The sink keeps the buffers it is given, so each
 * read is a fresh buffer, garbage once compressed; 4 MiB pieces let ~50 MiB more of them wait for the GC (peak RSS
 * of a 300 MB layer 151–156 MiB vs 104–115 MiB with 1 MiB, the same speed).
 */
const REREAD_BYTES = 1024 * 1024;

type Queued = Buffer | FileContent;

export class SpooledWriter {
  private readonly tarHash = createHash('sha256');
  private queue: Queued[] = [];
  private queued = 0;
  private queuedFiles = 0;
  private pumping: Promise<void> | undefined;
  private failure: unknown;
  private hasFailed = false;
  private wakeWriter: (() => void) | undefined;
  private aborted = false;
  private sinceYield = 0;

  constructor(private readonly sink: BlobSink, private readonly maxBytes = DEFAULT_SPOOL_BYTES) {}

  /** Appends tar bytes (kept until compressed: callers must not reuse the buffer). */
  async write(chunk: Buffer): Promise<void> {
    if (this.hasFailed) throw this.failure;
    if (chunk.length === 0) return;
    this.tarHash.update(chunk);
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.pumping ??= this.pump();
    // The tar writer's reads are mostly synchronous: without a turn of the event loop now and then, finished
    // deflate blocks would not be collected (nor new ones started) until the whole tar is queued, and gzip would
    // run after the walk instead of beside it.
    this.sinceYield += chunk.length;
    if (this.sinceYield >= YIELD_BYTES) {
      this.sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.backPressure();
  }

  /** Hashes tar bytes that {@link writeFile} will queue by handle (the buffer may be reused at once). */
  hash(chunk: Buffer): void {
    this.tarHash.update(chunk);
  }

  /**
   * Queues a file's content, already passed to {@link hash}, by its handle; the compressor reads it again and
   * closes the handle (also on failure or abort).
   */
  async writeFile(content: FileContent): Promise<void> {
    if (this.hasFailed || this.aborted) {
      await content.handle.close();
      if (this.hasFailed) throw this.failure;
      return;
    }
    this.queue.push(content);
    this.queuedFiles++;
    this.pumping ??= this.pump();
    await this.backPressure();
  }

  private async backPressure(): Promise<void> {
    while ((this.queued > this.maxBytes || this.queuedFiles > MAX_QUEUED_FILES) && !this.hasFailed) {
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
    if (this.hasFailed) throw this.failure;
  }

  private async pump(): Promise<void> {
    // What a batch still held when the pump stopped early (a failure, an abort): its handles must be closed.
    let batch: Queued[] = [];
    let at = 0;
    try {
      while (this.queue.length > 0) {
        // Take the whole queue: a tar of small files queues tens of thousands of chunks, and shift() on such an
        // array is a copy each time.
        batch = this.queue;
        this.queue = [];
        for (at = 0; at < batch.length;) {
          if (this.aborted) return;
          const first = batch[at]!;
          if (!Buffer.isBuffer(first)) {
            at++; // reread closes its handle whatever happens
            await this.reread(first);
            continue;
          }
          // Small chunks (tar headers, small files) go to the compressor as ~1 MiB pieces: one await each.
          let end = at;
          let bytes = 0;
          for (let next = batch[end]; Buffer.isBuffer(next) && (end === at || bytes + next.length <= COALESCE_BYTES); next = batch[end]) {
            bytes += next.length;
            end++;
          }
          await this.sink.write(end - at === 1 ? first : Buffer.concat(batch.slice(at, end) as Buffer[], bytes));
          at = end;
          this.queued -= bytes;
          if (this.queued <= this.maxBytes) this.wake();
        }
      }
    } catch (err) {
      this.failure = err;
      this.hasFailed = true;
      this.wake();
    } finally {
      if (this.aborted || this.hasFailed) {
        this.queue = [...batch.slice(at), ...this.queue];
        await this.closeQueued();
      }
      this.pumping = undefined;
    }
  }

  /** Feeds a queued file to the compressor from its handle, then checks it is the file the tar was hashed from. */
  private async reread({ handle, stat, path }: FileContent): Promise<void> {
    try {
      const readAt = (at: number) => {
        const piece = Buffer.allocUnsafe(Math.min(REREAD_BYTES, stat.size - at));
        return handle.read(piece, 0, piece.length, at);
      };
      let position = 0;
      const writeFrom = this.sink.writeFrom?.bind(this.sink);
      if (writeFrom) {
        // Into the sink's blocks: compression of the blocks already full goes on while the next is read.
        while (position < stat.size && !this.aborted) {
          const read = await writeFrom(handle, position, Math.min(16 * REREAD_BYTES, stat.size - position));
          if (read === 0) break;
          position += read;
        }
        if (this.aborted) return;
      }
      // One read ahead: the next piece comes off the page cache while this one is compressed.
      let reading = position < stat.size && !writeFrom ? readAt(position) : undefined;
      while (reading && position < stat.size) {
        const { bytesRead, buffer } = await reading;
        if (bytesRead === 0 || this.aborted) break;
        position += bytesRead;
        if (position < stat.size) reading = readAt(position);
        await this.sink.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      }
      if (this.aborted) {
        // A read may still be out on the handle: let it finish before the handle closes.
        await reading?.catch(() => undefined);
        return;
      }
      const now = await handle.stat();
      // A write moves mtime. ctime also moves when the file is unlinked (adopting an upperdir whose snapshot exists
      // removes it) or hardlinked (a bind mount's filtered copy links files), which leave the bytes alone: ctime
      // counts only while nlink is unchanged.
      const relinked = now.nlink !== stat.nlink;
      if (position !== stat.size || now.size !== stat.size || now.mtimeMs !== stat.mtimeMs || (!relinked && now.ctimeMs !== stat.ctimeMs)) {
        throw new BuildError('INTERNAL', `"${path}" changed while its layer was being compressed`);
      }
    } finally {
      this.queuedFiles--;
      this.wake();
      await handle.close();
    }
  }

  /** Closes the handles of files still queued (after a failure or an abort, nothing will read them). */
  private async closeQueued(): Promise<void> {
    const left = this.queue.filter((item): item is FileContent => !Buffer.isBuffer(item));
    this.queue = [];
    this.queued = 0;
    this.queuedFiles -= left.length;
    await Promise.all(left.map((file) => file.handle.close().catch(() => undefined)));
  }

  private wake(): void {
    const wake = this.wakeWriter;
    this.wakeWriter = undefined;
    wake?.();
  }

  /** Drops what is queued and waits for the compressor to stop (the producer failed; the caller removes the file). */
  async abort(): Promise<void> {
    this.aborted = true;
    while (this.pumping) await this.pumping;
    await this.closeQueued();
  }

  /**
   * Ends the tar: its diffId now, and the blob's digests once the compressor has caught up (a failure of
   * compression rejects `blob`; the caller removes the partial file).
   */
  end(): { diffId: string; blob: Promise<BlobDigests> } {
    const diffId = 'sha256:' + this.tarHash.digest('hex');
    const blob = (async (): Promise<BlobDigests> => {
      while (this.pumping) await this.pumping;
      if (this.hasFailed) throw this.failure;
      const digests = await this.sink.finish();
      return { ...digests, diffId };
    })();
    return { diffId, blob };
  }
}
