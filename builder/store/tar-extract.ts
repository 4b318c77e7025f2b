import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BuildError } from '../errors.js';
import { cleanEntryPath } from '../layer/safe-path.js';

/** A regular file of an extracted archive: where its bytes are now and their sha256. */
export interface ExtractedFile {
  /** Path on disk (a flat name inside the extraction directory). */
  file: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  size: number;
}

const MAX_LINK_DEPTH = 16;

function invalid(message: string, cause?: unknown): BuildError {
  return new BuildError('ARCHIVE_INVALID', `load: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Normalises an archive path (`./a//b` → `a/b`) with the one tar path guard (layer/safe-path.ts); undefined for the
 * root and for paths that leave the archive (a loader skips them).
 */
export function archivePath(name: string): string | undefined {
  try {
    return cleanEntryPath(name) || undefined;
  } catch {
    return undefined;
  }
}

import { isGzipFile } from '../layer/compression-magic.js';

/** Re-exported for the archive loader. */
export { isGzipFile };

/** sha256 of a readable's bytes, streamed. */
export async function digestOf(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Streams a (possibly gzip-compressed) tar into `destDir` as flat numbered files, hashing each on the way.
 * Returns archive path → file; symlinks and hard links inside the archive resolve to their target's file.
 */
export async function extractArchive(archive: string, destDir: string): Promise<Map<string, ExtractedFile>> {
  const files = new Map<string, ExtractedFile>();
  const links = new Map<string, string>();
  const extract = tar.extract();
  const gzipped = await isGzipFile(archive).catch((err: unknown) => {
    throw invalid(`cannot open ${archive}: ${(err as Error).message}`, err);
  });
  const source: Readable[] = [createReadStream(archive)];
  if (gzipped) source.push(createGunzip());
  const feeding = pipeline([...source, extract] as unknown as [Readable, NodeJS.WritableStream]);
  feeding.catch(() => undefined); // reported through the iterator below as well
  let count = 0;
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const name = archivePath(header.name);
      if (name !== undefined && (header.type === 'file' || header.type === 'contiguous-file')) {
        const file = join(destDir, String(count++));
        const hash = createHash('sha256');
        let size = 0;
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(entry as unknown as Readable, hashing, createWriteStream(file));
        files.set(name, { file, digest: `sha256:${hash.digest('hex')}`, size });
        continue;
      }
      if (name !== undefined && header.linkname && (header.type === 'symlink' || header.type === 'link')) {
        // Symlink targets are relative to the link's directory; hard link targets to the archive root.
        const target = header.type === 'symlink' ? posix.join(posix.dirname(name), header.linkname) : header.linkname;
        const resolved = archivePath(target);
        if (resolved !== undefined) links.set(name, resolved);
      }
      entry.resume();
    }
    await feeding;
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw invalid(`${archive} is not a readable tar archive (truncated or corrupt?): ${(err as Error).message}`, err);
  }
  for (const [name, target] of links) {
    let current = target;
    for (let depth = 0; depth < MAX_LINK_DEPTH && !files.has(current) && links.has(current); depth++) current = links.get(current)!;
    const file = files.get(current);
    if (file) files.set(name, file);
  }
  return files;
}
