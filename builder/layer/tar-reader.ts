/** Streaming tar reader: yields entries with their body as chunks, hashing every byte of the archive as it passes. */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.js';
import { BLOCK, ENTRY_TYPES, decodePax, decodeRawHeader, isZeroBlock, paddingFor, type TarHeader } from './tar-format.js';

/** One entry; `body()` must be consumed (or `skip()` called) before asking for the next entry. */
export interface TarEntry {
  header: TarHeader;
  body(): AsyncGenerator<Buffer>;
}

/** Pulls exact byte counts out of a chunked stream without copying more than needed. */
class ByteSource {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly iterator: AsyncIterator<Buffer>;
  private done = false;
  readonly hash: Hash = createHash('sha256');

  constructor(input: Readable) {
    this.iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    this.hash.update(chunk);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    return true;
  }

  /** Up to `max` bytes (at least 1), or null at end of stream. */
  async readSome(max: number): Promise<Buffer | null> {
    while (this.buffered === 0) if (!(await this.fill())) return null;
    const head = this.chunks[0]!;
    if (head.length <= max) {
      this.chunks.shift();
      this.buffered -= head.length;
      return head;
    }
    this.chunks[0] = head.subarray(max);
    this.buffered -= max;
    return head.subarray(0, max);
  }

  /** Exactly `size` bytes, or null if the stream ends cleanly first (truncation mid-read throws). */
  async readExact(size: number): Promise<Buffer | null> {
    while (this.buffered < size) {
      if (!(await this.fill())) {
        if (this.buffered === 0) return null;
        throw new BuildError('LAYER_INVALID', 'invalid tar archive: unexpected end of data');
      }
    }
    const parts: Buffer[] = [];
    let needed = size;
    while (needed > 0) {
      const part = (await this.readSome(needed))!;
      parts.push(part);
      needed -= part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async skip(size: number): Promise<void> {
    let left = size;
    while (left > 0) {
      const part = await this.readSome(left);
      if (part === null) throw new BuildError('LAYER_INVALID', 'invalid tar archive: unexpected end of data');
      left -= part.length;
    }
  }

  /**
   * Skips an entry's padding; a stream that ends exactly where the padding should start is accepted as the end of
   * the archive, as Go's archive/tar does (the docker CLI sends `docker build -f -` contexts without the padding
   * and trailer of their last entry).
   */
  async skipPadding(size: number): Promise<void> {
    if (size === 0) return;
    while (this.buffered === 0) if (!(await this.fill())) return;
    await this.skip(size);
  }

  /** Reads (and hashes) whatever follows the end-of-archive marker. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (await this.fill()) this.chunks = [];
    this.buffered = 0;
  }
}

function parseIntField(records: Map<string, Buffer>, key: string, fallback: number): number {
  const value = records.get(key);
  if (value === undefined) return fallback;
  const parsed = Math.floor(Number(value.toString('ascii')));
  if (!Number.isFinite(parsed)) throw new BuildError('LAYER_INVALID', `invalid tar archive: bad PAX ${key} value`);
  return parsed;
}

/**
 * Reads a tar stream entry by entry. `result.digest()` gives `sha256:<hex>` of every byte read from `input`
 * once iteration finished (the uncompressed tar's diffId when `input` is the decompressed layer).
 */
export function readTar(input: Readable): { entries: AsyncGenerator<TarEntry>; digest(): string } {
  const source = new ByteSource(input);
  let finalDigest: string | undefined;

  async function* entries(): AsyncGenerator<TarEntry> {
    let globalPax = new Map<string, Buffer>();
    let localPax: Map<string, Buffer> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await source.readExact(BLOCK);
      if (block === null || isZeroBlock(block)) break;
      const raw = decodeRawHeader(block);
      const padded = raw.size + paddingFor(raw.size);
      if (raw.typeFlag === 'x' || raw.typeFlag === 'g' || raw.typeFlag === 'L' || raw.typeFlag === 'K') {
        if (raw.size > 16 * 1024 * 1024) throw new BuildError('LAYER_INVALID', `invalid tar archive: extended header of ${raw.size} bytes`);
        const data = (await source.readExact(padded)) ?? Buffer.alloc(0);
        const content = data.subarray(0, raw.size);
        if (raw.typeFlag === 'x') localPax = decodePax(content);
        else if (raw.typeFlag === 'g') globalPax = new Map([...globalPax, ...decodePax(content)]);
        else if (raw.typeFlag === 'L') longName = content.toString('utf8').replace(/\0+$/, '');
        else longLink = content.toString('utf8').replace(/\0+$/, '');
        continue;
      }
      const pax = localPax ? new Map([...globalPax, ...localPax]) : globalPax;
      localPax = undefined;
      const type = ENTRY_TYPES[raw.typeFlag];
      const name = pax.get('path')?.toString('utf8') ?? longName ?? raw.name;
      longName = undefined;
      if (type === undefined) {
        throw new BuildError('LAYER_INVALID', `invalid tar archive: entry "${name}" has unsupported type '${raw.typeFlag}'`);
      }
      const xattrs = new Map<string, Buffer>();
      for (const [key, value] of pax) if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
      const size = parseIntField(pax, 'size', raw.size);
      const header: TarHeader = {
        name,
        type,
        mode: raw.mode,
        uid: parseIntField(pax, 'uid', raw.uid),
        gid: parseIntField(pax, 'gid', raw.gid),
        size: type === 'file' ? size : 0,
        mtime: parseIntField(pax, 'mtime', raw.mtime),
        linkname: pax.get('linkpath')?.toString('utf8') ?? longLink ?? raw.linkname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        xattrs,
      };
      longLink = undefined;
      let consumed = false;
      const bodySize = size;
      yield {
        header,
        async *body() {
          consumed = true;
          let left = bodySize;
          while (left > 0) {
            const chunk = await source.readSome(left);
            if (chunk === null) throw new BuildError('LAYER_INVALID', `invalid tar archive: "${name}" is truncated`);
            left -= chunk.length;
            yield chunk;
          }
          await source.skipPadding(paddingFor(bodySize));
        },
      };
      // The consumer skipped the body (or stopped half-way is its own bug): move past it.
      if (!consumed) {
        await source.skip(bodySize);
        await source.skipPadding(paddingFor(bodySize));
      }
    }
    await source.drain();
    finalDigest = 'sha256:' + source.hash.digest('hex');
  }

  return {
    entries: entries(),
    digest() {
      if (finalDigest === undefined) throw new BuildError('INTERNAL', 'tar digest requested before the archive was read');
      return finalDigest;
    },
  };
}
