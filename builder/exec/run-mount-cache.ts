/**
 * `RUN --mount=type=cache`: a directory that outlives the build, keyed by `id` (default: the target as
 * written) plus the `from`/`source` it starts from. It lives in `<store root>/cache-mounts/<key hash>/`,
 * never in a layer, and `--no-cache` leaves it alone, as in BuildKit.
 *
 *   data/        the cache (`shared` and `locked` use only this one)
 *   data-N/      more copies made for concurrent `private` writers, reused later
 *   *.lock       who holds which copy (`locked`, `private`)
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunMount } from '../dockerfile/types.js';
import { BuildError } from '../errors.js';
import { openBindSource, bindSourceRel, type OpenedMount } from './run-mount-bind.js';
import { tryLock, waitLock, type HeldLock } from '../store/file-lock.js';
import type { StepContext } from './types.js';

export type CacheMount = Extract<RunMount, { type: 'cache' }>;

const KEY_VERSION = 'builder.cache-mount.v1';
/** Concurrent private writers beyond this wait for a copy to free up rather than make more. */
const MAX_PRIVATE_COPIES = 32;

/** The cache's id as BuildKit defaults it: the target as written, cleaned. */
export function cacheMountId(mount: Pick<CacheMount, 'id' | 'target'>): string {
  return mount.id ?? path.posix.normalize(mount.target);
}

/** `<store root>/cache-mounts/<sha256 of id, from and source>`. */
export async function cacheMountDir(mount: CacheMount, ctx: Pick<StepContext, 'store' | 'fromSource'>): Promise<string> {
  const fromKey = mount.from ? (await ctx.fromSource(mount.from)).key : null;
  const key = JSON.stringify([KEY_VERSION, cacheMountId(mount), fromKey, mount.from ? bindSourceRel(mount) : null]);
  return path.join(ctx.store.root, 'cache-mounts', createHash('sha256').update(key).digest('hex'));
}

/** Opens a cache mount at `target` (already absolute), holding its lock until release. */
export async function openCacheMount(mount: CacheMount, target: string, ctx: StepContext): Promise<OpenedMount> {
  const dir = await cacheMountDir(mount, ctx);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'id'), `${cacheMountId(mount)}\n`, { flag: 'wx' }).catch(() => undefined);
  let slot = 'data';
  let lock: HeldLock | undefined;
  if (mount.sharing === 'locked') {
    lock = await waitLock(path.join(dir, 'data.lock'), { signal: ctx.signal, pollMs: 50 });
  } else if (mount.sharing === 'private' && !mount.readonly) {
    ({ slot, lock } = await privateSlot(dir, ctx.signal));
  }
  try {
    const hostPath = await ensureSlot(dir, slot, mount, ctx);
    return { mount: { type: 'bind', source: hostPath, target, readonly: mount.readonly }, release: async () => { await lock?.release(); } };
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

/** The first copy no other writer holds: `data`, then `data-1`, `data-2`, … (made on demand). */
async function privateSlot(dir: string, signal?: AbortSignal): Promise<{ slot: string; lock: HeldLock }> {
  for (;;) {
    for (let index = 0; index < MAX_PRIVATE_COPIES; index++) {
      const slot = index === 0 ? 'data' : `data-${index}`;
      const lock = await tryLock(path.join(dir, `${slot}.lock`));
      if (lock) return { slot, lock };
    }
    if (signal?.aborted) throw new BuildError('CANCELLED', 'build cancelled');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The copy's directory, created on first use (under a lock, then renamed into place, so a concurrent
 * user never sees it half made): empty with mode/uid/gid (default 0755, 0:0), or seeded from `from`.
 */
async function ensureSlot(dir: string, slot: string, mount: CacheMount, ctx: StepContext): Promise<string> {
  const slotPath = path.join(dir, slot);
  if (await isDirectory(slotPath)) return slotPath;
  const creating = await waitLock(path.join(dir, 'create.lock'), { signal: ctx.signal, pollMs: 50 });
  try {
    if (await isDirectory(slotPath)) return slotPath;
    const fresh = await mkdtemp(path.join(dir, `.new-${process.pid}-`));
    try {
      if (mount.from) await seedFrom(mount, fresh, ctx);
      if (!mount.from || mount.mode !== undefined) await chmod(fresh, mount.mode ?? 0o755);
      if (!mount.from || mount.uid !== undefined || mount.gid !== undefined) await chown(fresh, mount.uid ?? 0, mount.gid ?? 0);
      await rename(fresh, slotPath);
    } catch (err) {
      await rm(fresh, { recursive: true, force: true });
      throw err;
    }
    return slotPath;
  } finally {
    await creating.release();
  }
}

/** Copies the `from` stage's `source` directory (with owners, modes, links) as the cache's start. */
async function seedFrom(mount: CacheMount, fresh: string, ctx: StepContext): Promise<void> {
  const source = await openBindSource(mount, ctx);
  try {
    if (!source.stat.isDirectory()) {
      throw new BuildError('INVALID_ARGUMENT', `RUN --mount=type=cache: source "${bindSourceRel(mount) || '.'}" is not a directory`);
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn('cp', ['-a', '--', `${source.hostPath}/.`, `${fresh}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.on('error', reject);
      child.on('close', (code) => code === 0 ? resolve() : reject(new BuildError('INTERNAL', `seeding cache mount failed: ${stderr.trim()}`)));
    });
  } finally {
    await source.release();
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then((info) => info.isDirectory(), () => false);
}
