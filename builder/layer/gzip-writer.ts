/**
 * Streams tar bytes into a gzip blob, hashing the tar (diffId) and the gzip (digest) on the way.
 * Compression runs pigz-style: fixed 1 MiB blocks deflated in parallel on libuv's thread pool, each primed with
 * the previous block's last 32 KiB as dictionary, so the ratio matches single-stream gzip while using every core.
 * The output depends only on the input bytes and the level, so it is deterministic (header mtime 0, OS unix).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { BuildError } from '../errors.js';

const deflateRaw = promisify<zlib.InputType, zlib.ZlibOptions, Buffer>(zlib.deflateRaw);
const BLOCK_SIZE = 1024 * 1024;
const DICTIONARY_SIZE = 32 * 1024;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

/** Gzip level from env BUILDER_GZIP_LEVEL, else the measured default (see docs in create.ts). */
export function defaultGzipLevel(): number {
  const fromEnv = process.env.BUILDER_GZIP_LEVEL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const level = Number(fromEnv);
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new BuildError('INVALID_ARGUMENT', `BUILDER_GZIP_LEVEL must be an integer 0-9, got "${fromEnv}"`);
    }
    return level;
  }
  return 1;
}

const SAMPLE = 16 * 1024;

/**
 * Deflates one block on the thread pool. Already-compressed data (random bytes, archives, images) is stored
 * instead (level 0): deflating it costs most of the time for no gain. The choice depends only on the bytes, so
 * output stays deterministic.
 */
async function compressBlock(block: Buffer, options: zlib.ZlibOptions): Promise<Buffer | Buffer[]> {
  if ((options.level ?? 1) > 0 && block.length >= SAMPLE * 4) {
    const middle = Math.floor(block.length / 2);
    const sample = Buffer.concat([block.subarray(0, SAMPLE), block.subarray(middle, middle + SAMPLE), block.subarray(block.length - SAMPLE)]);
    const compressed = await deflateRaw(sample, { level: 1, chunkSize: outputRoom(sample.length) });
    if (compressed.length > sample.length * 0.97) return storedPieces(block, options.finishFlush === zlib.constants.Z_FINISH);
  }
  return deflateRaw(block, { ...options, chunkSize: outputRoom(block.length) });
}

/**
 * Output buffer for one deflate call: the whole block's output fits in one, so the block costs one trip back from
 * the thread pool and no concat (zlib's default 16 KiB chunks cost ~20 of each per 1 MiB of text). The bytes do
 * not depend on the output buffer's size.
 */
function outputRoom(inputBytes: number): number {
  return Math.max(64 * 1024, inputBytes + (inputBytes >> 4) + 64 * 1024);
}

const STORED_MAX = 0xffff;

/**
 * Deflate "stored" blocks (RFC 1951 3.2.4) written directly: zlib's level 0 copies through its window at a few
 * hundred MB/s, this is a memcpy. The previous block ended byte-aligned (sync flush), as stored blocks need.
 */
export function storedBlocks(data: Buffer, final: boolean): Buffer {
  return Buffer.concat(storedPieces(data, final));
}

/**
 * {@link storedBlocks} as pieces to write one after another: each 5-byte header, then that block's slice of `data`
 * (no copy of the data: an incompressible MiB is written from the block it was read into).
 */
export function storedPieces(data: Buffer, final: boolean): Buffer[] {
  const count = Math.max(1, Math.ceil(data.length / STORED_MAX));
  const headers = Buffer.allocUnsafe(count * 5);
  const pieces: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const chunk = data.subarray(index * STORED_MAX, (index + 1) * STORED_MAX);
    const at = index * 5;
    headers[at] = final && index === count - 1 ? 1 : 0;
    headers.writeUInt16LE(chunk.length, at + 1);
    headers.writeUInt16LE(~chunk.length & 0xffff, at + 3);
    pieces.push(headers.subarray(at, at + 5));
    if (chunk.length > 0) pieces.push(chunk);
  }
  return pieces;
}

export interface BlobDigests {
  diffId: string;
  digest: string;
  size: number;
}

export class GzipBlobWriter {
  private readonly tarHash = createHash('sha256');
  private readonly blobHash = createHash('sha256');
  /** The block being filled: tar bytes are copied (or read from a file) into it; a full one is compressed as it is. */
  private block: Buffer = Buffer.allocUnsafe(BLOCK_SIZE);
  private fill = 0;
  private crc = 0;
  private inputBytes = 0;
  private written = 0;
  private dictionary: Buffer | undefined;
  /** Blocks being compressed, oldest first; `own` is a block of this writer's, reused once compressed. */
  private readonly inFlight: Array<{ compressed: Promise<Buffer | Buffer[]>; own?: Buffer }> = [];
  /** Filled blocks whose compression is done: the next blocks are read into them (no 1 MiB allocation per block). */
  private readonly spare: Buffer[] = [];
  private readonly maxInFlight = Math.max(2, availableParallelism() + 1);

  /** `hashTar: false` when the caller hashes the tar itself (SpooledWriter): `finish()` then reports no diffId. */
  constructor(private readonly handle: FileHandle, private readonly level: number, private readonly hashTar = true) {}

  /**
   * Appends tar bytes. A whole block's worth arriving at a block boundary is compressed in place (the buffer is then
   * retained until it is, so callers must not reuse it); the rest is copied into the block being filled.
   */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (this.hashTar) this.tarHash.update(chunk);
    let at = 0;
    while (at < chunk.length) {
      if (this.fill === 0 && chunk.length - at >= BLOCK_SIZE) {
        await this.startBlock(chunk.subarray(at, at + BLOCK_SIZE), zlib.constants.Z_SYNC_FLUSH);
        at += BLOCK_SIZE;
        continue;
      }
      const copied = chunk.copy(this.block, this.fill, at, Math.min(chunk.length, at + BLOCK_SIZE - this.fill));
      this.fill += copied;
      at += copied;
      if (this.fill === BLOCK_SIZE) await this.startFilledBlock();
    }
  }

  /**
   * Appends `length` bytes of a file read from `position` of `handle` straight into the blocks (no buffer of their
   * own, no copy: a 300 MB layer's big files allocated 300 MB of read buffers and copied them again into blocks,
   * garbage that made a warm daemon's heap run a mark-compact every few MB). Returns the bytes read (fewer at EOF).
   * The same bytes as `write` of the file's content: the blocks are cut at the same offsets of the tar.
   */
  async writeFrom(handle: FileHandle, position: number, length: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, BLOCK_SIZE - this.fill);
      const { bytesRead } = await handle.read(this.block, this.fill, want, position + done);
      if (bytesRead === 0) break;
      if (this.hashTar) this.tarHash.update(this.block.subarray(this.fill, this.fill + bytesRead));
      this.fill += bytesRead;
      done += bytesRead;
      if (this.fill === BLOCK_SIZE) await this.startFilledBlock();
    }
    return done;
  }

  private async startFilledBlock(): Promise<void> {
    const full = this.block;
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(BLOCK_SIZE);
    this.fill = 0;
    await this.startBlock(full, zlib.constants.Z_SYNC_FLUSH, full);
  }

  private async startBlock(block: Buffer, flush: number, own?: Buffer): Promise<void> {
    this.crc = zlib.crc32(block, this.crc);
    this.inputBytes += block.length;
    const options: zlib.ZlibOptions = { level: this.level, finishFlush: flush };
    if (this.dictionary && this.level > 0) options.dictionary = this.dictionary;
    // A copy when the block will be reused: the next block's deflate may start only after its sample (an await).
    const tail = block.length >= DICTIONARY_SIZE ? block.subarray(block.length - DICTIONARY_SIZE) : undefined;
    this.dictionary = tail && own ? Buffer.from(tail) : tail;
    this.inFlight.push({ compressed: compressBlock(block, options), own });
    while (this.inFlight.length >= this.maxInFlight) await this.flushOldest();
  }

  private async flushOldest(): Promise<void> {
    const { compressed, own } = this.inFlight.shift()!;
    await this.output(await compressed);
    // Its deflate is done with it and a stored block's slices are written; the dictionary taken from it is a copy.
    if (own && this.spare.length < this.maxInFlight) this.spare.push(own);
  }

  private async output(data: Buffer | Buffer[]): Promise<void> {
    // The header goes out with the first compressed bytes, whenever those are ready.
    const pieces = Buffer.isBuffer(data) ? [data] : data;
    if (this.written === 0) pieces.unshift(GZIP_HEADER);
    for (const piece of pieces) {
      this.blobHash.update(piece);
      this.written += piece.length;
    }
    if (pieces.length === 1) {
      const bytes = pieces[0]!;
      for (let offset = 0; offset < bytes.length;) offset += (await this.handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
      return;
    }
    let left = pieces;
    while (left.length > 0) {
      let { bytesWritten } = await this.handle.writev(left);
      // A short write: drop what went out, go on from the middle of the piece it stopped in.
      let index = 0;
      while (index < left.length && bytesWritten >= left[index]!.length) bytesWritten -= left[index++]!.length;
      left = left.slice(index);
      if (left.length > 0 && bytesWritten > 0) left[0] = left[0]!.subarray(bytesWritten);
    }
  }

  /** Writes the last block and the gzip trailer; returns the digests. The handle stays open. */
  async finish(): Promise<BlobDigests> {
    const rest = this.block.subarray(0, this.fill);
    this.fill = 0;
    await this.startBlock(rest, zlib.constants.Z_FINISH);
    while (this.inFlight.length > 0) await this.flushOldest();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.inputBytes % 2 ** 32, 4);
    await this.output(trailer);
    return {
      diffId: this.hashTar ? 'sha256:' + this.tarHash.digest('hex') : '',
      digest: 'sha256:' + this.blobHash.digest('hex'),
      size: this.written,
    };
  }
}
