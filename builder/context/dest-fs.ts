import { applySymbolicMode } from './chmod.js';
import type { Stats } from 'node:fs';
import { chmodSync, chownSync, lchownSync, lstatSync, lutimesSync, mkdirSync, utimesSync, unlinkSync } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { resolveInRootSync } from './root-path.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Metadata to set on a written entry; directories get theirs after their contents, so mtimes survive. */
export interface EntryMeta {
  hostPath: string;
  owner: Owner;
  /** Full mode bits incl. setuid/setgid/sticky; ignored for symlinks. */
  mode: number;
  atime: Date;
  mtime: Date;
  symlink: boolean;
}

/**
 * `mkdir -p` for an in-image path inside `destRoot`, following symlinks as if chrooted (so it never leaves
 * destRoot). Missing dirs are created 0755 and owned by `owner` (BuildKit chowns created parents too).
 */
export async function ensureDirInRoot(destRoot: string, inImage: string, owner: Owner): Promise<string> {
  const parts = inImage.split('/').filter((part) => part !== '' && part !== '.');
  let current = '';
  for (const part of parts) {
    current = part === '..' ? path.posix.dirname(current) : `${current}/${part}`;
    const hostPath = resolveInRootSync(destRoot, current);
    const existing = lstatQuiet(hostPath);
    if (!existing) {
      mkdirSync(hostPath);
      chownSync(hostPath, owner.uid, owner.gid);
      chmodSync(hostPath, 0o755); // bypass the process umask
    } else if (!existing.isDirectory()) {
      throw new BuildError('INVALID_ARGUMENT', `cannot copy to non-directory: ${current}`);
    }
  }
  return resolveInRootSync(destRoot, inImage);
}

/**
 * Makes room for a non-directory at `target`: removes a file or symlink there, refuses to replace a directory.
 * Sync, as applyMeta: one metadata syscall each, which a thread-pool round trip per call would cost several times over.
 */
export function clearForFile(target: string, inImage: string): void {
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (!existing) return;
  if (existing.isDirectory()) {
    throw new BuildError('INVALID_ARGUMENT', `cannot replace directory ${inImage} with a file`);
  }
  unlinkSync(target);
}

/** Like clearForFile, but a tar entry may replace anything except a directory by a directory (Docker's untar). */
export async function clearForArchiveEntry(target: string, willBeDir: boolean): Promise<Stats | undefined> {
  const existing = await lstat(target).catch(() => undefined);
  if (!existing) return undefined;
  if (existing.isDirectory() && willBeDir) return existing;
  await rm(target, { recursive: true, force: true });
  return undefined;
}

/** chown before chmod: chown clears setuid/setgid bits. Sync: see clearForFile. */
export function applyMeta(meta: EntryMeta): void {
  if (meta.symlink) {
    lchownSync(meta.hostPath, meta.owner.uid, meta.owner.gid);
    lutimesSync(meta.hostPath, meta.atime, meta.mtime);
    return;
  }
  chownSync(meta.hostPath, meta.owner.uid, meta.owner.gid);
  chmodSync(meta.hostPath, meta.mode & 0o7777);
  utimesSync(meta.hostPath, meta.atime, meta.mtime);
}

/** Owner of a copied entry: --chown, else root for the context (its transfer resets owners), else the source's own (COPY --from keeps it, as BuildKit does). */
export function ownerFor(stat: Stats, isContext: boolean, chown: Owner | undefined): Owner {
  if (chown) return chown;
  return isContext ? { uid: 0, gid: 0 } : { uid: stat.uid, gid: stat.gid };
}

/** --chmod replaces the permission bits but keeps setuid/setgid/sticky, as BuildKit does. */
export function modeFor(stat: Pick<Stats, 'mode' | 'isDirectory'>, chmod: number | string | undefined): number {
  const mode = stat.mode & 0o7777;
  if (typeof chmod === 'string') return applySymbolicMode(chmod, mode, stat.isDirectory());
  return chmod === undefined ? mode : (mode & 0o7000) | (chmod & 0o7777);
}

/** lstat that answers undefined for a path that is missing or cannot exist (ENOTDIR on the way). */
function lstatQuiet(file: string): Stats | undefined {
  try {
    return lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
