/** `builder system df`: what the store holds and what `builder prune --all` would give back. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';
import { DEFAULT_UNTIL_MS, planPrune } from './gc-plan.js';
import { scanStore } from './gc-scan.js';
import { SnapshotSizes, treeSize } from './gc-size.js';
import { snapshotSizesPath, writeGcState } from './gc-state.js';
import { staleTempEntries } from './gc-tmp.js';
import type { Store } from './store.js';
import { volumeUsage } from '../volume/volume-api.js';

/** One row of the table. Sizes are apparent bytes, as `du -sb` counts them. */
export interface UsageRow {
  total: number;
  /** In use: images run by kept containers; blobs/snapshots something refers to; records hit in the last 24 h. */
  active: number;
  size: number;
  /** Freed by `builder prune --all` (or, for temp files, by any prune). */
  reclaimable: number;
}

export interface DiskUsage {
  /** Tagged images; size = their blobs, shared blobs counted once. Never reclaimable by prune. */
  images: UsageRow;
  /** Files in oci/blobs/sha256. */
  blobs: UsageRow;
  /** Extracted layer trees in snapshots/. */
  snapshots: UsageRow;
  /** Step cache records (size = files under cache/, traces included). */
  buildCache: UsageRow;
  /** Kept containers (`builder run` without --rm); prune leaves them. */
  containers: UsageRow;
  /** Entries in tmp/. */
  temp: UsageRow;
  /** Local volumes (volumes/<name>/_data); reclaimable = the unused ones (`builder volume prune --all`). */
  volumes: UsageRow;
  /** blobs + snapshots + cache files: what the automatic GC keeps under its limit. */
  managedSize: number;
  /** Everything above (images are part of blobs, so not added twice). */
  totalSize: number;
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);

/** `graceMs` as in PruneOptions, so "reclaimable" is what a prune with the same setting frees. */
export async function diskUsage(store: Store, options: { graceMs?: number; now?: number } = {}): Promise<DiskUsage> {
  const now = options.now ?? Date.now();
  const sizes = await SnapshotSizes.load(snapshotSizesPath(store));
  const scan = await withFileLock(join(store.ociDir, 'index.json.lock'), () => scanStore(store));
  for (const snapshot of scan.snapshots.values()) await sizes.sizeOf(snapshot.hex, snapshot.path);
  await sizes.save([...scan.snapshots.values()].map((snapshot) => snapshot.hex));
  const snapshotSize = (hex: string): number => sizes.known(hex) ?? 0;
  const plan = planPrune(scan, { all: true, graceMs: options.graceMs }, { snapshotSize, now, buildsActive: false });

  const imageBlobs = new Set<string>();
  for (const image of scan.images) for (const digest of image.blobs) imageBlobs.add(digest);
  const removedBlobs = new Set(plan.blobs.map((b) => b.digest));
  const removedSnapshots = new Set(plan.snapshots.map((s) => s.diffId));
  const containerManifests = new Set(scan.containerImages.map((image) => image.manifestDigest));

  const containerRows = await containerUsage(store.containersDir);
  const containerSize = sum(containerRows.map((row) => row.size));
  const tempNames = await readdir(store.tmpDir).catch(() => [] as string[]);
  const tempSize = sum(await Promise.all(tempNames.map((name) => treeSize(join(store.tmpDir, name)))));
  const staleTemp = await staleTempEntries(store.tmpDir, now, false);
  const volumes = await volumeUsage(store.root);

  const blobsSize = sum([...scan.blobs.values()].map((b) => b.size));
  const snapshotsSize = sum([...scan.snapshots.values()].map((s) => snapshotSize(s.hex)));
  const cacheSize = sum(scan.records.map((r) => r.size)) + sum(scan.looseFiles.map((f) => f.size));
  const usage: DiskUsage = {
    images: {
      total: scan.images.length,
      active: scan.images.filter((image) => containerManifests.has(image.manifestDigest)).length,
      size: sum([...imageBlobs].map((digest) => scan.blobs.get(digest)?.size ?? 0)),
      reclaimable: 0,
    },
    blobs: {
      total: scan.blobs.size,
      active: scan.blobs.size - removedBlobs.size,
      size: blobsSize,
      reclaimable: sum(plan.blobs.map((b) => b.size)),
    },
    snapshots: {
      total: scan.snapshots.size,
      active: scan.snapshots.size - removedSnapshots.size,
      size: snapshotsSize,
      reclaimable: sum(plan.snapshots.map((s) => snapshotSize(s.hex))),
    },
    buildCache: {
      total: scan.records.length,
      active: scan.records.filter((r) => r.valid && now - r.lastUsedMs < DEFAULT_UNTIL_MS).length,
      size: cacheSize,
      reclaimable: sum(plan.records.map((r) => r.size)) + sum(plan.looseFiles.map((f) => f.size)),
    },
    containers: {
      total: containerRows.length, active: containerRows.filter((row) => row.active).length, size: containerSize,
      reclaimable: sum(containerRows.filter((row) => !row.active).map((row) => row.size)),
    },
    temp: { total: tempNames.length, active: tempNames.length - staleTemp.length, size: tempSize, reclaimable: sum(staleTemp.map((e) => e.size)) },
    volumes,
    managedSize: blobsSize + snapshotsSize + cacheSize,
    totalSize: blobsSize + snapshotsSize + cacheSize + containerSize + tempSize + volumes.size,
  };
  // A fresh measurement is as good as the automatic GC's own.
  await writeGcState(store, { size: usage.managedSize, measuredAtMs: now });
  return usage;
}

/**
 * Containers and their writable layers (the upper dir of each mnt- mount, plus logs): the merged mount is not walked,
 * it is the image. Active = running or paused by its last recorded state; `container prune` frees the rest.
 */
async function containerUsage(containersDir: string): Promise<{ size: number; active: boolean }[]> {
  const ids = (await readdir(containersDir).catch(() => [] as string[])).filter((name) => /^[0-9a-f]{64}$/.test(name));
  return Promise.all(ids.map(async (id) => {
    const dir = join(containersDir, id);
    let size = 0;
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      size += await treeSize(entry.startsWith('mnt-') ? join(dir, entry, 'upper') : join(dir, entry)).catch(() => 0);
    }
    const state = await readFile(join(dir, 'state.json'), 'utf8').then((text) => JSON.parse(text) as { status?: string }, () => ({ status: undefined }));
    return { size, active: state.status === 'running' || state.status === 'paused' || state.status === 'restarting' };
  }));
}
