/** Test-only helpers: real layer tars and images in a temp store. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { writeImage } from '../image/manifest.js';
import { MEDIA_TYPES, type Descriptor, type ImageConfig, type Layer } from '../image/types.js';
import { Store } from './store.js';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** An uncompressed tar holding `files` (path → content). */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) {
    pack.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A gzip layer in the store built from `files`. */
export async function makeLayer(store: Store, files: Record<string, string>): Promise<{ layer: Layer; tar: Buffer }> {
  const tarBytes = await makeTar(files);
  const blob = await store.writeBlob(gzipSync(tarBytes));
  return { layer: { ...blob, diffId: sha256(tarBytes), mediaType: MEDIA_TYPES.ociLayerGzip }, tar: tarBytes };
}

export function configFor(layers: Layer[], cmd: string[] = ['/bin/sh']): ImageConfig {
  return {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created_by: 'test' })),
  };
}

/** Writes a two-layer image (second layer content varies with `seed`) and returns its manifest descriptor. */
export async function makeImage(store: Store, seed = 'a'): Promise<{ manifest: Descriptor; layers: Layer[] }> {
  const base = await makeLayer(store, { 'etc/os-release': 'ID=test\n' });
  const top = await makeLayer(store, { [`app/${seed}.txt`]: `hello ${seed}\n` });
  const layers = [base.layer, top.layer];
  return { manifest: await writeImage(store, configFor(layers, ['echo', seed]), layers), layers };
}

/** A fresh store in a temp dir (path has no ':' so oci: references work); call cleanup() after. */
export async function tempStore(): Promise<{ store: Store; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'builder-store-'));
  const store = await Store.open(join(dir, 'root'));
  return { store, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
