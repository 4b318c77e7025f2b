/**
 * Builds and GC keep out of each other's way. A build holds a lease file (`gc/leases/<pid>-<rand>`) while
 * it runs; a GC holds `gc/gc.lock`. Each writes its own file first and then looks for the other's, so
 * at least one of two racing parties sees the other: a build that sees a GC waits for it; a GC that
 * sees a build removes only cache records (a running build may still use any blob or snapshot it
 * looked up earlier). Files of dead processes are ignored and cleaned up.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import { isProcessAlive, withFileLock } from './file-lock.js';
import { whenIdle } from './idle-work.js';
import { reapDeadBuilds } from './reap.js';
import { inSpan, type Span } from '../trace/tracer.js';

const WAIT_STEP_MS = 50;
const WAIT_LIMIT_MS = 10 * 60 * 1000;

/** `$BUILDER_ROOT/gc`: GC state, snapshot sizes, leases. */
export function gcDir(root: string): string {
  return join(root, 'gc');
}

function leasesDir(root: string): string {
  return join(gcDir(root), 'leases');
}

function gcLockPath(root: string): string {
  return join(gcDir(root), 'gc.lock');
}


/** The pid a lock or lease file names, if that process is alive. */
async function livePid(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text ?? '', 10);
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined;
}

/** Runs `fn` as the only GC of the store at `root`. */
export async function withGcLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(gcDir(root), { recursive: true });
  return withFileLock(gcLockPath(root), fn);
}

/** Number of builds holding a lease now (this process's included); removes leases of dead processes. */
export async function activeBuilds(root: string): Promise<number> {
  let count = 0;
  const names = await readdir(leasesDir(root)).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(leasesDir(root), name);
    const pid = await livePid(path);
    if (pid === undefined) await unlink(path).catch(() => undefined);
    else count++;
  }
  return count;
}

/**
 * Runs `fn` (a build) under a lease: waits while a GC is deciding and deleting, and keeps any GC that
 * starts meanwhile from removing blobs or snapshots until `fn` settles.
 */
export async function withBuildLease<T>(root: string, fn: () => Promise<T>, options: { reapAlongside?: boolean; reapWhenIdle?: boolean; span?: Span } = {}): Promise<T> {
  const lease = await inSpan(options.span, 'lease', () => takeLease(root));
  // What a killed builder left (a running container, a mount GC cannot remove, a bundle) is cleaned up here; before
  // a build, or beside work that never touches containers or mounts (a pull: 12–50 ms off its first request), or
  // (a build) while its first RUN's runtime starts (store/idle-work.ts): reaping touches only what dead processes
  // own, never this build's own containers, mounts or bundles, so it need not come first.
  const reap = (): Promise<unknown> => inSpan(options.span, 'reap', () => reapDeadBuilds(join(root, 'tmp')));
  // Alongside means after `fn` has had its first turn: its first request (a pull's manifest GET) goes out before the
  // reap's own synchronous start (~1.5 ms of directory reads and requires) instead of after it.
  const reaping = options.reapAlongside ? new Promise((resolve) => setImmediate(resolve)).then(reap).catch(() => undefined) : undefined;
  const idleReap = options.reapWhenIdle && !reaping ? whenIdle(reap) : undefined;
  try {
    if (!reaping && !idleReap) await reap();
    return await fn();
  } finally {
    // Under the lease still, as before: a build with no RUN reaps here, after its steps.
    await idleReap?.start().catch(() => undefined);
    await reaping;
    await unlink(lease).catch(() => undefined);
  }
}

/** withBuildLease with its lease and reap phases as children of `span` (the build's trace); the reap when idle. */
export function withTracedBuildLease<T>(root: string, span: Span | undefined, fn: () => Promise<T>): Promise<T> {
  return withBuildLease(root, fn, { span, reapWhenIdle: true });
}

/**
 * A second lease for work that outlives the build's own (a pushed build's local save, finished after its result:
 * solver/export-image.ts); returns its release. Taken without waiting for a GC, so only while holding a lease: a GC
 * that starts later sees this one, and a GC already running saw the build's and removes only cache records.
 */
export function extendBuildLease(root: string): () => Promise<void> {
  const lease = join(leasesDir(root), `${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(lease, String(process.pid), { flag: 'wx' });
  return () => unlink(lease).catch(() => undefined);
}

/**
 * Writes this build's lease file once no GC is running (waiting while one is); returns its path. The file calls are
 * direct (no thread pool): five round trips were ~1 ms of every build, a no-op rebuild's included.
 */
async function takeLease(root: string): Promise<string> {
  const dir = leasesDir(root);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const lease = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    writeFileSync(lease, String(process.pid), { flag: 'wx' });
    if (livePidNow(gcLockPath(root)) === undefined) break;
    await unlink(lease).catch(() => undefined);
    if (Date.now() > deadline) {
      throw new BuildError('INTERNAL', `timed out waiting for a garbage collection of ${root} to finish; if no builder process is running, delete ${gcLockPath(root)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  return lease;
}

function livePidNow(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined;
}
