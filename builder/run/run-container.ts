import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import { runcPath, runSandbox } from '../sandbox/runc.js';
import type { SecurityOptions } from '../sandbox/spec.js';
import { prepareSnapshot, type MutableSnapshot } from '../snapshot/mount.js';
import { storeSnapshots } from '../snapshot/store-snapshots.js';
import { Store } from '../store/store.js';
import { containerProcess, parseVolumes } from './container-args.js';
import { DirectRunRecord } from '../containers/direct-record.js';
import { releaseName } from '../containers/lookup.js';

/** `builder run` flags, named as docker run's. */
export interface RunContainerOptions {
  image: string;
  /** Replaces the image's Cmd. */
  cmd?: string[];
  /** Replaces the image's Entrypoint and clears its Cmd; '' clears the Entrypoint. */
  entrypoint?: string;
  /** `K=V`, or `K` to copy K from our environment. */
  env?: string[];
  /** `/host:/ctr[:ro]`. */
  volumes?: string[];
  network?: 'host' | 'none';
  workdir?: string;
  user?: string;
  /** Remove the container (its upperdir and record) when it exits. */
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  name?: string;
  memoryBytes?: number;
  pidsLimit?: number;
  /** --cap-add/--cap-drop/--privileged/--security-opt. */
  security?: SecurityOptions;
  readonlyRootfs?: boolean;
  hostname?: string;
  cpus?: number;
  /** BUILDER_ROOT; default the store's default root. */
  root?: string;
}

/** The direct path's fields of containers/<id>/container.json (a kept run is also a service record: containers/direct-record.ts). */
export interface ContainerRecord {
  id: string;
  name?: string;
  image: string;
  imageDigest: string;
  args: string[];
  created: string;
  exitCode?: number;
  /** The container's writable layer (kept for inspection or a later commit). */
  upperdir?: string;
}

/**
 * Runs an image as a container: the image's layers as overlay lowerdirs, a fresh upperdir under
 * containers/<id>/, the process in runc with our stdio, signals forwarded. Resolves the exit code.
 */
export async function runContainer(options: RunContainerOptions): Promise<number> {
  if (options.tty && !process.stdin.isTTY && !process.stdout.isTTY && !process.stderr.isTTY) {
    throw new BuildError('INVALID_ARGUMENT', 'the input device is not a TTY: drop -t or run from a terminal');
  }
  // Looked up once per process: started now, it overlaps the store reads instead of following the mount.
  void runcPath().catch(() => undefined);
  const store = await Store.open(options.root);
  const image = await store.resolve(options.image);
  if (!image) throw new BuildError('IMAGE_NOT_FOUND', `image "${options.image}" not found: build, pull or load it first`);
  const id = randomBytes(32).toString('hex');
  const hostname = options.hostname ?? id.slice(0, 12);
  const containerProc = containerProcess(
    image.config.config ?? {},
    { cmd: options.cmd, entrypoint: options.entrypoint, env: options.env, workdir: options.workdir, user: options.user },
    [`HOSTNAME=${hostname}`, ...(options.tty ? ['TERM=xterm'] : [])],
  );
  const mounts = await parseVolumes(options.volumes ?? []);
  const containerDir = path.join(store.containersDir, id);
  // A kept container is a service container (ps, start, rm know it); its name is claimed before anything is made.
  const name = options.rm ? options.name : await DirectRunRecord.claim(store.containersDir, id, options.name);

  const snapshots = storeSnapshots(store);
  const lowerdirs = await Promise.all(image.layers.map((layer) => snapshots.ensure(layer)));
  // Synchronous: one mkdir is microseconds, a thread-pool round trip 1-8 ms under load.
  mkdirSync(containerDir, { recursive: true });
  let snapshot: MutableSnapshot | undefined;
  let kept: DirectRunRecord | undefined;
  // The bundle's removal (a temp dir outside the container) runs beside the unmount instead of before it.
  const deferred: Promise<unknown>[] = [];
  try {
    // Kept containers are mounted non-volatile: `start` mounts them again later.
    snapshot = await prepareSnapshot(containerDir, lowerdirs, { volatile: options.rm === true });
    if (!options.rm) {
      kept = await DirectRunRecord.begin(store.containersDir, {
        id, name: name!, image: options.image, imageRef: image, process: containerProc, hostname, tty: options.tty === true,
        interactive: options.interactive === true, rootfsDir: path.dirname(snapshot.merged), lowerdirs,
        hostConfig: {
          NetworkMode: options.network ?? 'host', Binds: options.volumes ?? [], Memory: options.memoryBytes ?? 0,
          PidsLimit: options.pidsLimit ?? null, ReadonlyRootfs: options.readonlyRootfs === true,
          CapAdd: options.security?.capAdd ?? [], CapDrop: options.security?.capDrop ?? [], Privileged: options.security?.privileged === true,
          NanoCpus: options.cpus ? Math.round(options.cpus * 1e9) : 0,
        },
      });
    }
    const { exitCode } = await runSandbox({
      id: `builder-${id.slice(0, 12)}`,
      rootfs: snapshot.merged,
      ...containerProc,
      network: options.network ?? 'none',
      hostname,
      mounts,
      tty: options.tty,
      stdin: options.interactive,
      stdio: 'inherit',
      memoryBytes: options.memoryBytes,
      pidsLimit: options.pidsLimit,
      forwardSignals: true,
      security: options.security,
      readonlyRootfs: options.readonlyRootfs,
      cpus: options.cpus,
      // --rm throws the upperdir away: the mount points runc makes in it need no cleaning.
      keepMountStubs: options.rm === true,
      // The container's own upperdir, never a build layer: /etc/hosts, hostname and resolv.conf always exist, as in
      // docker (an image without them, like the busybox fixture, had none, so no name resolution at all).
      etc: { createMissing: true },
      deferCleanup: (work) => deferred.push(work),
    });
    await kept?.finish(exitCode, snapshot.upperdir);
    return exitCode;
  } catch (err) {
    if (!options.rm && !kept) {
      await snapshot?.release();
      await rm(containerDir, { recursive: true, force: true });
      if (name !== undefined) await releaseName(store.containersDir, name, id);
      snapshot = undefined;
    }
    throw err;
  } finally {
    const bundleRemoved = Promise.allSettled(deferred);
    if (options.rm) {
      await snapshot?.unmount();
      removeUnmounted(containerDir, snapshot?.merged);
    } else {
      await snapshot?.unmount();
    }
    const failed = (await bundleRemoved).find((result) => result.status === 'rejected');
    if (failed) throw new BuildError('SANDBOX_FAILED', `cannot remove the runc bundle: ${errorMessage(failed.reason)}`);
  }
}

/**
 * Removes a `--rm` container's directory (overlay dir, upperdir, runc's stubs) after the unmount. Synchronous: a
 * handful of entries, where the recursive async rm took 4–9 ms of thread-pool round trips on the 2 shared cores,
 * and this CLI process has nothing else to do meanwhile. rmdir of `merged` first, so a mount that is somehow still
 * there stops the removal instead of being walked.
 */
function removeUnmounted(containerDir: string, merged: string | undefined): void {
  if (merged) {
    try {
      rmdirSync(merged);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new BuildError('SANDBOX_FAILED', `${merged} is still in use: ${(err as Error).message}`);
      }
    }
  }
  rmSync(containerDir, { recursive: true, force: true });
}
