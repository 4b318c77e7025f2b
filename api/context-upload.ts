/**
 * An uploaded build context: checked entry by entry before it is queued (no `..` escapes, no device
 * nodes, bounded unpacked size), then stored in Redis under its sha256 for any worker to fetch.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isGzipMagic } from '../builder/layer/compression-magic.js';
import { BuildError, errorMessage } from '../builder/errors.js';
import { cleanEntryPath } from '../builder/layer/safe-path.js';
import { readTar } from '../builder/layer/tar-reader.js';
import type { ContextSource } from '../builder/request.js';
import type { BuildRecords } from '../worker/build-records.js';

/** A 413 that says which limit was hit. */
export class PayloadTooLarge extends Error {
  readonly statusCode = 413;
  constructor(message: string) {
    super(message);
    this.name = 'PayloadTooLarge';
  }
}

export function isGzip(data: Buffer): boolean {
  return isGzipMagic(data);
}

/** Walks the archive without writing anything; throws ARCHIVE_INVALID naming the bad entry. */
export async function checkContextTar(data: Buffer, maxUnpackedBytes: number): Promise<{ gzip: boolean; entries: number }> {
  const gzip = isGzip(data);
  const input = gzip ? Readable.from([data]).pipe(createGunzip()) : Readable.from([data]);
  let unpacked = 0;
  let entries = 0;
  try {
    for await (const entry of readTar(input).entries) {
      entries++;
      const { header } = entry;
      cleanEntryPath(header.name);
      if (header.type === 'link') cleanEntryPath(header.linkname, 'hardlink target');
      if (header.type === 'char' || header.type === 'block') {
        throw new BuildError('ARCHIVE_INVALID', `build context entry "${header.name}" is a device node; contexts hold files, directories and links only`);
      }
      unpacked += header.size;
      if (unpacked > maxUnpackedBytes) {
        throw new PayloadTooLarge(`build context unpacks to more than ${maxUnpackedBytes} bytes (limit: [api] max_unpacked_bytes); add large files to .dockerignore`);
      }
      for await (const chunk of entry.body()) void chunk;
    }
  } catch (err) {
    if (err instanceof PayloadTooLarge) throw err;
    if (err instanceof BuildError && err.code === 'ARCHIVE_INVALID') throw err;
    throw new BuildError('ARCHIVE_INVALID', `the build context is not a valid ${gzip ? 'gzip-compressed ' : ''}tar archive: ${errorMessage(err)}`, { cause: err });
  }
  if (entries === 0) throw new BuildError('ARCHIVE_INVALID', 'the build context tar is empty: send a tar of the context directory (with its Dockerfile)');
  return { gzip, entries };
}

/** Checks and stores the context; same bytes → same key, so a retried upload costs nothing extra. */
export async function storeContext(
  records: BuildRecords, data: Buffer, limits: { maxUnpackedBytes: number; ttlSeconds: number },
): Promise<Extract<ContextSource, { kind: 'upload' }>> {
  const { gzip } = await checkContextTar(data, limits.maxUnpackedBytes);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  await records.putContext(digest, data, limits.ttlSeconds);
  return { kind: 'upload', digest, size: data.length, gzip };
}
