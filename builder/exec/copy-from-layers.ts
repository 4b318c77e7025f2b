/**
 * COPY --from a stage or an image without mounting it: the source's files are read straight out of the snapshot
 * directory (one layer) that overlayfs would have shown them from. The read-only overlay of the source was a mount,
 * an unmount and a directory removal per COPY --from (two shell requests and ~3 + 5–30 ms beside the next step,
 * under load), and it kept the COPY off the mount-free path (exec/copy-direct.ts), which the destination could take.
 *
 * The merged view must be certain to equal that one layer's files, so only this shape is taken, else the mount:
 * - every source is a literal path (no wildcard, not the root), and no --exclude;
 * - it resolves, as overlayfs looks it up, to a regular file, or to a directory that no layer below has and that
 *   holds no whiteout (then nothing is merged into it and nothing in it is hidden); all sources to the same layer;
 * - on the way to it, in that layer and in every layer above, each component that exists is a plain directory
 *   (no symlink to follow, no file or whiteout hiding it), and none above is opaque (trusted.overlay.opaque).
 * The copier reads no xattrs, and a lower file's mode, owner, times, size and hardlinks are the same through the
 * overlay (index, redirect_dir and metacopy are off: snapshot/mount.ts).
 */
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { CopyOptions, CopySource } from '../context/copy-types.js';
import { cleanPath } from '../context/sources.js';
import { splitWildcards } from '../context/wildcard.js';
import { readXattrsOf } from '../layer/xattrs.js';
import { lstatQuiet } from './copy-direct.js';

const OPAQUE = 'trusted.overlay.opaque';
/** Past this many entries a directory source is left to the mount: the whiteout scan would cost what it saves. */
const MAX_SCANNED = 20_000;

/** Where a source path resolves: the layer that holds it and the directories above it that must not be opaque. */
interface Resolved {
  layer: number;
  mustNotBeOpaque: string[];
}

/**
 * The one snapshot directory (of `lowers`, bottom first) that every source of the COPY resolves into, as a copy
 * source; undefined when the overlay must be mounted to be sure (see the file comment).
 */
export async function sourceFromLayers(lowers: string[], options: CopyOptions): Promise<CopySource | undefined> {
  if (lowers.length === 0 || options.exclude.length > 0 || (options.inline?.length ?? 0) > 0 || options.sources.length === 0) return undefined;
  let layer: number | undefined;
  const checks = new Set<string>();
  for (const written of options.sources) {
    const rel = cleanPath(written);
    if (rel === '' || splitWildcards(rel).pattern !== '') return undefined;
    const resolved = resolveInLayers(lowers, rel);
    if (!resolved || (layer !== undefined && resolved.layer !== layer)) return undefined;
    layer = resolved.layer;
    for (const dir of resolved.mustNotBeOpaque) checks.add(dir);
  }
  if (layer === undefined) return undefined;
  if (checks.size > 0) {
    // One getfattr for all of them; only when the source sits below another layer that has its parents.
    const found = await readXattrsOf([...checks]);
    if ([...found.values()].some((xattrs) => xattrs.has(OPAQUE))) return undefined; // 'y', or newer kernels' 'x'
  }
  return { root: lowers[layer]!, isContext: false };
}

/** Looks `rel` up from the top layer down as overlayfs does; undefined for anything but the certain shapes. */
function resolveInLayers(lowers: string[], rel: string): Resolved | undefined {
  const parts = rel.split('/');
  const mustNotBeOpaque: string[] = [];
  for (let index = lowers.length - 1; index >= 0; index--) {
    const lower = lowers[index]!;
    // This layer's directories on the way (root included) hide what is below them if they are opaque.
    const onTheWay: string[] = [lower];
    let reached = true;
    for (let depth = 1; depth < parts.length; depth++) {
      const dir = path.join(lower, ...parts.slice(0, depth));
      const stat = lstatQuiet(dir);
      if (stat === undefined) {
        reached = false;
        break;
      }
      if (!stat.isDirectory()) return undefined; // a symlink to follow, or a file or whiteout that hides the path
      onTheWay.push(dir);
    }
    const stat = reached ? lstatQuiet(path.join(lower, rel)) : undefined;
    if (stat !== undefined) {
      if (stat.isFile()) return { layer: index, mustNotBeOpaque };
      if (stat.isDirectory() && !below(lowers, index, rel) && !hasWhiteout(path.join(lower, rel))) return { layer: index, mustNotBeOpaque };
      return undefined; // a whiteout, a symlink, a device, or a directory merged with lower ones
    }
    mustNotBeOpaque.push(...onTheWay);
  }
  return undefined; // missing: the mounted path reports it
}

/** Whether a layer below `index` has `rel` (anything at all). */
function below(lowers: string[], index: number, rel: string): boolean {
  return lowers.slice(0, index).some((lower) => lstatQuiet(path.join(lower, rel)) !== undefined);
}

/** Whether the tree holds a whiteout (char device 0/0) or is too big to be worth scanning. */
function hasWhiteout(dir: string): boolean {
  const pending = [dir];
  let scanned = 0;
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (++scanned > MAX_SCANNED) return true;
      const child = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(child);
      else if (entry.isCharacterDevice() && lstatSync(child).rdev === 0) return true;
    }
  }
  return false;
}
