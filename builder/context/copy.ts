import { copyFileSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, type Stats } from 'node:fs';
import { copyFile, lstat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { detectArchive, extractArchive } from './archive.js';
import type { CopyOptions, CopySource } from './copy-types.js';
import { applyMeta, clearForFile, ensureDirInRoot, modeFor, ownerFor, type EntryMeta, type Owner } from './dest-fs.js';
import { createMatcher } from './ignore.js';
import { resolveInRoot } from './root-path.js';
import { isDirDest, resolveSources } from './sources.js';
import { filtersFor, walkTree, type TreeEntry } from './walk.js';

export type { CopyOptions, CopySource } from './copy-types.js';
export { digestSources } from './digest.js';

const ROOT: Owner = { uid: 0, gid: 0 };
const YIELD_EVERY = 256;
const LARGE_FILE = 1024 * 1024;

/**
 * Copies COPY/ADD sources into `destRoot` (the writable merged dir) following Docker/BuildKit rules: a directory
 * source copies its contents; dest ending in `/` or an existing directory receives sources inside it; created
 * parents are 0755 owned by --chown (else 0:0); context files become 0:0, stage files keep their owner.
 */
export async function copyInto(source: CopySource, destRoot: string, options: CopyOptions): Promise<void> {
  const items = await resolveSources(source, options);
  const createdOwner = options.chown ?? ROOT;
  const exclude = options.exclude.length > 0 ? createMatcher(options.exclude) : undefined;
  const now = new Date();
  for (const item of items) {
    if (item.kind === 'inline') {
      const target = await fileTarget(destRoot, options.dest, item.name, createdOwner);
      clearForFile(target, options.dest);
      await writeFile(target, item.content);
      applyMeta({ hostPath: target, owner: createdOwner, mode: modeFor({ mode: 0o644, isDirectory: () => false }, options.chmod), atime: now, mtime: now, symlink: false });
      continue;
    }
    const destInImage = options.parents ? path.posix.join(options.dest, item.parentsRel) : options.dest;
    if (item.stat.isDirectory()) {
      const targetDir = await ensureDirInRoot(destRoot, destInImage, createdOwner);
      const entries = await walkTree(item.hostPath, filtersFor(source, item.hostPath, exclude));
      await copyTree(targetDir, entries, { source, options });
      continue;
    }
    if (options.add && options.unpack !== false) {
      const kind = await detectArchive(item.hostPath);
      if (kind) {
        // moby's chrootarchive.Untar (BuildKit's unpack) chroots into the dest dir: the archive's paths and the
        // symlinks it meets, absolute ones too, resolve inside dest, not inside the image's root.
        const destHost = await ensureDirInRoot(destRoot, destInImage, createdOwner);
        await extractArchive(item.hostPath, kind, destHost, '/', options.chown);
        continue;
      }
    }
    const target = options.parents
      ? await fileTarget(destRoot, destInImage, '', createdOwner)
      : await fileTarget(destRoot, options.dest, item.name, createdOwner);
    const meta = await copyEntry(item.hostPath, item.stat, target, options.dest, { source, options });
    if (meta) applyMeta(meta);
  }
}

interface CopyContext {
  source: CopySource;
  options: CopyOptions;
}

/**
 * Where a single file lands: inside dest when dest ends with `/` or is an existing directory (symlinks in dest
 * followed within destRoot), else at dest itself. `name` empty means dest is always the file's path.
 */
async function fileTarget(destRoot: string, dest: string, name: string, owner: Owner): Promise<string> {
  if (name !== '') {
    if (isDirDest(dest)) return path.join(await ensureDirInRoot(destRoot, dest, owner), name);
    const existing = await lstat(await resolveInRoot(destRoot, dest)).catch(() => undefined);
    if (existing?.isDirectory()) return path.join(await resolveInRoot(destRoot, dest), name);
  }
  const parent = path.posix.dirname(path.posix.join('/', dest));
  await ensureDirInRoot(destRoot, parent, owner);
  return resolveInRoot(destRoot, dest);
}

/**
 * Copies a walked directory's contents; directory metadata is applied last (children would bump mtimes).
 * Sync syscalls with a yield every YIELD_EVERY entries, as walkTree: a small file is ~6 syscalls, and through the
 * thread pool each costs a round trip (503 files of bench-multi: ~1.8 ms a file under load, mostly waiting).
 */
async function copyTree(targetDir: string, entries: TreeEntry[], ctx: CopyContext): Promise<void> {
  const dirMetas: EntryMeta[] = [];
  let sinceYield = 0;
  for (const entry of entries) {
    if (++sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const target = path.join(targetDir, ...entry.rel.split('/'));
    const inImage = path.posix.join(ctx.options.dest, entry.rel);
    const meta = await copyEntry(entry.hostPath, entry.stat, target, inImage, ctx);
    if (!meta) continue;
    if (entry.stat.isDirectory()) dirMetas.push(meta);
    else applyMeta(meta);
  }
  for (const meta of dirMetas.reverse()) applyMeta(meta);
}

/** Writes one entry (not following symlinks at `target`) and returns the metadata it should get. */
async function copyEntry(hostPath: string, stat: Stats, target: string, inImage: string, ctx: CopyContext): Promise<EntryMeta | undefined> {
  const meta: EntryMeta = {
    hostPath: target,
    owner: ownerFor(stat, ctx.source.isContext, ctx.options.chown),
    mode: modeFor(stat, ctx.options.chmod),
    atime: stat.atime,
    mtime: stat.mtime,
    symlink: stat.isSymbolicLink(),
  };
  // Direct calls for metadata and small files (most of a COPY's entries); a large file's bytes go through the thread
  // pool so a long copy does not hold the event loop.
  if (stat.isDirectory()) {
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (!existing) mkdirSync(target);
    else if (!existing.isDirectory()) throw new BuildError('INVALID_ARGUMENT', `cannot copy to non-directory: ${inImage}`);
    return meta;
  }
  if (stat.isFile()) {
    clearForFile(target, inImage);
    // A big file's copy would hold the event loop (other stages, progress) for its whole length.
    if (stat.size > LARGE_FILE) await copyFile(hostPath, target);
    else copyFileSync(hostPath, target);
    return meta;
  }
  if (stat.isSymbolicLink()) {
    clearForFile(target, inImage);
    symlinkSync(readlinkSync(hostPath), target);
    return meta;
  }
  return undefined; // sockets, fifos and devices in a context are skipped, as the context transfer does
}
