/** Reads what the store holds and what refers to what: the input of every GC decision and of `system df`. */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import type { ImageConfig, ImageIndex, ImageManifest } from '../image/types.js';
import { isIndexMediaType } from './image-lookup.js';
import { canonicalTagOf, readIndex, refNameOf } from './oci-index.js';
import type { Store } from './store.js';

const HEX = /^[0-9a-f]{64}$/;

/** One step cache record (`cache/<key>.json`). */
export interface RecordInfo {
  /** The cache key, `sha256:<hex>`. */
  key: string;
  file: string;
  /** Last cache hit (the record file's mtime, touched on every hit), ms since the epoch. */
  lastUsedMs: number;
  size: number;
  createdBy: string;
  /** The layer blob and snapshot the record stands for; absent for metadata-only steps. */
  layer?: { digest: string; diffId: string };
  /** False when the file is not a readable record: it is always removed. */
  valid: boolean;
}

/** A file under `oci/blobs/sha256/`. */
export interface BlobInfo {
  digest: string;
  size: number;
  /** Latest of mtime and ctime: a rename into place updates ctime, so this is when it arrived. */
  changedMs: number;
}

/** A directory under `snapshots/`. */
export interface SnapshotInfo {
  diffId: string;
  hex: string;
  path: string;
  /** Latest of mtime and ctime (an adopted upperdir keeps an old mtime, but the rename sets ctime). */
  changedMs: number;
}

/** A plain file beside the records (step traces, leftover temp files), removed by age. */
export interface LooseFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Everything one tagged image (or a kept container's image) needs. */
export interface ImageRefs {
  manifestDigest: string;
  /** Tags naming it (empty for a container's untagged image). */
  names: string[];
  blobs: Set<string>;
  diffIds: Set<string>;
}

export interface StoreScan {
  records: RecordInfo[];
  blobs: Map<string, BlobInfo>;
  snapshots: Map<string, SnapshotInfo>;
  /** Tagged images; their blobs and snapshots are never removed. */
  images: ImageRefs[];
  /** Images of kept containers (`builder run` without --rm). */
  containerImages: ImageRefs[];
  containerCount: number;
  /** Snapshot directories that are lowerdirs of a live overlay mount right now. */
  mountedSnapshots: Set<string>;
  /** Step traces and abandoned record temp files under `cache/`. */
  looseFiles: LooseFile[];
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function statOrUndefined(path: string) {
  return stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

async function scanRecords(cacheDir: string): Promise<{ records: RecordInfo[]; looseFiles: LooseFile[] }> {
  const records: RecordInfo[] = [];
  const looseFiles: LooseFile[] = [];
  for (const name of await listDir(cacheDir)) {
    const file = join(cacheDir, name);
    const info = await statOrUndefined(file);
    if (!info) continue;
    if (info.isDirectory()) {
      for (const inner of await listDir(file)) {
        const innerInfo = await statOrUndefined(join(file, inner));
        if (innerInfo?.isFile()) looseFiles.push({ path: join(file, inner), size: innerInfo.size, mtimeMs: innerInfo.mtimeMs });
      }
      continue;
    }
    const match = /^([0-9a-f]{64})\.json$/.exec(name);
    if (!match) {
      looseFiles.push({ path: file, size: info.size, mtimeMs: info.mtimeMs });
      continue;
    }
    const record: RecordInfo = { key: `sha256:${match[1]}`, file, lastUsedMs: info.mtimeMs, size: info.size, createdBy: '', valid: false };
    try {
      const entry = JSON.parse(await readFile(file, 'utf8')) as { createdBy?: unknown; layer?: { digest?: unknown; diffId?: unknown } };
      record.createdBy = typeof entry.createdBy === 'string' ? entry.createdBy : '';
      const layer = entry.layer;
      if (layer === undefined) record.valid = true;
      else if (typeof layer.digest === 'string' && typeof layer.diffId === 'string') {
        record.layer = { digest: layer.digest, diffId: layer.diffId };
        record.valid = true;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
    }
    records.push(record);
  }
  return { records, looseFiles };
}

async function scanBlobs(store: Store): Promise<Map<string, BlobInfo>> {
  const dir = join(store.ociDir, 'blobs', 'sha256');
  const blobs = new Map<string, BlobInfo>();
  for (const name of await listDir(dir)) {
    if (!HEX.test(name)) continue; // not a blob (a stray temp file is tmp/'s business)
    const info = await statOrUndefined(join(dir, name));
    if (info?.isFile()) blobs.set(`sha256:${name}`, { digest: `sha256:${name}`, size: info.size, changedMs: Math.max(info.mtimeMs, info.ctimeMs) });
  }
  return blobs;
}

async function scanSnapshots(store: Store): Promise<Map<string, SnapshotInfo>> {
  const snapshots = new Map<string, SnapshotInfo>();
  for (const hex of await listDir(store.snapshotsDir)) {
    if (!HEX.test(hex)) continue;
    const path = join(store.snapshotsDir, hex);
    const info = await statOrUndefined(path);
    if (info?.isDirectory()) snapshots.set(`sha256:${hex}`, { diffId: `sha256:${hex}`, hex, path, changedMs: Math.max(info.mtimeMs, info.ctimeMs) });
  }
  return snapshots;
}

async function readJsonBlob<T>(store: Store, digest: string, what: string): Promise<T> {
  try {
    return await store.readJson<T>(digest);
  } catch (err) {
    throw new BuildError('STORE_CORRUPT', `cannot read ${what} (${digest}): ${errorMessage(err)}; remove that image with \`builder rmi\` before pruning`, { cause: err });
  }
}

/** Adds the manifest at `digest` (following an index into every child) with its config and layers to `refs`. */
async function collectImage(store: Store, digest: string, mediaType: string | undefined, refs: ImageRefs, what: string, depth = 0): Promise<void> {
  if (refs.blobs.has(digest)) return;
  refs.blobs.add(digest);
  const document = await readJsonBlob<ImageManifest | ImageIndex>(store, digest, what);
  if ('manifests' in document && Array.isArray(document.manifests)) {
    if (depth > 2) throw new BuildError('STORE_CORRUPT', `image index ${digest} (${what}) nests too deeply`);
    for (const child of document.manifests) await collectImage(store, child.digest, child.mediaType, refs, what, depth + 1);
    return;
  }
  if (isIndexMediaType(mediaType)) throw new BuildError('STORE_CORRUPT', `${what}: ${digest} should be an image index but is not`);
  const manifest = document as ImageManifest;
  if (!manifest.config) throw new BuildError('STORE_CORRUPT', `${what}: blob ${digest} is not an image manifest`);
  refs.blobs.add(manifest.config.digest);
  for (const layer of manifest.layers ?? []) refs.blobs.add(layer.digest);
  const config = await readJsonBlob<ImageConfig>(store, manifest.config.digest, `the config of ${what}`);
  for (const diffId of config.rootfs?.diff_ids ?? []) refs.diffIds.add(diffId);
}

async function scanImages(store: Store): Promise<ImageRefs[]> {
  const byDigest = new Map<string, ImageRefs>();
  for (const entry of (await readIndex(join(store.ociDir, 'index.json'))).manifests) {
    let refs = byDigest.get(entry.digest);
    if (!refs) {
      refs = { manifestDigest: entry.digest, names: [], blobs: new Set(), diffIds: new Set() };
      byDigest.set(entry.digest, refs);
      const refName = refNameOf(entry);
      await collectImage(store, entry.digest, entry.mediaType, refs, refName ? `image ${canonicalTagOf(refName)}` : `index entry ${entry.digest}`);
    }
    const refName = refNameOf(entry);
    if (refName !== undefined && !refs.names.includes(canonicalTagOf(refName))) refs.names.push(canonicalTagOf(refName));
  }
  return [...byDigest.values()];
}

/** Kept containers pin their image: its snapshots are the lowerdirs of the container's upperdir. */
async function scanContainers(store: Store): Promise<{ images: ImageRefs[]; count: number }> {
  const images: ImageRefs[] = [];
  const ids = await listDir(store.containersDir);
  for (const id of ids) {
    const text = await readFile(join(store.containersDir, id, 'container.json'), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let imageDigest: unknown;
    try {
      imageDigest = (JSON.parse(text) as { imageDigest?: unknown }).imageDigest;
    } catch {
      continue;
    }
    if (typeof imageDigest !== 'string' || !(await store.hasBlob(imageDigest).catch(() => false))) continue;
    const refs: ImageRefs = { manifestDigest: imageDigest, names: [], blobs: new Set(), diffIds: new Set() };
    await collectImage(store, imageDigest, undefined, refs, `the image of container ${id.slice(0, 12)}`);
    images.push(refs);
  }
  return { images, count: ids.length };
}

/**
 * Snapshot dirs used as lowerdirs by live overlay mounts (running builds and containers). Our mounts
 * name their lowerdirs through symlinks `<mount dir>/l/<n>`, so those links are read back.
 */
async function scanMountedSnapshots(store: Store): Promise<Set<string>> {
  const used = new Set<string>();
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const decode = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0 || fields[separator + 1] !== 'overlay') continue;
    const mountPoint = decode(fields[4] ?? '');
    const mountDir = resolve(mountPoint, '..');
    const options = fields[separator + 3] ?? '';
    const lowerOption = /(?:^|,)lowerdir=([^,]*)/.exec(options)?.[1] ?? '';
    for (const lower of lowerOption.split(':').filter(Boolean).map(decode)) {
      const linkPath = lower.startsWith('/') ? lower : join(mountDir, lower);
      const target = await readlink(linkPath).catch(() => linkPath);
      used.add(resolve(mountDir, target));
    }
  }
  for (const path of [...used]) if (!path.startsWith(`${resolve(store.snapshotsDir)}/`)) used.delete(path);
  return used;
}

/** One consistent-enough look at the store. Callers that delete hold the index lock while scanning. */
export async function scanStore(store: Store): Promise<StoreScan> {
  const { records, looseFiles } = await scanRecords(store.cacheDir);
  const images = await scanImages(store);
  const containers = await scanContainers(store);
  return {
    records,
    looseFiles,
    images,
    containerImages: containers.images,
    containerCount: containers.count,
    blobs: await scanBlobs(store),
    snapshots: await scanSnapshots(store),
    mountedSnapshots: await scanMountedSnapshots(store),
  };
}
