import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { digestOf } from './tar-extract.js';

/** A Transform that hashes what passes through it. */
function hashing(): { stream: Transform; result: () => { digest: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest('hex')}`, size }) };
}

/** Gzips an uncompressed layer tar into `outFile`, streaming; returns the blob digest/size and the diffId. */
export async function gzipLayer(tarFile: string, outFile: string): Promise<{ digest: string; size: number; diffId: string }> {
  const before = hashing();
  const after = hashing();
  await pipeline(createReadStream(tarFile), before.stream, createGzip(), after.stream, createWriteStream(outFile));
  const compressed = after.result();
  return { digest: compressed.digest, size: compressed.size, diffId: before.result().digest };
}

/** diffId (sha256 of the uncompressed tar) of a gzip layer, streaming. */
export async function gunzipDigest(gzFile: string): Promise<string> {
  const gunzip = createGunzip();
  const [uncompressed] = await Promise.all([digestOf(gunzip), pipeline(createReadStream(gzFile), gunzip)]);
  return uncompressed.digest;
}
