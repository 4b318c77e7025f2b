/** Decides what a prune removes, from a scan alone (no I/O), so the rules can be tested as a table. */
import { basename } from 'node:path';
import type { BlobInfo, LooseFile, RecordInfo, SnapshotInfo, StoreScan } from './gc-scan.js';

export const HOUR_MS = 60 * 60 * 1000;
/** Records unused this long go in a plain `builder prune`. */
export const DEFAULT_UNTIL_MS = 24 * HOUR_MS;
/** Unreferenced blobs and snapshots younger than this stay: a build or load writes them before it refers to them. */
export const DEFAULT_GRACE_MS = 10 * 60 * 1000;
/** Temp files younger than this may still be being written. */
export const TEMP_AGE_MS = HOUR_MS;

/** What to prune; mirrors `docker builder prune`. */
export interface PruneOptions {
  /** Remove every cache record (tagged images and their blobs stay). */
  all?: boolean;
  /** Remove least recently used records until the store (blobs + snapshots + cache) is at most this many bytes. */
  keepStorage?: number;
  /** Only records unused for longer than this are removed. Default 24 h unless `all` or `keepStorage` is given. */
  untilMs?: number;
  /** Unreferenced blobs/snapshots younger than this are kept (default 10 min). */
  graceMs?: number;
}

/** The decision: removed in this order (records first, so a crash leaves only unreferenced garbage). */
export interface PrunePlan {
  records: RecordInfo[];
  looseFiles: LooseFile[];
  blobs: BlobInfo[];
  snapshots: SnapshotInfo[];
  /** Managed size (blobs + snapshots + cache files) before and after, in bytes. */
  sizeBefore: number;
  sizeAfter: number;
}

/** Inputs beside the scan: snapshot sizes (by hex), the clock, and whether builds are running. */
export interface PlanContext {
  snapshotSize(hex: string): number;
  now: number;
  /** While builds run, only records go: a build may be about to use any blob or snapshot it looked up. */
  buildsActive: boolean;
}

export function managedSize(scan: StoreScan, snapshotSize: (hex: string) => number): number {
  let size = 0;
  for (const blob of scan.blobs.values()) size += blob.size;
  for (const snapshot of scan.snapshots.values()) size += snapshotSize(snapshot.hex);
  for (const record of scan.records) size += record.size;
  for (const file of scan.looseFiles) size += file.size;
  return size;
}

function countRefs(records: RecordInfo[], pick: (layer: NonNullable<RecordInfo['layer']>) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    if (!record.valid || !record.layer) continue;
    const id = pick(record.layer);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

export function planPrune(scan: StoreScan, options: PruneOptions, context: PlanContext): PrunePlan {
  const { now } = context;
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const pinnedBlobs = new Set<string>();
  const pinnedDiffIds = new Set<string>();
  for (const image of [...scan.images, ...scan.containerImages]) {
    for (const digest of image.blobs) pinnedBlobs.add(digest);
    for (const diffId of image.diffIds) pinnedDiffIds.add(diffId);
  }
  for (const path of scan.mountedSnapshots) pinnedDiffIds.add(`sha256:${basename(path)}`);

  const blobRefs = countRefs(scan.records, (layer) => layer.digest);
  const snapshotRefs = countRefs(scan.records, (layer) => layer.diffId);
  const blobRemovable = (blob: BlobInfo): boolean =>
    !context.buildsActive && !pinnedBlobs.has(blob.digest) && !blobRefs.get(blob.digest) && now - blob.changedMs >= graceMs;
  const snapshotRemovable = (snapshot: SnapshotInfo): boolean =>
    !context.buildsActive && !pinnedDiffIds.has(snapshot.diffId) && !snapshotRefs.get(snapshot.diffId) && now - snapshot.changedMs >= graceMs;

  const sizeBefore = managedSize(scan, context.snapshotSize);
  let size = sizeBefore;
  const removedRecords: RecordInfo[] = [];
  const removeRecord = (record: RecordInfo): void => {
    removedRecords.push(record);
    size -= record.size;
    if (!record.valid || !record.layer) return;
    const { digest, diffId } = record.layer;
    blobRefs.set(digest, (blobRefs.get(digest) ?? 1) - 1);
    snapshotRefs.set(diffId, (snapshotRefs.get(diffId) ?? 1) - 1);
    // Count what this record was the last to hold, so keep-storage stops as soon as enough is freed.
    const blob = scan.blobs.get(digest);
    if (blob && blobRemovable(blob)) size -= blob.size;
    const snapshot = scan.snapshots.get(diffId);
    if (snapshot && snapshotRemovable(snapshot)) size -= context.snapshotSize(snapshot.hex);
  };

  // Damaged records first: they hold nothing.
  for (const record of scan.records) if (!record.valid) removeRecord(record);
  // Garbage that nothing refers to already is freed whatever the policy.
  for (const blob of scan.blobs.values()) if (blobRemovable(blob)) size -= blob.size;
  for (const snapshot of scan.snapshots.values()) if (snapshotRemovable(snapshot)) size -= context.snapshotSize(snapshot.hex);

  const untilMs = options.untilMs ?? (options.all || options.keepStorage !== undefined ? 0 : DEFAULT_UNTIL_MS);
  const candidates = scan.records
    .filter((record) => record.valid && now - record.lastUsedMs >= untilMs)
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  for (const record of candidates) {
    if (!options.all && options.keepStorage !== undefined && size <= options.keepStorage) break;
    removeRecord(record);
  }

  const looseAge = (file: LooseFile): number => now - file.mtimeMs;
  const looseFiles = scan.looseFiles.filter((file) =>
    /\.tmp(-|$)/.test(file.path) ? looseAge(file) >= TEMP_AGE_MS : options.all || looseAge(file) >= Math.max(untilMs, TEMP_AGE_MS));
  for (const file of looseFiles) size -= file.size;

  return {
    records: removedRecords,
    looseFiles,
    blobs: [...scan.blobs.values()].filter(blobRemovable),
    snapshots: [...scan.snapshots.values()].filter(snapshotRemovable),
    sizeBefore,
    sizeAfter: size,
  };
}
