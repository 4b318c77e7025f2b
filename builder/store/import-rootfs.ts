/**
 * `docker import` (POST /images/create?fromSrc=-): a tarball of a root filesystem becomes a one-layer image, as
 * moby's daemon/images ImportImage: the tar (plain, gzip, zstd, bzip2 or xz) is the layer, the config is empty but
 * for `--change`s, and its one history entry says where it came from ("Imported from -"). The tar is read through
 * once before anything is stored, so a file that is not a tar is refused and leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BuildError, errorMessage } from '../errors.js';
import { createdAt } from '../exec/config.js';
import { applyConfigChanges } from '../image/config-changes.js';
import { writeImage } from '../image/manifest.js';
import { MEDIA_TYPES, type ImageConfig, type Layer } from '../image/types.js';
import { sniffCompression } from '../layer/compression-magic.js';
import { zstdDecompress } from '../layer/zstd.js';
import { hostGoArch } from './image-lookup.js';
import { gzipLayer } from './layer-blob.js';
import type { Store } from './store.js';

export interface ImportOptions {
  /** `repo[:tag]`; untagged when absent. */
  reference?: string;
  /** The history comment; default "Imported from -". */
  message?: string;
  changes?: string[];
  /** `os/arch[/variant]`; default this machine's. */
  platform?: string;
}

/** The tar bytes of `file`, whatever it is compressed with (docker import's list: gzip, bzip2, xz, zstd). */
async function openTar(file: string): Promise<Readable> {
  const handle = await open(file, 'r');
  const head = Buffer.alloc(6);
  const { bytesRead } = await handle.read(head, 0, 6, 0).finally(() => handle.close());
  const magic = head.subarray(0, bytesRead);
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const compression = sniffCompression(magic);
  if (compression === 'gzip') return source.pipe(createGunzip());
  if (compression === 'zstd') return zstdDecompress(source);
  const tool = magic.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2' : magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? 'xz' : undefined;
  if (!tool) return source;
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  source.pipe(child.stdin);
  child.on('error', (err) => child.stdout.destroy(new BuildError('INVALID_ARGUMENT', `cannot decompress the archive: ${tool}: ${err.message}`)));
  return child.stdout;
}

/** Copies the tar to `out` while checking that it is one (every header parses, the end is reached). */
async function checkedTar(input: Readable, out: string): Promise<void> {
  const check = tar.extract();
  check.on('entry', (_header, stream, next) => { stream.on('end', () => next()); stream.resume(); });
  const done = new Promise<void>((resolve, reject) => { check.on('finish', () => resolve()); check.on('error', reject); });
  const write = createWriteStream(out, { mode: 0o600 });
  input.on('data', (chunk: Buffer) => { check.write(chunk); });
  input.on('end', () => check.end(Buffer.alloc(0)));
  try {
    await Promise.all([pipeline(input, write), done]);
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `the imported file is not a tar archive of a root filesystem: ${errorMessage(err)}`);
  }
}

/** Imports `archive` (a file the caller owns and removes); resolves the image's config digest (docker's id). */
export async function importRootfs(store: Store, archive: string, options: ImportOptions = {}): Promise<{ Id: string }> {
  const [os = 'linux', architecture = hostGoArch(), variant] = (options.platform ?? '').split('/').map((part) => part || undefined);
  const tarFile = store.tempPath('import-tar');
  const blob = store.tempPath('import-layer');
  try {
    await checkedTar(await openTar(archive), tarFile);
    const gz = await gzipLayer(tarFile, blob);
    await store.importBlobFile(blob, gz.digest);
    const layer: Layer = { digest: gz.digest, diffId: gz.diffId, size: gz.size, mediaType: MEDIA_TYPES.ociLayerGzip };
    const created = createdAt();
    const config: ImageConfig = {
      created, architecture, os, ...(variant ? { variant } : {}),
      config: applyConfigChanges({}, options.changes ?? []),
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, comment: options.message || 'Imported from -' }],
    };
    const descriptor = await writeImage(store, config, [layer]);
    await (options.reference ? store.tag(options.reference, descriptor) : store.keepUntagged(descriptor));
    return { Id: (await store.readJson<{ config: { digest: string } }>(descriptor.digest)).config.digest };
  } finally {
    await rm(tarFile, { force: true });
    await rm(blob, { force: true });
  }
}
