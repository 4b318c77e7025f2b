/**
 * ADD of a git repository (`ADD https://host/repo.git#ref:subdir /dest`, `git@host:repo.git`, `git://…`,
 * `ssh://…`, and `file://` URLs for local repositories): resolve the ref to a commit, fetch it shallowly,
 * check it out. The commit (not the URL) decides the cache key, as in BuildKit.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { gitCheckout, GitCommandError, gitOutput } from '../context/git-checkout.js';
import { resolveInRoot } from '../context/root-path.js';

/** A git source as written in ADD: the URL to fetch, and the `#ref:subdir` fragment. */
export interface GitSource {
  url: string;
  /** Branch, tag or commit; the remote's HEAD when absent. */
  ref?: string;
  /** Directory inside the repository to copy instead of its root. */
  subdir?: string;
}

/** A checked-out commit: the work tree is `<dir>/tree`. */
export interface GitCheckout {
  commit: string;
}

/**
 * Parses a git source, or returns undefined for anything else. As BuildKit: `git://`, `ssh://`, `git@host:`
 * always; `http(s)://` only when the path ends in `.git`. `file://` is ours (ADD has no other use for it).
 */
export function parseGitSource(source: string): GitSource | undefined {
  const hash = source.indexOf('#');
  const url = hash < 0 ? source : source.slice(0, hash);
  const fragment = hash < 0 ? '' : source.slice(hash + 1);
  const isGit = /^(git|ssh|file):\/\//i.test(url) || /^[\w.-]+@[\w.-]+:/.test(url) || (/^https?:\/\//i.test(url) && /\.git\/?$/.test(new URL(url).pathname));
  if (!isGit) return undefined;
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  if (ref.startsWith('-')) throw new BuildError('DOCKERFILE_INVALID', `invalid git ref "${ref}" in ${source}`);
  const cleanSubdir = path.posix.normalize(`/${subdir}`).slice(1).replace(/\/$/, '');
  return { url, ref: ref || undefined, subdir: cleanSubdir || undefined };
}

export function isGitSource(source: string): boolean {
  try {
    return parseGitSource(source) !== undefined;
  } catch {
    return true; // a git URL with a bad fragment: let the step report it
  }
}

/** The canonical cache record of a git source: commit, subdir and --keep-git-dir decide the files copied. */
export function gitCacheRecord(source: GitSource, commit: string, keepGitDir: boolean): unknown[] {
  // With .git kept, its config names the URL, so the URL becomes content too.
  return ['git', commit, source.subdir ?? '', keepGitDir, keepGitDir ? source.url : ''];
}

/** ADD's git: no system config (a machine's gitconfig must not change what a Dockerfile fetches). */
const ADD_GIT_ENV = { GIT_CONFIG_NOSYSTEM: '1' };

/** git failures as ADD reports them (the step's source is missing, not an engine fault). */
async function asAddError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof GitCommandError) {
      const tail = err.stderr.trim().split('\n').slice(-3).join('\n');
      throw new BuildError('COPY_SOURCE_MISSING', err.refNotFound ? `ADD failed: ${err.what}` : `ADD failed: ${err.what}: ${tail}`);
    }
    if (err instanceof BuildError && err.code === 'INTERNAL') throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: ${err.message}`, { cause: err });
    throw err;
  }
}

const FULL_SHA = /^[0-9a-f]{40}$/;

/**
 * The commit `source.ref` names, from `git ls-remote` (no clone); undefined when the remote does not
 * advertise it (an abbreviated commit), in which case only a checkout can tell.
 */
export async function lsRemoteCommit(source: GitSource, signal?: AbortSignal): Promise<string | undefined> {
  const ref = source.ref ?? 'HEAD';
  if (FULL_SHA.test(ref)) return ref;
  const out = await asAddError(() => gitOutput(['ls-remote', '--', source.url, ref], `cannot list refs of ${source.url}`, undefined, { signal, allowFile: true, env: ADD_GIT_ENV }));
  const refs = new Map(out.split('\n').filter(Boolean).map((line) => {
    const [sha, name] = line.split('\t');
    return [name!, sha!] as const;
  }));
  // git's own precedence: the exact name, then tags (peeled to their commit), then branches.
  const candidates = ref === 'HEAD' ? ['HEAD'] : [ref, `refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`];
  for (const name of candidates) if (refs.has(name)) return refs.get(name);
  return undefined;
}

/** Fetches `source.ref` into `<dir>/tree` (depth 1 where the remote allows it) and checks it out, submodules included. */
export async function checkoutGit(source: GitSource, dir: string, signal?: AbortSignal, allowFileSubmodules = true): Promise<GitCheckout> {
  const tree = path.join(dir, 'tree');
  const ref = source.ref ?? 'HEAD';
  const commit = await asAddError(() => gitCheckout(source.url, ref, tree, {
    signal, allowFile: allowFileSubmodules, fullFallback: true, submodules: true, env: ADD_GIT_ENV,
  }));
  if (source.subdir) {
    const info = await stat(await resolveInRoot(tree, source.subdir)).catch(() => undefined);
    if (!info?.isDirectory()) throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: "${source.subdir}" is not a directory in ${source.url} at ${ref}`);
  }
  return { commit };
}
