/** Layer blob (gzip, zstd or plain tar) → snapshot directory with overlay whiteouts. */
import { readdir } from 'node:fs/promises';
import { BuildError, errorMessage } from '../errors.js';
import { extractTarStream } from './extract-tar.js';
import { openLayerTar } from './layer-tar-stream.js';

export { extractTarStream, type ExtractTarOptions } from './extract-tar.js';

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
  const { tar, close } = await openLayerTar(blobPath);
  try {
    return await extractTarStream(tar, targetDir, { whiteouts: 'overlay' });
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('LAYER_INVALID', `layer ${blobPath} could not be read: ${errorMessage(err)}`, { cause: err });
  } finally {
    close();
  }
}
