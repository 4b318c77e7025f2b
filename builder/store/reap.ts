/**
 * Reaping what a dead builder left: a CLI or worker killed with SIGKILL (or a second SIGTERM) runs no cleanup,
 * so its RUN container keeps running under runc, its overlay stays mounted in tmp/ (which GC must skip while
 * mounted) and its runc bundle stays in /tmp. Each of those directories carries an owner file (store/owner.ts);
 * this finds the ones whose owner is gone and removes them: `runc delete --force`, unmount, delete.
 *
 * Only owner-marked directories are touched: a detached container's state and rootfs mount are kept alive by its
 * monitor and carry no build owner file, so they are never reaped here.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { basename, join, resolve } from 'node:path';
import { RUNC_ROOT } from '../sandbox/runc-root.js';
import { CRUN_ROOT } from '../sandbox/runtime.js';
import { mountPoints } from './gc-tmp.js';
import { treeSize } from './gc-size.js';
import { isOwnerAlive, pidInName, readOwner } from './owner.js';

export interface ReapReport {
  /** runc container ids deleted. */
  containers: string[];
  /** Mount directories (under tmp/) unmounted and deleted. */
  mounts: string[];
  /** runc bundle directories deleted. */
  bundles: string[];
  /** Bytes the removed mount directories held (a killed step's upperdir can be gigabytes). */
  bytes: number;
}

const BUNDLE_PREFIX = 'builder-bundle-';

function exec(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(command, args, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ code, stderr: String(stderr) });
    });
  });
}

/** The bundle a crun container was created from (its `status` file names it). */
async function crunBundleOf(id: string): Promise<string | undefined> {
  const text = await readFile(join(CRUN_ROOT, id, 'status'), 'utf8').catch(() => undefined);
  try {
    const bundle = text ? (JSON.parse(text) as { bundle?: unknown }).bundle : undefined;
    return typeof bundle === 'string' ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** Each runtime's state root and how to read a container's bundle there (`--runtime crun` builds use crun's). */
const RUNTIME_STATES = [
  { runtime: 'runc', root: RUNC_ROOT, bundleOf: (id: string) => bundleOf(id) },
  { runtime: 'crun', root: CRUN_ROOT, bundleOf: crunBundleOf },
];

/** The bundle a runc container was created from (libcontainer keeps it as a `bundle=` label). */
async function bundleOf(id: string): Promise<string | undefined> {
  const text = await readFile(join(RUNC_ROOT, id, 'state.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const state = JSON.parse(text) as { config?: { labels?: string[] } };
    return state.config?.labels?.find((label) => label.startsWith('bundle='))?.slice('bundle='.length);
  } catch {
    return undefined;
  }
}

/** The owner file decides; without one (killed between mkdir and writing it), the pid in the name does. */
async function ownerIsDead(dir: string): Promise<boolean> {
  const owner = await readOwner(dir);
  if (owner !== undefined) return !isOwnerAlive(owner);
  const pid = pidInName(basename(dir));
  return pid !== undefined && !isOwnerAlive({ pid });
}

/** Deletes containers of dead owners; returns the bundles still in use by the containers that remain. */
async function reapContainers(report: ReapReport): Promise<Set<string>> {
  const inUse = new Set<string>();
  for (const { runtime, root, bundleOf: bundleIn } of RUNTIME_STATES) {
    for (const id of await readdir(root).catch(() => [] as string[])) {
      const bundle = await bundleIn(id);
      if (!bundle) continue;
      if (await ownerIsDead(bundle)) {
        // --force kills the container's processes first; the orphaned `runc run` then exits by itself.
        const { code } = await exec(runtime, ['--root', root, 'delete', '--force', id]);
        if (code === 0) {
          report.containers.push(id);
          continue;
        }
      }
      inUse.add(resolve(bundle));
    }
  }
  return inUse;
}

async function reapBundles(report: ReapReport, inUse: ReadonlySet<string>): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith(BUNDLE_PREFIX)) continue;
    const dir = resolve(tmp, name);
    if (inUse.has(dir) || !(await ownerIsDead(dir))) continue;
    await rm(dir, { recursive: true, force: true });
    report.bundles.push(dir);
  }
}

/** Mount points at or below `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  return (await mountPoints()).filter((point) => point === dir || point.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

async function reapMounts(tmpDir: string, report: ReapReport): Promise<void> {
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    if (!name.startsWith('mnt-')) continue;
    const dir = resolve(tmpDir, name);
    if (!(await ownerIsDead(dir))) continue;
    let stuck = false;
    for (const point of await mountsUnder(dir)) {
      // Its container was deleted above; if something still holds the mount, detach it (as docker does).
      if ((await exec('umount', [point])).code !== 0 && (await exec('umount', ['-l', point])).code !== 0) stuck = true;
    }
    if (stuck) continue;
    report.bytes += await treeSize(dir).catch(() => 0);
    await rm(dir, { recursive: true, force: true });
    report.mounts.push(dir);
  }
}

/**
 * Reaps containers, then mounts (a container may still use its rootfs), then bundles. Never throws: a build
 * must not fail because an earlier one left a mess; what cannot be removed now is tried again next time.
 */
export async function reapDeadBuilds(tmpDir: string): Promise<ReapReport> {
  const report: ReapReport = { containers: [], mounts: [], bundles: [], bytes: 0 };
  const inUse = await reapContainers(report).catch(() => undefined);
  // A container we could not delete may still use its rootfs and bundle: leave both for the next attempt.
  if (inUse === undefined) return report;
  await reapMounts(tmpDir, report).catch(() => undefined);
  await reapBundles(report, inUse).catch(() => undefined);
  return report;
}
