/**
 * Lets the tar writer run ahead of compression. The step needs only the diffId (sha256 of the tar) and the
 * snapshot; the compressed blob is needed later (manifest, push, cache record). Tar bytes are hashed as they
 * come and queued in memory for the compressor, which drains the queue on its own; the writer waits only when
 * more than `maxBytes` are queued. So a layer up to that size is compressed entirely after its step has ended,
 * and a bigger one holds the step only until the last `maxBytes` remain (BuildKit compresses at export instead,
 * but our cache records and image digests name the gzip blob, so it is made here, off the step's path).
 */
import { createHash } from 'node:crypto';
import type { BlobDigests } from './gzip-writer.js';

/** Where the queued bytes go: a blob writer (GzipBlobWriter) that need not hash the tar itself. */
export interface BlobSink {
  write(chunk: Buffer): Promise<void>;
  finish(): Promise<BlobDigests>;
}

/** Default cap on tar bytes waiting for the compressor, per layer (several steps may compress at once). */
export const DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024;
const COALESCE_BYTES = 1024 * 1024;
/** Tar bytes between two turns of the event loop (one gzip block). */
const YIELD_BYTES = 1024 * 1024;

export class SpooledWriter {
  private readonly tarHash = createHash('sha256');
  private queue: Buffer[] = [];
  private queued = 0;
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
    while (this.queued > this.maxBytes && !this.hasFailed) await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    if (this.hasFailed) throw this.failure;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        // Take the whole queue: a tar of small files queues tens of thousands of chunks, and shift() on such an
        // array is a copy each time.
        const batch = this.queue;
        this.queue = [];
        // Small chunks (tar headers, small files) go to the compressor as ~1 MiB pieces: one await each.
        for (let at = 0; at < batch.length;) {
          let end = at;
          let bytes = 0;
          while (end < batch.length && (end === at || bytes + batch[end]!.length <= COALESCE_BYTES)) bytes += batch[end++]!.length;
          if (this.aborted) return;
          await this.sink.write(end - at === 1 ? batch[at]! : Buffer.concat(batch.slice(at, end), bytes));
          at = end;
          this.queued -= bytes;
          if (this.queued <= this.maxBytes) this.wake();
        }
      }
    } catch (err) {
      this.failure = err;
      this.hasFailed = true;
      this.queue = [];
      this.wake();
    } finally {
      this.pumping = undefined;
    }
  }

  private wake(): void {
    const wake = this.wakeWriter;
    this.wakeWriter = undefined;
    wake?.();
  }

  /** Drops what is queued and waits for the compressor to stop (the producer failed; the caller removes the file). */
  async abort(): Promise<void> {
    this.aborted = true;
    this.queue = [];
    this.queued = 0;
    while (this.pumping) await this.pumping;
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
