/**
 * COPY from the build context straight into a new upperdir, without an overlay mount: the common COPY (new files
 * under directories that exist or not) needs no merged view to be written, and the mount, the unmount and the
 * removal of the mount's directories were most of such a step (7 + 4 ms on the critical path and 2–27 ms beside
 * the next step, under load), two of them processes.
 *
 * The upperdir must come out exactly as overlayfs would have left it, so this path is taken only when that is
 * certain and otherwise gives way to the mounted path (exec/copy.ts):
 * - a plain COPY: from the context (or from a stage or image whose files need no mount to be read), no --chown (names need the image's /etc/passwd), no --parents, no heredocs;
 * - every existing directory on the way to dest is a directory in every layer that has it (no symlink to follow,
 *   no whiteout or file in between) and carries no xattrs (overlayfs' copy-up would copy them): it is created in
 *   the upperdir with the top-most layer's mode, owner and mtime, as copy-up does;
 * - nothing the copy wrote exists in any layer below (an overwrite or a merge into an existing tree).
 * Checked after copying, since only the copy knows where its files land (dest may name a directory or a file).
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, utimesSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { CopyStep } from '../dockerfile/types.js';
import { copyInto, type CopyOptions, type CopySource } from '../context/copy.js';
import { readXattrsOf, type XattrTree } from '../layer/xattrs.js';
import type { MutableSnapshot } from '../snapshot/mount.js';
import { writeSmallFileAtomicSync } from '../store/atomic-write.js';
import { makeOwnedDirSync } from '../store/owner.js';

/** A directory on the way to dest that a layer below already has: its top-most copy. */
interface ExistingDir {
  rel: string;
  stat: Stats;
}

/** Whether `copyDirect` may handle the step at all (cheap; the layers are looked at afterwards). */
export function directCopyApplies(step: CopyStep): boolean {
  // --from a stage or an image too, when its files can be read without a mount (exec/copy-from-layers.ts).
  const from = step.from === undefined || !('context' in step.from);
  return step.op === 'COPY' && from && step.chown === undefined && !step.parents && step.heredocs.length === 0;
}

/**
 * Copies into a fresh owned directory's `upper` and returns it as a snapshot commitSnapshot takes (nothing is
 * mounted: unmount does nothing, release removes the directory); undefined when the mounted path must do it.
 * `lowers` are the step's snapshot directories, bottom first. Errors of the copy itself are thrown as is.
 */
export function copyDirect(
  tmpDir: string, lowers: string[], source: CopySource, options: CopyOptions, memoFile?: string,
): Promise<MutableSnapshot | undefined> {
  return writeDirect(tmpDir, lowers, options.dest, (upper) => copyInto(source, upper, options), memoFile);
}

/**
 * WORKDIR's directory made the same way (the steps that create it need no merged view either): `target` and its
 * missing parents are created in the upperdir, mode 0755 (less the umask) and owned by this process, as the mkdir
 * through the mount made them. Only for a WORKDIR with no USER (whose owner needs the image's /etc/passwd).
 * Undefined when the mounted path must do it (a symlink, file or whiteout on the way, xattrs on an existing dir).
 */
export function workdirDirect(tmpDir: string, lowers: string[], target: string, memoFile?: string): Promise<MutableSnapshot | undefined> {
  return writeDirect(tmpDir, lowers, target, async (upper) => {
    mkdirSync(path.join(upper, target), { recursive: true, mode: 0o755 });
  }, memoFile);
}

/**
 * The shared part: copies up (by hand) the existing directories on the way to `dest`, lets `write` fill the
 * upperdir, then checks and tidies it as described above.
 */
async function writeDirect(
  tmpDir: string, lowers: string[], dest: string, write: (upper: string) => Promise<void>, memoFile?: string,
): Promise<MutableSnapshot | undefined> {
  const existing = existingDirsOnTheWay(lowers, dest);
  if (existing === undefined) return undefined;
  if (!(await xattrFree(existing.map((dir) => topMost(lowers, dir.rel)!), memoFile))) return undefined;
  // Sync calls, as in the copier and the mount (snapshot/mount.ts): each is one small syscall on the step's path,
  // which as a thread-pool round trip queued behind the previous step's background work (blob, mount removal).
  const dir = makeOwnedDirSync(tmpDir, 'copy');
  const upper = path.join(dir, 'upper');
  const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    mkdirSync(upper);
    for (const { rel, stat } of existing) {
      const target = path.join(upper, rel);
      mkdirSync(target);
      chownSync(target, stat.uid, stat.gid);
      chmodSync(target, stat.mode & 0o7777);
    }
    await write(upper);
    const created = new Set(existing.map((dir) => dir.rel));
    if (writesOverLowers(upper, '', created, lowers)) {
      await release();
      return undefined;
    }
    // Copy-up keeps a directory's mtime; only those the copy created entries in directly have a new one.
    for (const { rel, stat } of [...existing].reverse()) {
      const onlyCopiedUp = readdirSync(path.join(upper, rel)).every((name) => created.has(rel === '' ? name : `${rel}/${name}`));
      if (onlyCopiedUp) utimesSync(path.join(upper, rel), stat.atime, stat.mtime);
    }
    // A directory on the way that the copy left empty and unchanged was never copied up by overlayfs: nothing was
    // written beneath it (`COPY --from=s /empty-dir /tmp/`), so the layer does not hold it. Innermost first.
    for (const { rel, stat } of [...existing].reverse()) {
      const target = path.join(upper, rel);
      const now = lstatSync(target);
      if (readdirSync(target).length === 0 && now.mode === stat.mode && now.uid === stat.uid && now.gid === stat.gid) rmdirSync(target);
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

const SNAPSHOT_DIR = /^[0-9a-f]{64}$/;
const MEMO_MAX = 10_000;
/** xattrs overlayfs' copy-up would carry into the upperdir (its own and SELinux labels are not in layers). */
const copiedXattr = (name: string): boolean => !name.startsWith('trusted.overlay.') && name !== 'security.selinux';

/**
 * Whether none of `dirs` has an xattr copy-up would copy. Asking costs a getfattr process, so the answer for a
 * directory of a snapshot (`snapshots/<diffId hex>/rel`) is remembered in `memoFile`: a snapshot's files are a
 * function of its diffId (the layer tar holds their xattrs), so the answer never changes.
 */
async function xattrFree(dirs: string[], memoFile: string | undefined): Promise<boolean> {
  // memo: snapshot dir key → whether it has an xattr copy-up would copy.
  const memo = memoFile ? readMemo(memoFile) : {};
  const known = (dir: string): boolean | undefined => {
    const key = memoKey(dir);
    return key === undefined ? undefined : memo[key];
  };
  if (dirs.some((dir) => known(dir) === true)) return false;
  const unknown = dirs.filter((dir) => known(dir) === undefined);
  if (unknown.length === 0) return true;
  const found = await readXattrsOf(unknown);
  const free = (dir: string): boolean => ![...(found.get(dir)?.keys() ?? [])].some(copiedXattr);
  if (memoFile) {
    let learned = false;
    for (const dir of unknown) {
      const key = memoKey(dir);
      if (key !== undefined) {
        memo[key] = !free(dir);
        learned = true;
      }
    }
    if (learned) {
      try {
        // Bounded: it is read by every direct COPY; past the cap it starts again from what this COPY learned.
        const kept = Object.keys(memo).length > MEMO_MAX ? Object.fromEntries(unknown.flatMap((dir) => {
          const key = memoKey(dir);
          return key === undefined ? [] : [[key, memo[key]]];
        })) : memo;
        writeSmallFileAtomicSync(memoFile, JSON.stringify(kept), { unlinkFirst: true });
      } catch {
        // Only a memo: the next COPY asks getfattr again.
      }
    }
  }
  return unknown.every(free);
}

/** A snapshot directory's memo key (`<diffId hex>/rel`), or undefined for a path outside `snapshots/`. */
function memoKey(dir: string): string | undefined {
  const parts = dir.split('/');
  const at = parts.findIndex((part, index) => SNAPSHOT_DIR.test(part) && parts[index - 1] === 'snapshots');
  return at < 0 ? undefined : parts.slice(at).join('/');
}

/**
 * Records what a step's layer writer already knows of the snapshot it just made (`snapshotDir`): for each of its
 * directories, whether it has an xattr copy-up would copy. The next direct COPY or WORKDIR into them (bench-small's
 * `COPY … ./` after `WORKDIR /app`) then asks no helper or getfattr (2-4 ms at a cold build's first COPY, when
 * the mount helper is still starting). Only a memo: a failure to write it is ignored.
 */
export function rememberDirectories(memoFile: string, snapshotDir: string, directories: { rels: string[]; xattrs: XattrTree }): void {
  if (directories.rels.length === 0) return;
  try {
    const memo = readMemo(memoFile);
    let learned = false;
    for (const rel of directories.rels) {
      const key = memoKey(path.join(snapshotDir, rel));
      if (key === undefined || memo[key] !== undefined) continue;
      memo[key] = [...(directories.xattrs.get(rel)?.keys() ?? [])].some(copiedXattr);
      learned = true;
    }
    if (learned && Object.keys(memo).length <= MEMO_MAX) writeSmallFileAtomicSync(memoFile, JSON.stringify(memo), { unlinkFirst: true });
  } catch {
    // Only a memo: the next COPY asks for the xattrs itself.
  }
}

/** The memo file's map; empty when absent or unreadable. */
function readMemo(file: string): Record<string, boolean> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, boolean>) : {};
  } catch {
    return {};
  }
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

/** lstat, or undefined when nothing is there (ENOTDIR included: a file on the way). */
export function lstatQuiet(file: string): Stats | undefined {
  try {
    return lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR: a file on the way, so nothing there
  }
}
