import type { Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { CopyOptions, CopySource } from './copy-types.js';
import { canSkipExcludedDir, createMatcher, type IgnoreMatcher } from './ignore.js';
import { resolveInRoot, resolveInRootSync } from './root-path.js';
import { splitWildcards, wildcardMatch } from './wildcard.js';

/** A heredoc source. */
export interface InlineSource {
  kind: 'inline';
  name: string;
  content: string;
}

/** A file, directory or followed symlink found in the source root. */
export interface PathSource {
  kind: 'path';
  /** The source as written (for messages). */
  written: string;
  /** Path relative to the source root as matched, before following a final symlink. */
  rel: string;
  /** Name a copied file gets inside a directory dest. */
  name: string;
  /** Where it lands under dest with --parents. */
  parentsRel: string;
  /** Host path after following symlinks inside the root. */
  hostPath: string;
  stat: Stats;
}

export type ResolvedSource = InlineSource | PathSource;

/** Resolves every source of a COPY/ADD, in order, with Docker's errors for missing or escaping sources. */
export async function resolveSources(source: CopySource, options: CopyOptions): Promise<ResolvedSource[]> {
  const op = options.add ? 'ADD' : 'COPY';
  // Several sources (or wildcard matches) onto a dest without a trailing `/` are copied one after the other
  // onto that path, as BuildKit's copier does (the reference asks for a `/`, BuildKit does not enforce it).
  const exclude = options.exclude.length > 0 ? createMatcher(options.exclude) : undefined;
  const ignore = source.isContext ? source.ignore : undefined;
  const resolved: ResolvedSource[] = [];
  for (const written of options.sources) {
    const inline = options.inline?.find((candidate) => candidate.name === written);
    if (inline) {
      resolved.push({ kind: 'inline', name: inline.name, content: inline.content });
      continue;
    }
    // `../x` and `/x` name context paths, as in BuildKit (the context is the root `/`): cleaned, never refused.
    const cleaned = cleanPath(written);
    const pivot = parentsPivot(written, options.parents);
    const { base, pattern } = splitWildcards(cleaned);
    if (pattern === '') {
      resolved.push(await resolveLiteral(source, ignore, op, written, cleaned, pivot));
      continue;
    }
    const matches = await matchWildcard(source.root, base, pattern, ignore, exclude);
    for (const rel of matches) resolved.push(await resolveLiteral(source, ignore, op, written, rel, pivot));
  }
  // A wildcard that matches nothing is not an error: BuildKit copies nothing (AllowEmptyWildcard).
  return resolved;
}

/** Dest names a directory to copy into: it ends with `/`, `/.` or is `.` (BuildKit's normalizeDest). */
export function isDirDest(dest: string): boolean {
  return dest.endsWith('/') || dest.endsWith('/.') || dest === '.';
}

/** `/a/./b` → `a/b` relative to the root; `.`, `/` and `` → ``. */
export function cleanPath(written: string): string {
  return path.posix.normalize(`/${written}`).slice(1).replace(/\/+$/, '');
}

/** With --parents, `a/./b/c` keeps only `b/c` under dest; otherwise the whole path is kept. */
function parentsPivot(written: string, parents: boolean): string {
  if (!parents) return '';
  const index = `/${written}`.lastIndexOf('/./');
  return index <= 0 ? '' : cleanPath(written.slice(0, index - 1));
}

async function resolveLiteral(
  source: CopySource,
  ignore: IgnoreMatcher | undefined,
  op: string,
  written: string,
  rel: string,
  pivot: string,
): Promise<PathSource> {
  // Direct calls: each source of every COPY of every build (cached ones too) comes through here.
  const hostPath = resolveInRootSync(source.root, rel);
  const followedRel = path.relative(path.resolve(source.root), hostPath).split(path.sep).join('/');
  const stat = lstatQuiet(hostPath);
  // BuildKit only sees what the context transfer sent, so an ignored path is simply missing.
  const ignored = ignore !== undefined && (ignore(rel) || ignore(followedRel));
  const hidden = ignored && (stat === undefined || !stat.isDirectory() || canSkipExcludedDir(ignore));
  if (!stat || hidden) {
    const shown = rel === '' ? '.' : rel;
    const where = source.isContext ? ' in build context' : '';
    throw new BuildError('COPY_SOURCE_MISSING', `${op} failed: "${shown}" not found${where}`);
  }
  const parentsRel = pivot && (rel === pivot || rel.startsWith(`${pivot}/`)) ? rel.slice(pivot.length).replace(/^\//, '') : rel;
  return { kind: 'path', written, rel, name: path.posix.basename(rel) || '.', parentsRel, hostPath, stat };
}

function lstatQuiet(hostPath: string): Stats | undefined {
  try {
    return lstatSync(hostPath, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Go filepath.Walk + filepath.Match over `base`, as BuildKit resolves wildcards; a matched dir is not entered. */
async function matchWildcard(
  root: string,
  base: string,
  pattern: string,
  ignore: IgnoreMatcher | undefined,
  exclude: IgnoreMatcher | undefined,
): Promise<string[]> {
  const baseHost = await resolveInRoot(root, base);
  const depth = pattern.split('/').length;
  const matches: string[] = [];
  const visit = async (dirHost: string, relToBase: string, level: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dirHost)).sort();
    } catch {
      return; // base missing or not a directory: no matches
    }
    for (const name of names) {
      const rel = relToBase ? `${relToBase}/${name}` : name;
      const relToRoot = base ? `${base}/${rel}` : rel;
      if (ignore?.(relToRoot) && canSkipExcludedDir(ignore)) continue;
      const hostPath = path.join(dirHost, name);
      if (level === depth) {
        if (wildcardMatch(pattern, rel) && !exclude?.(rel) && !ignore?.(relToRoot)) matches.push(relToRoot);
        continue;
      }
      const stat = await lstat(hostPath);
      if (stat.isDirectory()) await visit(hostPath, rel, level + 1);
    }
  };
  await visit(baseHost, '', 1);
  return matches;
}
