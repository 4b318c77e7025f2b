/** Layer blob (gzip or plain tar) → snapshot directory with overlay whiteouts. */
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isGzipMagic } from './compression-magic.js';
import { BuildError, errorMessage } from '../errors.js';
import { extractTarStream } from './extract-tar.js';

export { extractTarStream, type ExtractTarOptions } from './extract-tar.js';

async function magic(blobPath: string): Promise<Buffer> {
  const handle = await open(blobPath, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Extracts a layer from `blobPath` into `targetDir` (must exist and be empty), converting OCI whiteouts to overlay
 * whiteouts and restoring owners, modes, mtimes, links, xattrs and fifos. Returns the sha256 of the uncompressed
 * tar so the caller can verify it against the expected diffId. Unsafe entries throw BuildError('LAYER_INVALID').
 */
export async function extractLayer(blobPath: string, targetDir: string): Promise<{ diffId: string }> {
  let entries: string[];
  try {
    entries = await readdir(targetDir);
  } catch (err) {
    throw new BuildError('INTERNAL', `cannot extract a layer into ${targetDir}: ${errorMessage(err)}`, { cause: err });
  }
  if (entries.length > 0) throw new BuildError('INTERNAL', `cannot extract a layer into ${targetDir}: the directory is not empty`);
  const head = await magic(blobPath);
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw new BuildError('LAYER_INVALID', `layer ${blobPath} is zstd-compressed, which is not supported; rebuild the base image with gzip layers`);
  }
  const file = createReadStream(blobPath, { highWaterMark: 256 * 1024 });
  let input: Readable = file;
  if (isGzipMagic(head)) {
    const gunzip = createGunzip({ chunkSize: 128 * 1024 });
    file.on('error', (err) => gunzip.destroy(err));
    input = file.pipe(gunzip);
  }
  try {
    return await extractTarStream(input, targetDir, { whiteouts: 'overlay' });
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('LAYER_INVALID', `layer ${blobPath} could not be read: ${errorMessage(err)}`, { cause: err });
  } finally {
    file.destroy();
    input.destroy();
  }
}
