/** The uncompressed tar inside a layer blob, whatever it is compressed with (one sniffer: compression-magic.ts). */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { compressionOfFile, type Compression } from './compression-magic.js';
import { zstdDecompress } from './zstd.js';

/** A readable of the tar bytes of `blobPath` (gzip, zstd or a plain tar); destroy it to stop early. */
export async function openLayerTar(blobPath: string): Promise<{ tar: Readable; compression: Compression; close(): void }> {
  const compression = await compressionOfFile(blobPath);
  const file = createReadStream(blobPath, { highWaterMark: 256 * 1024 });
  let tar: Readable = file;
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 128 * 1024 });
    file.on('error', (err) => gunzip.destroy(err));
    tar = file.pipe(gunzip);
  } else if (compression === 'zstd') {
    tar = zstdDecompress(file);
  }
  return { tar, compression, close: () => { file.destroy(); tar.destroy(); } };
}
