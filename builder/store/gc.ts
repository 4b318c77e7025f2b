/**
 * Garbage collection of the local store (`builder prune`, the automatic GC). Under the GC lock and the
 * index.json lock it scans, plans (gc-plan.ts) and deletes in a crash-safe order: cache records first,
 * then blobs nothing refers to any more, then snapshots (renamed into tmp/ trash, deleted after the
 * locks are released). A GC killed at any point leaves only unreferenced garbage for the next one.
 */
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';
import { activeBuilds, withGcLock } from './gc-lease.js';
import { planPrune, type PruneOptions } from './gc-plan.js';
import { scanStore } from './gc-scan.js';
import { SnapshotSizes } from './gc-size.js';
import { snapshotSizesPath, writeGcState } from './gc-state.js';
import { staleTempEntries, Trash } from './gc-tmp.js';
import { reapDeadBuilds } from './reap.js';
import type { Store } from './store.js';

export type { PruneOptions } from './gc-plan.js';

/** What a prune removed. Sizes are bytes on disk (apparent sizes, as `du -b`). */
export interface PruneReport {
  records: { key: string; createdBy: string; size: number }[];
  blobs: { digest: string; size: number }[];
  snapshots: { diffId: string; size: number }[];
  /** Step traces and abandoned record temp files. */
  cacheFiles: number;
  /** Stale entries removed from tmp/. */
  tempEntries: number;
  /** Total bytes freed. */
  reclaimed: number;
  /** Managed size (blobs + snapshots + cache files) after the prune. */
  sizeAfter: number;
  /** Builds were running: only records were removed; their blobs and snapshots go in a later prune. */
  deferred: boolean;
  /** Containers, mounts and bundles of killed builders that were removed (store/reap.ts). */
  reaped: number;
}

/** Options of one run beyond the policy. */
export interface PruneRun extends PruneOptions {
  /** Delete the trash in a detached process instead of waiting (the automatic GC after a build). */
  background?: boolean;
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

/** Walks snapshots that have no size yet before any lock is taken, so the locked part stays short. */
async function warmSnapshotSizes(store: Store, sizes: SnapshotSizes): Promise<void> {
  for (const hex of await readdir(store.snapshotsDir).catch(() => [] as string[])) {
    if (/^[0-9a-f]{64}$/.test(hex)) await sizes.sizeOf(hex, join(store.snapshotsDir, hex));
  }
}

export async function prune(store: Store, options: PruneRun = {}): Promise<PruneReport> {
  const sizes = await SnapshotSizes.load(snapshotSizesPath(store));
  await warmSnapshotSizes(store, sizes);
  const trash = new Trash(store.tmpDir);
  const report = await withGcLock(store.root, async () => {
    const buildsActive = (await activeBuilds(store.root)) > 0;
    const measuredAtMs = Date.now();
    const removed = await withFileLock(join(store.ociDir, 'index.json.lock'), async () => {
      const scan = await scanStore(store);
      for (const snapshot of scan.snapshots.values()) await sizes.sizeOf(snapshot.hex, snapshot.path);
      const plan = planPrune(scan, options, { snapshotSize: (hex) => sizes.known(hex) ?? 0, now: Date.now(), buildsActive });
      // Order matters for crash safety: what refers (records) goes before what is referred to.
      for (const record of plan.records) await unlink(record.file).catch(ignoreMissing);
      for (const file of plan.looseFiles) await unlink(file.path).catch(ignoreMissing);
      for (const blob of plan.blobs) await unlink(store.blobPath(blob.digest)).catch(ignoreMissing);
      for (const snapshot of plan.snapshots) await trash.add(snapshot.path);
      const existing = [...scan.snapshots.values()].filter((s) => !plan.snapshots.includes(s)).map((s) => s.hex);
      return { plan, existing };
    });
    const { plan } = removed;
    // Dead builders' mounts first: staleTempEntries skips any dir with a mount inside.
    const reaped = await reapDeadBuilds(store.tmpDir);
    const temp = await staleTempEntries(store.tmpDir, Date.now(), buildsActive);
    for (const entry of temp) await trash.add(entry.path);
    const reclaimedManaged = plan.sizeBefore - plan.sizeAfter;
    const result: PruneReport = {
      records: plan.records.map((r) => ({ key: r.key, createdBy: r.createdBy, size: r.size })),
      blobs: plan.blobs.map((b) => ({ digest: b.digest, size: b.size })),
      snapshots: plan.snapshots.map((s) => ({ diffId: s.diffId, size: sizes.known(s.hex) ?? 0 })),
      cacheFiles: plan.looseFiles.length,
      tempEntries: temp.length,
      reclaimed: reclaimedManaged + temp.reduce((sum, entry) => sum + entry.size, 0) + reaped.bytes,
      sizeAfter: plan.sizeAfter,
      deferred: buildsActive,
      reaped: reaped.containers.length + reaped.mounts.length + reaped.bundles.length,
    };
    await sizes.save(removed.existing);
    await writeGcState(store, { size: plan.sizeAfter, measuredAtMs });
    return result;
  });
  await trash.empty(options.background);
  return report;
}
