import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { runSandbox } from '../sandbox/runc.js';
import type { SecurityOptions } from '../sandbox/spec.js';
import { prepareSnapshot, type MutableSnapshot } from '../snapshot/mount.js';
import { Snapshots } from '../snapshot/snapshots.js';
import { Store } from '../store/store.js';
import { containerProcess, parseVolumes } from './container-args.js';

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

/** What stays in containers/<id>/container.json for a container run without --rm. */
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

const RECORD = 'container.json';

/**
 * Runs an image as a container: the image's layers as overlay lowerdirs, a fresh upperdir under
 * containers/<id>/, the process in runc with our stdio, signals forwarded. Resolves the exit code.
 */
export async function runContainer(options: RunContainerOptions): Promise<number> {
  if (options.tty && !process.stdin.isTTY && !process.stdout.isTTY && !process.stderr.isTTY) {
    throw new BuildError('INVALID_ARGUMENT', 'the input device is not a TTY: drop -t or run from a terminal');
  }
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
  if (options.name !== undefined) await checkNameFree(store.containersDir, options.name);

  const snapshots = new Snapshots(store.snapshotsDir, store.tmpDir, (digest) => store.blobPath(digest));
  const lowerdirs = await Promise.all(image.layers.map((layer) => snapshots.ensure(layer)));
  await mkdir(containerDir, { recursive: true });
  const record: ContainerRecord = {
    id, name: options.name, image: options.image, imageDigest: image.manifestDescriptor.digest,
    args: containerProc.args, created: new Date().toISOString(),
  };
  let snapshot: MutableSnapshot | undefined;
  try {
    if (!options.rm) await writeRecord(containerDir, record);
    snapshot = await prepareSnapshot(containerDir, lowerdirs);
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
    });
    if (!options.rm) await writeRecord(containerDir, { ...record, exitCode, upperdir: snapshot.upperdir });
    return exitCode;
  } finally {
    if (options.rm) {
      await snapshot?.release();
      await rm(containerDir, { recursive: true, force: true });
    } else {
      await snapshot?.unmount();
    }
  }
}

async function writeRecord(containerDir: string, record: ContainerRecord): Promise<void> {
  await writeFile(path.join(containerDir, RECORD), JSON.stringify(record, null, 2) + '\n');
}

/** Names are unique among kept containers, as in docker. */
async function checkNameFree(containersDir: string, name: string): Promise<void> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new BuildError('INVALID_ARGUMENT', `invalid container name "${name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const ids = await readdir(containersDir).catch(() => [] as string[]);
  for (const id of ids) {
    const text = await readFile(path.join(containersDir, id, RECORD), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const record = JSON.parse(text) as ContainerRecord;
    if (record.name === name) {
      throw new BuildError('INVALID_ARGUMENT', `the container name "${name}" is already in use by container ${id}: remove it (rm -rf ${path.join(containersDir, id)}) or choose another name`);
    }
  }
}
