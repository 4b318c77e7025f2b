import type { Stats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { CopySource } from './copy-types.js';
import { canSkipExcludedDir, type IgnoreMatcher } from './ignore.js';

const YIELD_EVERY = 512;

/** One file, directory or symlink found below a copied directory. */
export interface TreeEntry {
  /** Path relative to the walked directory, `/`-separated. */
  rel: string;
  hostPath: string;
  stat: Stats;
}

/** What a walk leaves out. */
export interface WalkFilters {
  /** The context's .dockerignore, matched against `ignorePrefix/rel` (paths relative to the context root). */
  ignore?: IgnoreMatcher;
  ignorePrefix?: string;
  /** COPY --exclude, matched against `rel`. */
  exclude?: IgnoreMatcher;
}

/**
 * Lists everything below `top` (not `top` itself) in pre-order, names sorted, without following symlinks.
 * An excluded directory is kept only when an exception re-includes something inside it.
 */
export async function walkTree(top: string, filters: WalkFilters): Promise<TreeEntry[]> {
  const prefix = filters.ignorePrefix ? `${filters.ignorePrefix}/` : '';
  const isExcluded = (rel: string): { excluded: boolean; skippable: boolean } => {
    if (filters.ignore?.(prefix + rel)) return { excluded: true, skippable: canSkipExcludedDir(filters.ignore) };
    if (filters.exclude?.(rel)) return { excluded: true, skippable: canSkipExcludedDir(filters.exclude) };
    return { excluded: false, skippable: false };
  };

  // Sync calls with periodic yields: for many small entries they are several times faster than
  // promise-based fs (no thread-pool round trip per call), and the event loop still gets to run.
  let sinceYield = 0;
  const visit = async (dirHost: string, dirRel: string): Promise<TreeEntry[]> => {
    const out: TreeEntry[] = [];
    for (const name of readdirSync(dirHost).sort()) {
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const rel = dirRel ? `${dirRel}/${name}` : name;
      const hostPath = path.join(dirHost, name);
      const stat = lstatSync(hostPath);
      const { excluded, skippable } = isExcluded(rel);
      if (!stat.isDirectory()) {
        if (!excluded) out.push({ rel, hostPath, stat });
        continue;
      }
      if (excluded && skippable) continue;
      const below = await visit(hostPath, rel);
      if (excluded && below.length === 0) continue;
      out.push({ rel, hostPath, stat }, ...below);
    }
    return out;
  };
  return visit(top, '');
}

/** The filters for walking a copied directory: the context's ignore file (context only) and --exclude. */
export function filtersFor(source: CopySource, dirHostPath: string, exclude: IgnoreMatcher | undefined): WalkFilters {
  if (!source.isContext) return { exclude };
  const ignorePrefix = path.relative(path.resolve(source.root), dirHostPath).split(path.sep).join('/');
  return { exclude, ignore: source.ignore, ignorePrefix };
}
