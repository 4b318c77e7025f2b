/**
 * `RUN --mount=type=bind`: a path of the build context (or of a stage or image with `from=`) shown at
 * the target. Read-only by default; with `rw` the step may write, but into a throwaway overlay, so
 * neither the context nor the other stage ever changes and nothing reaches the layer.
 */
import type { Stats } from 'node:fs';
import { copyFile, lchown, link, lstat, mkdir, mkdtemp, readlink, rm, symlink, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { RunMount } from '../dockerfile/types.js';
import { BuildError } from '../errors.js';
import { resolveInRoot } from '../context/root-path.js';
import { walkTree } from '../context/walk.js';
import type { IgnoreMatcher } from '../context/ignore.js';
import { mountReadonly, prepareSnapshot } from '../snapshot/mount.js';
import type { SandboxMount } from '../sandbox/spec.js';
import { lowerDirs } from './commit.js';
import type { StepContext } from './types.js';

export type BindMount = Extract<RunMount, { type: 'bind' }>;

/** A host path ready to be mounted, and what to undo once the step is over. */
export interface OpenedMount {
  mount: SandboxMount;
  release(): Promise<void>;
}

/** Where a bind mount's source lives on the host: the context, or a read-only view of another stage. */
export interface BindSource {
  hostPath: string;
  stat: Stats;
  /** Path of the source relative to the context root (context sources only). */
  contextRel?: string;
  release(): Promise<void>;
}

/** The source path as written, relative to its root (`/x`, `x`, `./x` are all the same path). */
export function bindSourceRel(mount: Pick<BindMount, 'source'>): string {
  return path.posix.normalize(`/${mount.source ?? '.'}`).slice(1).replace(/\/+$/, '');
}

/** Resolves a bind (or cache `from`) source and checks it exists; a `.dockerignore`d context path is missing, as in BuildKit. */
export async function openBindSource(
  mount: { source?: string; from?: BindMount['from'] },
  ctx: Pick<StepContext, 'contextDir' | 'ignore' | 'fromSource' | 'snapshots' | 'store'>,
): Promise<BindSource> {
  const rel = bindSourceRel(mount);
  const fromContext = mount.from === undefined;
  let root = ctx.contextDir;
  let release = async (): Promise<void> => {};
  if (!fromContext) {
    const output = await ctx.fromSource(mount.from!);
    const view = await mountReadonly(ctx.store.tmpDir, await lowerDirs(ctx, output.layers));
    root = view.merged;
    release = () => view.release();
  }
  try {
    const hostPath = await resolveInRoot(root, rel);
    const followed = path.relative(path.resolve(root), hostPath).split(path.sep).join('/');
    const stat = await lstat(hostPath).catch(() => undefined);
    const ignored = fromContext && rel !== '' && (ctx.ignore(rel) || ctx.ignore(followed));
    if (!stat || ignored) {
      const where = fromContext ? 'in build context' : 'in the mounted stage or image';
      throw new BuildError('COPY_SOURCE_MISSING', `RUN --mount: source "${rel || '.'}" not found ${where}`);
    }
    return { hostPath, stat, ...(fromContext ? { contextRel: followed } : {}), release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Opens one bind mount at `target` (already absolute). */
export async function openBindMount(mount: BindMount, target: string, ctx: StepContext): Promise<OpenedMount> {
  const source = await openBindSource(mount, ctx);
  const undo: (() => Promise<void>)[] = [() => source.release()];
  const release = async (): Promise<void> => {
    for (const step of undo.reverse()) await step();
    undo.length = 0;
  };
  try {
    let hostPath = source.hostPath;
    if (source.contextRel !== undefined && source.stat.isDirectory()) {
      const filtered = await filteredContextTree(hostPath, source.contextRel, ctx.ignore, ctx.store.tmpDir);
      if (filtered) {
        undo.push(filtered.release);
        hostPath = filtered.path;
      }
    }
    if (mount.readonly) return { mount: { type: 'bind', source: hostPath, target, readonly: true }, release };
    if (source.stat.isDirectory()) {
      // Writes land in this overlay's upperdir and are dropped with it.
      const overlay = await prepareSnapshot(ctx.store.tmpDir, [hostPath]);
      undo.push(() => overlay.release());
      return { mount: { type: 'bind', source: overlay.merged, target }, release };
    }
    const scratch = await mkdtemp(path.join(ctx.store.tmpDir, `runmount-${process.pid}-`));
    undo.push(() => rm(scratch, { recursive: true, force: true }));
    const copy = path.join(scratch, 'file');
    await copyFile(hostPath, copy);
    await chmod(copy, source.stat.mode & 0o7777);
    return { mount: { type: 'bind', source: copy, target }, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * BuildKit mounts the context as transferred, without `.dockerignore`d files. When the mounted
 * directory contains any, we build a copy without them (hard links where possible, so it is cheap);
 * otherwise the directory itself is mounted.
 */
async function filteredContextTree(
  dir: string, contextRel: string, ignore: IgnoreMatcher, tmpDir: string,
): Promise<{ path: string; release(): Promise<void> } | undefined> {
  let excludedSome = false;
  const noting: IgnoreMatcher = (rel) => {
    const excluded = ignore(rel);
    if (excluded) excludedSome = true;
    return excluded;
  };
  const entries = await walkTree(dir, { ignore: noting, ignorePrefix: contextRel });
  if (!excludedSome) return undefined;
  const scratch = await mkdtemp(path.join(tmpDir, `runmount-${process.pid}-`));
  const release = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const top = path.join(scratch, 'tree');
    await mkdir(top);
    await copyMetadata(top, await lstat(dir));
    for (const entry of entries) {
      const dest = path.join(top, entry.rel);
      if (entry.stat.isDirectory()) {
        await mkdir(dest);
        await copyMetadata(dest, entry.stat);
      } else if (entry.stat.isSymbolicLink()) {
        await symlink(await readlink(entry.hostPath), dest);
        await lchown(dest, entry.stat.uid, entry.stat.gid);
      } else if (entry.stat.isFile()) {
        await link(entry.hostPath, dest).catch(async () => {
          await copyFile(entry.hostPath, dest);
          await copyMetadata(dest, entry.stat);
        });
      }
      // Sockets, fifos and devices are not sent by a context transfer either.
    }
    return { path: top, release };
  } catch (err) {
    await release();
    throw err;
  }
}

async function copyMetadata(dest: string, stat: Stats): Promise<void> {
  await lchown(dest, stat.uid, stat.gid);
  await chmod(dest, stat.mode & 0o7777);
}
