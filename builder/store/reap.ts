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
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { basename, join, resolve } from 'node:path';
import { RUNC_ROOT } from '../sandbox/runc-root.js';
import { CRUN_ROOT } from '../sandbox/runtime.js';
import { mountPoints } from './gc-tmp.js';
import { treeSize } from './gc-size.js';
import { isOwnerAlive, OWNER_FILE, pidInName, readOwnerSync } from './owner.js';

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

/**
 * Looking is synchronous, acting is not. Every build reaps before it starts, and on a machine with many
 * containers and bundle dirs the looking was one thread-pool round trip per entry (9 ms of a 21 ms no-op rebuild
 * here, with 30 bundle dirs in /tmp); a directory listing or a small read costs microseconds done directly.
 */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The bundle a crun container was created from (its `status` file names it). */
function crunBundleOf(id: string): string | undefined {
  const text = readText(join(CRUN_ROOT, id, 'status'));
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
function bundleOf(id: string): string | undefined {
  const text = readText(join(RUNC_ROOT, id, 'state.json'));
  if (!text) return undefined;
  try {
    return bundleLabel(labelsOf(text));
  } catch {
    return undefined;
  }
}

const LABELS_KEY = '"labels":[';
const STRING_ARRAY = /^\[(?:"(?:[^"\\]|\\.)*",?)*\]/;

/**
 * config.labels of a runc state.json. The file is ~34 kB (mounts, seccomp rules), and parsing all of it for each
 * container costs a build ~0.2 ms apiece; the labels array is the one key named so, near the end.
 */
function labelsOf(text: string): unknown {
  const at = text.lastIndexOf(LABELS_KEY);
  const array = at < 0 ? undefined : STRING_ARRAY.exec(text.slice(at + LABELS_KEY.length - 1));
  if (array) return JSON.parse(array[0]);
  return (JSON.parse(text) as { config?: { labels?: unknown } }).config?.labels;
}

function bundleLabel(labels: unknown): string | undefined {
  if (!Array.isArray(labels)) return undefined;
  const label = labels.find((entry): entry is string => typeof entry === 'string' && entry.startsWith('bundle='));
  return label?.slice('bundle='.length);
}

/** The owner file decides; without one (killed between mkdir and writing it), the pid in the name does. */
function ownerIsDead(dir: string): boolean {
  // Most directories looked at have none (other tools' temp dirs): existsSync does not build an exception.
  const owner = existsSync(join(dir, OWNER_FILE)) ? readOwnerSync(dir) : undefined;
  if (owner !== undefined) return !isOwnerAlive(owner);
  const pid = pidInName(basename(dir));
  return pid !== undefined && !isOwnerAlive({ pid });
}

/** Deletes containers of dead owners; returns the bundles still in use by the containers that remain. */
async function reapContainers(report: ReapReport): Promise<Set<string>> {
  const inUse = new Set<string>();
  for (const { runtime, root, bundleOf: bundleIn } of RUNTIME_STATES) {
    for (const id of listDir(root)) {
      const bundle = bundleIn(id);
      if (!bundle) continue;
      if (ownerIsDead(bundle)) {
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
  const dead = listDir(tmp)
    .filter((name) => name.startsWith(BUNDLE_PREFIX))
    .map((name) => resolve(tmp, name))
    .filter((dir) => !inUse.has(dir) && ownerIsDead(dir));
  for (const dir of dead) {
    await rm(dir, { recursive: true, force: true });
    report.bundles.push(dir);
  }
}

/** Mount points at or below `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  return (await mountPoints()).filter((point) => point === dir || point.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

async function reapMounts(tmpDir: string, report: ReapReport): Promise<void> {
  for (const name of listDir(tmpDir)) {
    if (!name.startsWith('mnt-')) continue;
    const dir = resolve(tmpDir, name);
    if (!ownerIsDead(dir)) continue;
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
