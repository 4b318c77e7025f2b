/**
 * COPY from the build context straight into a new upperdir, without an overlay mount: the common COPY (new files
 * under directories that exist or not) needs no merged view to be written, and the mount, the unmount and the
 * removal of the mount's directories were most of such a step (7 + 4 ms on the critical path and 2–27 ms beside
 * the next step, under load), two of them processes.
 *
 * The upperdir must come out exactly as overlayfs would have left it, so this path is taken only when that is
 * certain and otherwise gives way to the mounted path (exec/copy.ts):
 * - a plain COPY: from the context, no --chown (names need the image's /etc/passwd), no --parents, no heredocs;
 * - every existing directory on the way to dest is a directory in every layer that has it (no symlink to follow,
 *   no whiteout or file in between) and carries no xattrs (overlayfs' copy-up would copy them): it is created in
 *   the upperdir with the top-most layer's mode, owner and mtime, as copy-up does;
 * - nothing the copy wrote exists in any layer below (an overwrite or a merge into an existing tree).
 * Checked after copying, since only the copy knows where its files land (dest may name a directory or a file).
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { chmod, chown, mkdir, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { CopyStep } from '../dockerfile/types.js';
import { copyInto, type CopyOptions, type CopySource } from '../context/copy.js';
import { readXattrsOf } from '../layer/xattrs.js';
import type { MutableSnapshot } from '../snapshot/mount.js';
import { makeOwnedDir } from '../store/owner.js';

/** A directory on the way to dest that a layer below already has: its top-most copy. */
interface ExistingDir {
  rel: string;
  stat: Stats;
}

/** Whether `copyDirect` may handle the step at all (cheap; the layers are looked at afterwards). */
export function directCopyApplies(step: CopyStep): boolean {
  return step.op === 'COPY' && step.from === undefined && step.chown === undefined && !step.parents && step.heredocs.length === 0;
}

/**
 * Copies into a fresh owned directory's `upper` and returns it as a snapshot commitSnapshot takes (nothing is
 * mounted: unmount does nothing, release removes the directory); undefined when the mounted path must do it.
 * `lowers` are the step's snapshot directories, bottom first. Errors of the copy itself are thrown as is.
 */
export async function copyDirect(
  tmpDir: string, lowers: string[], source: CopySource, options: CopyOptions,
): Promise<MutableSnapshot | undefined> {
  const existing = existingDirsOnTheWay(lowers, options.dest);
  if (existing === undefined) return undefined;
  const xattrs = await readXattrsOf(existing.map((dir) => topMost(lowers, dir.rel)!));
  if ([...xattrs.values()].some((names) => [...names.keys()].some((name) => !name.startsWith('trusted.overlay.') && name !== 'security.selinux'))) {
    return undefined;
  }
  const dir = await makeOwnedDir(tmpDir, 'copy');
  const upper = path.join(dir, 'upper');
  const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await mkdir(upper);
    for (const { rel, stat } of existing) {
      const target = path.join(upper, rel);
      await mkdir(target);
      await chown(target, stat.uid, stat.gid);
      await chmod(target, stat.mode & 0o7777);
    }
    await copyInto(source, upper, options);
    const created = new Set(existing.map((dir) => dir.rel));
    if (writesOverLowers(upper, '', created, lowers)) {
      await release();
      return undefined;
    }
    // Copy-up keeps a directory's mtime; only those the copy created entries in directly have a new one.
    for (const { rel, stat } of [...existing].reverse()) {
      const onlyCopiedUp = readdirSync(path.join(upper, rel)).every((name) => created.has(rel === '' ? name : `${rel}/${name}`));
      if (onlyCopiedUp) await utimes(path.join(upper, rel), stat.atime, stat.mtime);
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { upperdir: upper, workdir: '', merged: upper, unmount: async () => {}, release };
}

/**
 * The directories of dest's path (dest included) that some layer has, outermost first; undefined when one of them
 * is anything but a directory in a layer that has it. Stops at the first component no layer has.
 */
function existingDirsOnTheWay(lowers: string[], dest: string): ExistingDir[] | undefined {
  const parts = dest.split('/').filter((part) => part !== '' && part !== '.');
  const found: ExistingDir[] = [];
  let rel = '';
  for (const part of parts) {
    if (part === '..') return undefined; // resolveImagePath normalised it; a literal `..` here is not ours to guess
    rel = rel === '' ? part : `${rel}/${part}`;
    const stats = lowers.map((lower) => lstatQuiet(path.join(lower, rel))).filter((stat): stat is Stats => stat !== undefined);
    if (stats.length === 0) break;
    if (!stats.every((stat) => stat.isDirectory())) return undefined;
    found.push({ rel, stat: lstatQuiet(topMost(lowers, rel)!)! });
  }
  return found;
}

/** The path of `rel` in the top-most layer that has it. */
function topMost(lowers: string[], rel: string): string | undefined {
  for (let index = lowers.length - 1; index >= 0; index--) {
    const candidate = path.join(lowers[index]!, rel);
    if (lstatQuiet(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Whether anything the copy wrote (below `rel` of the upperdir, the copied-up directories aside) exists in a layer
 * below. A new directory no layer has cannot have anything below it in one either, so only its name is looked up.
 */
function writesOverLowers(upper: string, rel: string, copiedUp: ReadonlySet<string>, lowers: string[]): boolean {
  for (const name of readdirSync(path.join(upper, rel))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    if (copiedUp.has(child)) {
      if (writesOverLowers(upper, child, copiedUp, lowers)) return true;
      continue;
    }
    if (lowers.some((lower) => lstatQuiet(path.join(lower, child)) !== undefined)) return true;
  }
  return false;
}

function lstatQuiet(file: string): Stats | undefined {
  try {
    return lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR: a file on the way, so nothing there
  }
}
