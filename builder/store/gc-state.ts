/**
 * The small file the automatic GC checks after every build (`gc/state.json`): the managed size last
 * measured and when. If the blob, snapshot and cache directories have not changed since (three stats),
 * nothing was added and the measurement still holds.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gcDir } from './gc-lease.js';
import { SnapshotSizes } from './gc-size.js';
import { writeFileAtomic } from './atomic-write.js';
import type { Store } from './store.js';

/** What `gc/state.json` holds. */
export interface GcState {
  /** Managed size in bytes: blobs + snapshots + files under cache/. */
  size: number;
  /** When the measurement started (ms since the epoch); changes after this are not in `size`. */
  measuredAtMs: number;
}

const HEX = /^[0-9a-f]{64}$/;

function statePath(store: Store): string {
  return join(gcDir(store.root), 'state.json');
}

export function snapshotSizesPath(store: Store): string {
  return join(gcDir(store.root), 'snapshot-sizes.json');
}

export async function readGcState(store: Store): Promise<GcState | undefined> {
  try {
    const state = JSON.parse(await readFile(statePath(store), 'utf8')) as Partial<GcState>;
    if (typeof state.size === 'number' && typeof state.measuredAtMs === 'number') return { size: state.size, measuredAtMs: state.measuredAtMs };
  } catch {
    // Missing or damaged: measure again.
  }
  return undefined;
}

export async function writeGcState(store: Store, state: GcState): Promise<void> {
  await mkdir(gcDir(store.root), { recursive: true });
  await writeFileAtomic(statePath(store), JSON.stringify(state));
}

/** The directories whose mtime moves whenever something is added to the managed part of the store. */
function watchedDirs(store: Store): string[] {
  return [join(store.ociDir, 'blobs', 'sha256'), store.snapshotsDir, store.cacheDir, join(store.cacheDir, 'traces')];
}

/** True when none of the watched directories changed after `sinceMs`. */
export async function unchangedSince(store: Store, sinceMs: number): Promise<boolean> {
  for (const dir of watchedDirs(store)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && Math.max(info.mtimeMs, info.ctimeMs) >= sinceMs) return false;
  }
  return true;
}

async function fileSizes(dir: string, depth: number): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) total += info.size;
    else if (info?.isDirectory() && depth > 0) total += await fileSizes(join(dir, name), depth - 1);
  }
  return total;
}

/** Measures the managed size with stats only (snapshot trees come from the size cache; new ones are walked once). */
export async function measureManagedSize(store: Store): Promise<GcState> {
  const measuredAtMs = Date.now();
  const sizes = await SnapshotSizes.load(snapshotSizesPath(store));
  let size = await fileSizes(join(store.ociDir, 'blobs', 'sha256'), 0);
  size += await fileSizes(store.cacheDir, 1);
  const hexes: string[] = [];
  for (const hex of await readdir(store.snapshotsDir).catch(() => [] as string[])) {
    if (!HEX.test(hex)) continue;
    hexes.push(hex);
    size += await sizes.sizeOf(hex, join(store.snapshotsDir, hex));
  }
  await sizes.save(hexes);
  return { size, measuredAtMs };
}
