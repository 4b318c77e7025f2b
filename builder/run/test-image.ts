import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { writeImage } from '../image/manifest.js';
import { MEDIA_TYPES, type ContainerConfig, type Layer } from '../image/types.js';
import type { Store } from '../store/store.js';

/** Test-only: tags `name` in `store` as a one-layer busybox-static image with the given config. */
export async function makeBusyboxImage(store: Store, name: string, config: ContainerConfig, etc: Record<string, string> = {}): Promise<void> {
  const pack = tar.pack();
  const header = { mtime: new Date(0), uid: 0, gid: 0 };
  pack.entry({ ...header, name: 'bin/', type: 'directory', mode: 0o755 });
  pack.entry({ ...header, name: 'bin/busybox', mode: 0o755 }, readFileSync('/bin/busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets) pack.entry({ ...header, name: `bin/${applet}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
  if (Object.keys(etc).length > 0) pack.entry({ ...header, name: 'etc/', type: 'directory', mode: 0o755 });
  for (const [file, content] of Object.entries(etc)) pack.entry({ ...header, name: `etc/${file}`, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tarBytes = Buffer.concat(chunks);
  const blob = await store.writeBlob(gzipSync(tarBytes));
  const layer: Layer = { ...blob, diffId: `sha256:${createHash('sha256').update(tarBytes).digest('hex')}`, mediaType: MEDIA_TYPES.ociLayerGzip };
  const manifest = await writeImage(store, {
    created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', config,
    rootfs: { type: 'layers', diff_ids: [layer.diffId] }, history: [{ created_by: 'test' }],
  }, [layer]);
  await store.tag(name, manifest);
}
