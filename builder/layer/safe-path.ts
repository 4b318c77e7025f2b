/**
 * Path confinement for extraction: entry names are cleaned lexically, and every parent directory is checked to be
 * a real directory (never a symlink) before anything is created under it, so nothing is written outside the target.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.js';

function invalid(message: string): BuildError {
  return new BuildError('LAYER_INVALID', message);
}

/**
 * Cleans a tar entry name to a relative path ("" for the root). A leading "/" means the archive root, as in
 * docker; a ".." that would climb above the root is rejected.
 */
export function cleanEntryPath(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw invalid(`invalid tar archive: ${what} "${name}" contains a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw invalid(`invalid tar archive: ${what} "${name}" points outside the extraction root`);
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

export function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Tracks which relative directories under `root` are known to be real directories. */
export class DirectoryGuard {
  private readonly known = new Set<string>(['']);

  constructor(readonly root: string) {}

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Makes sure every component of `dirRel` is a real directory, creating missing ones (mode 0755). */
  ensureDir(dirRel: string, entryName: string): void {
    if (this.known.has(dirRel)) return;
    let prefix = '';
    for (const part of dirRel.split('/')) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.known.has(prefix)) continue;
      const abs = this.abs(prefix);
      let stat;
      try {
        stat = lstatSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(abs, 0o755);
        this.known.add(prefix);
        continue;
      }
      if (stat.isSymbolicLink()) {
        throw invalid(`invalid tar archive: entry "${entryName}" would be written through the symlink "${prefix}"`);
      }
      if (!stat.isDirectory()) throw invalid(`invalid tar archive: entry "${entryName}" needs "${prefix}" to be a directory, but it is not`);
      this.known.add(prefix);
    }
  }

  /** Re-checks (without the cache) that no component of `dirRel` is a symlink; for deferred operations. */
  verifyDir(dirRel: string, entryName: string): void {
    let prefix = '';
    for (const part of dirRel === '' ? [] : dirRel.split('/')) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      const stat = lstatSync(this.abs(prefix));
      if (!stat.isDirectory()) throw invalid(`invalid tar archive: entry "${entryName}": "${prefix}" is no longer a directory`);
    }
  }

  markDir(rel: string): void {
    this.known.add(rel);
  }

  /** Forgets `rel` and everything below it (it was removed or replaced). */
  forget(rel: string): void {
    this.known.delete(rel);
    const prefix = rel + '/';
    for (const dir of this.known) if (dir.startsWith(prefix)) this.known.delete(dir);
  }
}
