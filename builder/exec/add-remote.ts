/**
 * ADD of remote sources: `http(s)://` files and git repositories. Local sources of the same ADD still go
 * through the context copy (exec/copy.ts); this file fetches the remote ones and copies them into the snapshot.
 *
 * Cache keys: a URL with `--checksum` is keyed by that checksum (no download until the step runs); without one
 * the file is downloaded when the key is computed and keyed by its content digest (BuildKit also fetches, using
 * ETag/Last-Modified to skip unchanged content; we always fetch, which is correct but not free). The download
 * is kept for the rest of the build so the step reuses it. A git source is keyed by its resolved commit.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CopyStep } from '../dockerfile/types.js';
import { BuildError, errorMessage } from '../errors.js';
import { copyInto } from '../context/copy.js';
import { resolveInRoot } from '../context/root-path.js';
import { isDirDest } from '../context/sources.js';
import { digestOf } from '../../cache/key.js';
import { checkGitUrl, PERMISSIVE_GIT_POLICY } from '../git-policy.js';
import { checkoutGit, gitCacheRecord, isGitSource, lsRemoteCommit, parseGitSource, type GitCheckout } from './add-git.js';
import type { StepContext } from './types.js';

/** A downloaded URL: the file on disk, its content digest and the mtime it gets in the image. */
export interface RemoteFile {
  path: string;
  digest: string;
  mtime: Date;
}

export function isHttpSource(source: string): boolean {
  return /^https?:\/\//i.test(source) && !isGitSource(source);
}

/** Whether an ADD source is fetched here rather than read from the context. */
export function isRemoteSource(step: CopyStep, source: string): boolean {
  return step.op === 'ADD' && !step.heredocs.some((doc) => doc.name === source) && (isHttpSource(source) || isGitSource(source));
}

/** The sources of a COPY/ADD that come from the context (or `--from`). */
export function localSources(step: CopyStep): string[] {
  return step.sources.filter((source) => !isRemoteSource(step, source));
}

/** BuildKit's file name for a URL: the last path segment, or `__unnamed__`. */
export function urlFileName(url: string): string {
  const base = path.posix.basename(new URL(url).pathname);
  return base === '' || base === '.' || base === '/' ? '__unnamed__' : decodeURIComponent(base);
}

/** Per-build fetch results (downloads, clones), memoized in the build's session, removed when the build ends. */
function memoized<T>(ctx: StepContext, key: string, fetch: (dir: string) => Promise<T>): Promise<T> {
  return ctx.session.memo(`remote:${key}`, async () => {
    const dir = ctx.store.tempPath('remote');
    await mkdir(dir, { recursive: true });
    try {
      const value = await fetch(dir);
      ctx.session.removeAtEnd(dir);
      return value;
    } catch (err) {
      // A failed fetch is retried by the next step that asks, and leaves no directory behind.
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  });
}

/** Redirects followed by a download whose every hop is checked (fetch's own limit is 20). */
const MAX_CHECKED_REDIRECTS = 10;

/**
 * Downloads `url` into `dir`, hashing as it streams; `Last-Modified` becomes the mtime (else the epoch, as BuildKit).
 * `checkHop` (the build network's egress rule) is asked before the first request and before every redirect.
 */
export async function downloadUrl(url: string, dir: string, signal?: AbortSignal, checkHop?: (url: string) => Promise<void>): Promise<RemoteFile> {
  let response: Response;
  try {
    response = await fetchFollowing(url, signal, checkHop);
  } catch (err) {
    if (err instanceof BuildError) throw err;
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
    throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: cannot download ${url}: ${reason}`, { cause: err });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: GET ${url} returned ${response.status} ${response.statusText}`);
  }
  const filePath = path.join(dir, 'download');
  const hash = createHash('sha256');
  const hasher = new Transform({ transform(chunk: Buffer, _encoding, done) { hash.update(chunk); done(null, chunk); } });
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hasher, createWriteStream(filePath));
  } catch (err) {
    throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: downloading ${url} broke off: ${errorMessage(err)}`, { cause: err });
  }
  const lastModified = response.headers.get('last-modified');
  const parsed = lastModified ? new Date(lastModified) : undefined;
  const mtime = parsed && !Number.isNaN(parsed.getTime()) ? parsed : new Date(0);
  return { path: filePath, digest: `sha256:${hash.digest('hex')}`, mtime };
}

async function fetchFollowing(url: string, signal: AbortSignal | undefined, checkHop: ((url: string) => Promise<void>) | undefined): Promise<Response> {
  if (!checkHop) return fetch(url, { redirect: 'follow', signal });
  let current = url;
  for (let hop = 0; ; hop++) {
    await checkHop(current);
    const response = await fetch(current, { redirect: 'manual', signal });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    if (hop >= MAX_CHECKED_REDIRECTS) throw new BuildError('COPY_SOURCE_MISSING', `ADD failed: cannot download ${url}: more than ${MAX_CHECKED_REDIRECTS} redirects`);
    current = new URL(location, current).toString();
  }
}

/** `sha256:…`, `sha384:…` or `sha512:…`, as ADD --checksum takes it. */
export function parseChecksum(checksum: string): { algorithm: string; hex: string } {
  const match = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(checksum);
  const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  if (!match || match[2]!.length !== lengths[match[1]!]) {
    throw new BuildError('DOCKERFILE_INVALID', `invalid checksum "${checksum}": want sha256:<64 hex digits> (or sha384/sha512)`);
  }
  return { algorithm: match[1]!, hex: match[2]! };
}

/** Throws naming the URL, the expected and the actual digest when the file does not match `--checksum`. */
async function verifyChecksum(url: string, file: RemoteFile, checksum: string): Promise<void> {
  const { algorithm, hex } = parseChecksum(checksum);
  const actual = algorithm === 'sha256' ? file.digest : `${algorithm}:${await hashFile(file.path, algorithm)}`;
  if (actual !== `${algorithm}:${hex}`) {
    throw new BuildError('INVALID_ARGUMENT', `ADD failed: checksum mismatch for ${url}: expected ${checksum}, got ${actual}`);
  }
}

async function hashFile(filePath: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(filePath), hash);
  return hash.digest('hex');
}

/** A checkout for this build; without --keep-git-dir its .git is dropped right away. */
function clone(ctx: StepContext, source: string, keepGitDir: boolean): Promise<GitCheckout & { tree: string }> {
  return memoized(ctx, `git:${keepGitDir}:${source}`, async (dir) => {
    const policy = ctx.gitPolicy ?? PERMISSIVE_GIT_POLICY;
    // Submodules follow the same rule as the repository: file:// ones only where the policy allows file://.
    const checkout = await checkoutGit(parseGitSource(source)!, dir, ctx.signal, policy.schemes.includes('file'));
    const tree = path.join(dir, 'tree');
    if (!keepGitDir) await rm(path.join(tree, '.git'), { recursive: true, force: true });
    return { ...checkout, tree };
  });
}

function download(ctx: StepContext, url: string): Promise<RemoteFile> {
  return memoized(ctx, `url:${url}`, (dir) => downloadUrl(url, dir, ctx.signal, egressCheck(ctx, 'ADD')));
}

/**
 * On the isolated build network (the farm's default) the engine's own fetches obey the RUN firewall's rule: they
 * run in the worker's network, so without this an ADD could reach the worker's loopback (Redis) or metadata services.
 */
function egressCheck(ctx: StepContext, what: string): ((url: string) => Promise<void>) | undefined {
  if (ctx.network !== 'isolated') return undefined;
  const policy = ctx.networkPolicy ?? { allowCidrs: [], denyCidrs: [] };
  return async (url) => (await import('../network/egress-check.js')).checkEgress(url, policy, what);
}

function checkSourceCount(step: CopyStep): void {
  if (step.sources.length > 1 && !isDirDest(step.dest)) {
    throw new BuildError('DOCKERFILE_INVALID', `When using ${step.op} with more than one source file, the destination must be a directory and end with a /`);
  }
}

/** The cache input of an ADD's remote sources, or undefined when it has none. */
export async function remoteInputsDigest(step: CopyStep, ctx: StepContext): Promise<string | undefined> {
  const remote = step.sources.filter((source) => isRemoteSource(step, source));
  if (remote.length === 0) return undefined;
  checkSourceCount(step);
  if (step.checksum !== undefined && (remote.length !== 1 || !isHttpSource(remote[0]!))) {
    throw new BuildError('DOCKERFILE_INVALID', 'ADD --checksum needs exactly one http(s) source');
  }
  const records: unknown[] = [];
  for (const source of remote) {
    const git = parseGitSource(source);
    if (git) {
      checkGitUrl(git.url, ctx.gitPolicy ?? PERMISSIVE_GIT_POLICY);
      await egressCheck(ctx, 'ADD')?.(git.url);
      const commit = (await lsRemoteCommit(git, ctx.signal)) ?? (await clone(ctx, source, step.keepGitDir === true)).commit;
      records.push(gitCacheRecord(git, commit, step.keepGitDir === true));
    } else if (step.checksum !== undefined) {
      records.push(['url', urlFileName(source), parseChecksum(step.checksum)]);
    } else {
      const file = await download(ctx, source);
      records.push(['url', urlFileName(source), file.digest, file.mtime.getTime()]);
    }
  }
  return digestOf(JSON.stringify(['builder.add-remote.v1', records]));
}

/** Copies an ADD's remote sources into `destRoot` at `dest` (absolute in the image). A downloaded archive is extracted only with `--unpack=true`. */
export async function addRemoteSources(
  step: CopyStep, ctx: StepContext, destRoot: string, dest: string, chown: { uid: number; gid: number } | undefined, chmodBits: number | string | undefined,
): Promise<void> {
  const remote = step.sources.filter((source) => isRemoteSource(step, source));
  if (remote.length === 0) return;
  checkSourceCount(step);
  const copyOptions = { dest, chown, chmod: chmodBits, add: false, exclude: [], parents: false };
  for (const source of remote) {
    const git = parseGitSource(source);
    if (git) {
      const { tree } = await clone(ctx, source, step.keepGitDir === true);
      // Symlinks in the subdir are resolved inside the work tree, never on the host.
      const root = git.subdir ? await resolveInRoot(tree, git.subdir) : tree;
      await copyInto({ root, isContext: false }, destRoot, { ...copyOptions, sources: ['.'] });
      continue;
    }
    const file = await download(ctx, source);
    if (step.checksum !== undefined) await verifyChecksum(source, file, step.checksum);
    // Stage the file under its image name with BuildKit's mode (0600) and mtime, then copy it like any source.
    const staging = ctx.store.tempPath('add-url');
    const name = urlFileName(source);
    try {
      await mkdir(staging);
      const staged = path.join(staging, name);
      await copyFile(file.path, staged);
      await chmod(staged, 0o600);
      await utimes(staged, file.mtime, file.mtime);
      await copyInto({ root: staging, isContext: false }, destRoot, { ...copyOptions, add: step.unpack === true, unpack: step.unpack === true, sources: [name] });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}
