/**
 * An image's flattened root filesystem, read straight from its layer tars (OCI whiteout rules
 * applied), so builder's and Docker's images are judged by one reader that neither engine wrote.
 * Each path becomes one comparable line: type, mode, owner, size, content digest, link target.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { ContainerConfig, ImageConfig, ImageIndex, ImageManifest } from '../../builder/image/types.js';
import { REF_NAME_ANNOTATION } from '../../builder/image/types.js';

/** An image as files on disk: its config and its layer tars, base first (gzip or plain). */
export interface ImageFiles {
  /** The parts of the image config the comparison reads (a docker-archive config may lack any of them). */
  config: Partial<Pick<ImageConfig, 'author' | 'created'>> & { config?: ContainerConfig };
  layers: string[];
}

/** One inode of the flattened tree; hardlinked paths share the object. */
interface Node {
  kind: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  digest?: string;
  target?: string;
  device?: string;
}

/** Reads a `docker save` archive unpacked into `dir`. */
export async function readDockerArchiveDir(dir: string): Promise<ImageFiles> {
  const [manifest] = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  if (!manifest) throw new Error(`${dir}/manifest.json lists no image`);
  return {
    config: JSON.parse(await readFile(path.join(dir, manifest.Config), 'utf8')) as ImageFiles['config'],
    layers: manifest.Layers.map((layer) => path.join(dir, layer)),
  };
}

/** Reads the image tagged `tag` from an OCI image layout (builder's store keeps one at $BUILDER_ROOT/oci). */
export async function readOciLayout(layout: string, tag: string): Promise<ImageFiles> {
  const blob = (digest: string): string => path.join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as ImageIndex;
  const entry = index.manifests.find((descriptor) => descriptor.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw new Error(`no image tagged ${tag} in ${layout}/index.json`);
  const manifest = JSON.parse(await readFile(blob(entry.digest), 'utf8')) as ImageManifest;
  return {
    config: JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as ImageFiles['config'],
    layers: manifest.layers.map((layer) => blob(layer.digest)),
  };
}

const normalize = (name: string): string => `/${name.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`;

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

type LayerEntry = { name: string; node?: Node; linkTo?: string; whiteout?: 'file' | 'opaque' };

/** Every entry of one layer tar, in order, with file contents reduced to a digest. */
async function readLayer(file: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = normalize(header.name);
    const base = path.posix.basename(name);
    const hash = createHash('sha256');
    stream.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
    stream.on('end', () => {
      const owner = { mode: (header.mode ?? 0) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0, size: 0 };
      if (base === '.wh..wh..opq') entries.push({ name: path.posix.dirname(name), whiteout: 'opaque' });
      else if (base.startsWith('.wh.')) entries.push({ name: path.posix.join(path.posix.dirname(name), base.slice(4)), whiteout: 'file' });
      else if (header.type === 'link') entries.push({ name, linkTo: normalize(header.linkname ?? '') });
      else if (header.type === 'file' || header.type === 'contiguous-file') {
        entries.push({ name, node: { kind: 'file', ...owner, size: header.size ?? 0, digest: hash.digest('hex').slice(0, 16) } });
      } else if (header.type === 'directory') entries.push({ name, node: { kind: 'dir', ...owner } });
      else if (header.type === 'symlink') entries.push({ name, node: { kind: 'symlink', ...owner, mode: 0o777, target: header.linkname ?? '' } });
      else if (header.type === 'character-device' || header.type === 'block-device' || header.type === 'fifo') {
        const kind = header.type === 'fifo' ? 'fifo' : header.type === 'block-device' ? 'block' : 'char';
        entries.push({ name, node: { kind, ...owner, device: `${header.devmajor ?? 0},${header.devminor ?? 0}` } });
      }
      next();
    });
    stream.resume();
  });
  const source = createReadStream(file);
  const input = (await isGzip(file)) ? source.pipe(createGunzip()) : source;
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    source.on('error', reject);
    input.on('error', reject);
    input.pipe(extract);
  });
  return entries;
}

/** Applies the layers in order: whiteouts hide what lower layers had, then the layer's own entries land. */
export async function flattenImage(image: ImageFiles): Promise<Map<string, string>> {
  const tree = new Map<string, Node>();
  const removeUnder = (dir: string, keepSelf: boolean): void => {
    for (const key of [...tree.keys()]) if (key.startsWith(`${dir}/`) || (!keepSelf && key === dir)) tree.delete(key);
  };
  for (const layerFile of image.layers) {
    const entries = await readLayer(layerFile);
    for (const entry of entries) {
      if (entry.whiteout === 'opaque') removeUnder(entry.name, true);
      else if (entry.whiteout === 'file') removeUnder(entry.name, false);
    }
    for (const entry of entries) {
      if (entry.whiteout || entry.name === '/') continue;
      const existing = tree.get(entry.name);
      const node = entry.linkTo !== undefined ? tree.get(entry.linkTo) : entry.node;
      if (!node) throw new Error(`${layerFile}: hardlink ${entry.name} -> ${entry.linkTo} has no target`);
      // A non-directory replacing a directory takes its children with it.
      if (existing?.kind === 'dir' && node.kind !== 'dir') removeUnder(entry.name, false);
      for (let parent = path.posix.dirname(entry.name); parent !== '/' && !tree.has(parent); parent = path.posix.dirname(parent)) {
        tree.set(parent, { kind: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
      }
      tree.set(entry.name, node);
    }
  }
  const linkCounts = new Map<Node, number>();
  for (const node of tree.values()) linkCounts.set(node, (linkCounts.get(node) ?? 0) + 1);
  const lines = new Map<string, string>();
  for (const [name, node] of [...tree.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const owner = `${node.mode.toString(8).padStart(4, '0')} ${node.uid}:${node.gid}`;
    if (node.kind === 'file') lines.set(name, `file ${owner} ${node.size} ${node.digest} nlink=${linkCounts.get(node)}`);
    else if (node.kind === 'symlink') lines.set(name, `symlink ${node.uid}:${node.gid} -> ${node.target}`);
    else if (node.kind === 'dir') lines.set(name, `dir ${owner}`);
    else lines.set(name, `${node.kind} ${owner} ${node.device}`);
  }
  return lines;
}
