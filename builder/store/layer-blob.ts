import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { defaultGzipLevel, GzipBlobWriter } from '../layer/gzip-writer.js';
import { digestOf } from './tar-extract.js';

/**
 * Gzips an uncompressed layer tar into `outFile` with the same writer as built layers (parallel blocks,
 * deterministic header), streaming; returns the blob digest/size and the diffId.
 */
export async function gzipLayer(tarFile: string, outFile: string): Promise<{ digest: string; size: number; diffId: string }> {
  const handle = await open(outFile, 'w');
  try {
    const writer = new GzipBlobWriter(handle, defaultGzipLevel());
    for await (const chunk of createReadStream(tarFile, { highWaterMark: 1 << 20 })) await writer.write(chunk as Buffer);
    return await writer.finish();
  } finally {
    await handle.close();
  }
}

/** diffId (sha256 of the uncompressed tar) of a gzip layer, streaming. */
export async function gunzipDigest(gzFile: string): Promise<string> {
  const gunzip = createGunzip();
  const [uncompressed] = await Promise.all([digestOf(gunzip), pipeline(createReadStream(gzFile), gunzip)]);
  return uncompressed.digest;
}
