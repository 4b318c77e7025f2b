/**
 * What a container changed in its filesystem: its overlay upperdir read against the image's layers (the
 * lowerdirs). `docker diff` (GET /containers/{id}/changes), `inspect --size` / `ps -s` (SizeRw) and `commit`
 * read it. Docker keeps /etc/hosts, /etc/hostname and /etc/resolv.conf in an init layer below the container's
 * own, so they never show as changes; ours are mount targets created in the upperdir at start, so they are
 * left out here (and the directories that hold nothing else, e.g. /etc when only they are in it).
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readXattrsOf } from '../layer/xattrs.js';
import { treeSize } from '../store/gc-size.js';
import type { ContainerRecord } from './record.js';

/** docker's Kind: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2;
export interface FilesystemChange {
  Path: string;
  Kind: ChangeKind;
}

/** Files builder's start creates in the upperdir as bind-mount targets (docker's init layer). */
export const INIT_PATHS: ReadonlySet<string> = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/.dockerenv']);

const OPAQUE_XATTR = 'trusted.overlay.opaque';

interface LowerInfo {
  exists: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** The entry `rel` as the image shows it: the topmost lowerdir that has it (an overlay whiteout there hides it). */
async function inLower(lowerdirs: readonly string[], rel: string): Promise<LowerInfo> {
  for (let i = lowerdirs.length - 1; i >= 0; i--) {
    const info = await lstat(path.join(lowerdirs[i]!, rel)).catch(() => undefined);
    if (!info) continue;
    if (info.isCharacterDevice() && info.rdev === 0) return { exists: false };
    return { exists: true, mode: info.mode, uid: info.uid, gid: info.gid };
  }
  return { exists: false };
}

export interface UpperSummary {
  changes: FilesystemChange[];
  /** Bytes of the regular files and links the container wrote (docker's SizeRw). */
  sizeRw: number;
  /** Upperdir paths (relative, no leading slash) a committed layer must leave out. */
  excluded: string[];
}

/**
 * Walks `upperdir` (sorted, parents before children). A whiteout is a deletion; an entry the image has is a
 * modification, else an addition. A directory the image has, whose owner and mode are the image's, that holds
 * no change of its own is only there because something below it was copied up: it is listed only when
 * something below it is.
 */
export async function readUpper(upperdir: string, lowerdirs: readonly string[]): Promise<UpperSummary> {
  const opaque = await opaqueDirs(upperdir);
  const changes: FilesystemChange[] = [];
  const excluded: string[] = [];
  let sizeRw = 0;
  const walk = async (relDir: string): Promise<boolean> => {
    let names: string[];
    try {
      names = (await readdir(path.join(upperdir, relDir))).sort();
    } catch {
      return false;
    }
    let any = false;
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const containerPath = `/${rel}`;
      const info = await lstat(path.join(upperdir, rel));
      if (INIT_PATHS.has(containerPath)) {
        excluded.push(rel);
        continue;
      }
      if (info.isCharacterDevice() && info.rdev === 0) {
        changes.push({ Path: containerPath, Kind: 2 });
        any = true;
        continue;
      }
      const lower = await inLower(lowerdirs, rel);
      if (!info.isDirectory()) {
        changes.push({ Path: containerPath, Kind: lower.exists ? 0 : 1 });
        sizeRw += info.size;
        any = true;
        continue;
      }
      const at = changes.length;
      const own = !lower.exists || opaque.has(rel) || lower.mode !== info.mode || lower.uid !== info.uid || lower.gid !== info.gid;
      const below = await walk(rel);
      if (own || below) {
        changes.splice(at, 0, { Path: containerPath, Kind: lower.exists ? 0 : 1 });
        any = true;
      } else {
        excluded.push(rel);
      }
    }
    return any;
  };
  await walk('');
  return { changes, sizeRw, excluded };
}

/** Relative paths of the upperdir's opaque directories (one xattr read for all of its directories). */
async function opaqueDirs(upperdir: string): Promise<Set<string>> {
  const dirs: string[] = [];
  const collect = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(upperdir, rel), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      dirs.push(child);
      await collect(child);
    }
  };
  await collect('');
  const xattrs = await readXattrsOf(dirs.map((dir) => path.join(upperdir, dir)));
  const opaque = new Set<string>();
  for (const dir of dirs) if (xattrs.get(path.join(upperdir, dir))?.get(OPAQUE_XATTR)?.toString() === 'y') opaque.add(dir);
  return opaque;
}

/** SizeRw (what the container wrote) and SizeRootFs (that plus its image's layers, the image's extracted snapshots). */
export async function sizesOf(record: ContainerRecord): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const { sizeRw } = await readUpper(path.join(record.rootfsDir, 'upper'), record.lowerdirs).catch(() => ({ sizeRw: 0 }));
  let image = 0;
  for (const lower of record.lowerdirs) image += await treeSize(lower).catch(() => 0);
  return { SizeRw: sizeRw, SizeRootFs: sizeRw + image };
}
