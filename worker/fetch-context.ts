/**
 * Puts a BuildRequest's context into a directory: an uploaded tar from Redis (safely extracted: no `..`,
 * no writes through symlinks), or a shallow git fetch of one ref or commit.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BuildError, errorMessage } from '../builder/errors.js';
import { gitCheckout, GitCommandError } from '../builder/context/git-checkout.js';
import { extractTarStream } from '../builder/layer/extract-tar.js';
import type { ContextSource } from '../builder/request.js';
import type { BuildRecords } from './build-records.js';

const GIT_TIMEOUT_MS = 5 * 60_000;

export async function fetchContext(source: ContextSource, dir: string, records: BuildRecords, signal?: AbortSignal, allowFile = false): Promise<void> {
  if (source.kind === 'upload') await extractUpload(source, dir, records);
  else await gitFetch(source.url, source.ref, dir, signal, allowFile);
}

async function extractUpload(source: Extract<ContextSource, { kind: 'upload' }>, dir: string, records: BuildRecords): Promise<void> {
  const data = await records.getContext(source.digest);
  if (!data) {
    // Expired or evicted: the submission cannot be built any more; retrying will not bring it back.
    throw new BuildError('INVALID_ARGUMENT', `the uploaded build context ${source.digest} is no longer stored (expired); submit the build again`);
  }
  const stream = source.gzip ? Readable.from([data]).pipe(createGunzip()) : Readable.from([data]);
  try {
    await extractTarStream(stream, dir, { whiteouts: 'none' });
  } catch (err) {
    throw new BuildError('ARCHIVE_INVALID', `the uploaded build context is not a valid tar: ${errorMessage(err)}`, { cause: err });
  }
}

/** `git fetch --depth 1 origin <ref>` works for branches, tags and (protocol v2) commit shas alike. */
export async function gitFetch(url: string, ref: string, dir: string, signal: AbortSignal | undefined, allowFile: boolean): Promise<void> {
  // The URL was checked against the [git] policy; git's own protocol rule backs it (no ext::, file:// only if allowed).
  try {
    await gitCheckout(url, ref, dir, { signal, allowFile, timeoutMs: GIT_TIMEOUT_MS, env: { GIT_ASKPASS: '/bin/true' } });
  } catch (err) {
    if (err instanceof GitCommandError) throw gitError(err.stderr.trim(), url, ref);
    if (err instanceof BuildError && err.code === 'CANCELLED') throw new BuildError('CANCELLED', 'build cancelled while fetching the git context');
    throw err;
  }
}

/** Unreachable hosts may come back (retry); a missing repository or ref will not (user error). */
function gitError(stderr: string, url: string, ref: string): BuildError {
  const last = stderr.split('\n').filter(Boolean).slice(-2).join(' ').slice(0, 300);
  if (/couldn't find remote ref|not our ref|no such remote ref|unadvertised object/i.test(stderr)) {
    return new BuildError('INVALID_ARGUMENT', `git ref "${ref}" not found in ${url}: ${last}`);
  }
  if (/could not resolve host|connection (refused|timed out|reset)|timed out|temporary failure|HTTP 5\d\d|the remote end hung up/i.test(stderr)) {
    return new BuildError('INTERNAL', `git fetch from ${url} failed (will retry): ${last}`);
  }
  return new BuildError('INVALID_ARGUMENT', `git fetch of "${ref}" from ${url} failed: ${last}`);
}
