/**
 * `--output type=image,compression=zstd|gzip|uncompressed[,compression-level=N][,force-compression=true]`:
 * the image's layers re-encoded at export, as BuildKit's exporters do. Layers are built (and cached) as gzip;
 * the requested encoding is made from that blob when the manifest is written: the tar is the same bytes
 * (same diffId, checked), only the blob and its media type change. Base-image layers keep their blobs
 * unless `force-compression=true`, as in BuildKit.
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { BuildError, errorMessage } from '../errors.js';
import { compressionOfFile, type Compression } from '../layer/compression-magic.js';
import { defaultGzipLevel, GzipBlobWriter, type BlobDigests } from '../layer/gzip-writer.js';
import { openLayerTar } from '../layer/layer-tar-stream.js';
import { ZstdBlobWriter } from '../layer/zstd.js';
import type { Store } from '../store/store.js';
import { DEFAULT_ZSTD_LEVEL, type LayerCompression, type LayerCompressionType } from './compression-options.js';
import { MEDIA_TYPES, type Layer } from './types.js';

const MEDIA_TYPE: Record<LayerCompressionType, string> = {
  uncompressed: MEDIA_TYPES.ociLayer,
  gzip: MEDIA_TYPES.ociLayerGzip,
  zstd: MEDIA_TYPES.ociLayerZstd,
};
const SNIFFED: Record<LayerCompressionType, Compression> = { uncompressed: 'none', gzip: 'gzip', zstd: 'zstd' };

/** A tar written as it is: an uncompressed layer, whose digest is its diffId. */
class PlainBlobWriter {
  private readonly hash = createHash('sha256');
  private written = 0;
  constructor(private readonly handle: FileHandle) {}
  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.written += chunk.length;
    let offset = 0;
    while (offset < chunk.length) offset += (await this.handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
  }
  async finish(): Promise<BlobDigests> {
    const digest = 'sha256:' + this.hash.digest('hex');
    return { diffId: digest, digest, size: this.written };
  }
}

function writerFor(handle: FileHandle, compression: LayerCompression): PlainBlobWriter | GzipBlobWriter | ZstdBlobWriter {
  if (compression.type === 'zstd') return new ZstdBlobWriter(handle, compression.level ?? DEFAULT_ZSTD_LEVEL);
  if (compression.type === 'gzip') return new GzipBlobWriter(handle, compression.level ?? defaultGzipLevel());
  return new PlainBlobWriter(handle);
}

/** Re-encodes one layer's blob into the store; the tar inside must hash to the layer's diffId. */
async function convertLayer(store: Store, layer: Layer, compression: LayerCompression): Promise<Layer> {
  const source = await openLayerTar(store.blobPath(layer.digest));
  const temp = store.tempPath('layer');
  const handle = await open(temp, 'w', 0o644).catch((err: unknown) => {
    source.close();
    throw err;
  });
  let writer: ReturnType<typeof writerFor> | undefined;
  try {
    writer = writerFor(handle, compression);
    for await (const chunk of source.tar) await writer.write(chunk as Buffer);
    const digests: BlobDigests = await writer.finish();
    if (digests.diffId !== layer.diffId) {
      throw new BuildError('LAYER_INVALID', `layer ${layer.digest} unpacks to ${digests.diffId}, but the image says its diffId is ${layer.diffId}`);
    }
    await handle.close();
    await store.importBlobFile(temp, digests.digest);
    return { digest: digests.digest, diffId: layer.diffId, size: digests.size, mediaType: MEDIA_TYPE[compression.type] };
  } catch (err) {
    if (writer instanceof ZstdBlobWriter) writer.abort();
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    if (err instanceof BuildError) throw err;
    throw new BuildError('INTERNAL', `re-compressing layer ${layer.digest} as ${compression.type} failed: ${errorMessage(err)}`, { cause: err });
  } finally {
    source.close();
  }
}

/** Whether a layer's blob already is what was asked for (no explicit level: any level will do). */
async function alreadyEncoded(store: Store, layer: Layer, compression: LayerCompression): Promise<boolean> {
  return compression.level === undefined && (await compressionOfFile(store.blobPath(layer.digest))) === SNIFFED[compression.type];
}

/**
 * The layers an image is written with under `compression`: the first `baseLayers` (the base image's) are kept
 * unless forced, the others re-encoded unless they already are. `ensureBlob` brings a blob that a cache hit
 * left in a registry into the store first. Same input, same level, same zstd version: same digests.
 */
export async function compressLayers(
  store: Store, layers: Layer[], compression: LayerCompression, baseLayers: number, ensureBlob: (layer: Layer) => Promise<void>,
): Promise<Layer[]> {
  const out: Layer[] = [];
  for (const [index, layer] of layers.entries()) {
    if (index < baseLayers && !compression.force) {
      out.push(layer);
      continue;
    }
    await ensureBlob(layer);
    if (await alreadyEncoded(store, layer, compression)) out.push({ ...layer, mediaType: MEDIA_TYPE[compression.type] });
    else out.push(await convertLayer(store, layer, compression));
  }
  return out;
}
