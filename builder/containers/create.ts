import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { normalizeSignal } from './signals.js';
import type { ContainerConfig } from '../image/types.js';
import { prepareSnapshot, unmountSnapshot } from '../snapshot/mount.js';
import { Snapshots } from '../snapshot/snapshots.js';
import { Store } from '../store/store.js';
import type { ContainerConfigBody, ContainerCreateBody, ContainerCreateResponse, HostConfig } from './docker-types.js';
import { releaseName, reserveName, validateName } from './lookup.js';
import { ContainerPaths, initialState, writeRecord, writeState, type ContainerRecord } from './record.js';
import { checkVolumesFrom, hasVolumes, openVolumes, resolveMounts } from './resources.js';
import { checkHostConfig } from './host-config.js';
import { randomName } from './names.js';

/**
 * POST /containers/create: merges the image config with the body as docker does, claims the name, mounts the
 * container's overlay (non-volatile: it is remounted after a reboot) and writes the record. All or nothing: on any
 * failure the name, the mount and the directory are gone again.
 */
export async function createContainer(root: string, body: ContainerCreateBody, requestedName?: string): Promise<ContainerCreateResponse> {
  return (await createContainerRecord(root, body, requestedName)).response;
}

/** createContainer, also handing back the paths and the record it wrote (`run` starts from them without reading them back). */
export async function createContainerRecord(
  root: string, body: ContainerCreateBody, requestedName?: string,
): Promise<{ response: ContainerCreateResponse; paths: ContainerPaths; record: ContainerRecord }> {
  if (!body.Image) throw new BuildError('INVALID_ARGUMENT', 'no image specified');
  const hostConfig = body.HostConfig ?? {};
  const warnings = checkHostConfig(hostConfig);
  const store = await Store.open(root);
  const image = await store.resolve(body.Image);
  if (!image) throw new BuildError('IMAGE_NOT_FOUND', `No such image: ${body.Image} (build, pull or load it first)`);
  const id = randomBytes(32).toString('hex');
  const name = requestedName !== undefined && requestedName !== '' ? validateName(requestedName) : randomName(id);
  const config = mergeConfig(image.config.config ?? {}, body, id);
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length === 0) throw new BuildError('INVALID_ARGUMENT', 'no command specified');
  // dockerd refuses an unknown --stop-signal at create (exit 125), not at the first stop.
  if (body.StopSignal) normalizeSignal(body.StopSignal);
  if (config.WorkingDir && !path.isAbsolute(config.WorkingDir)) {
    throw new BuildError('INVALID_ARGUMENT', `the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }

  await checkVolumesFrom(store.containersDir, hostConfig.VolumesFrom ?? []);
  const paths = new ContainerPaths(store.containersDir, id);
  try {
    // The name claim, the image's snapshots and the container dir are made together (a handful of round trips
    // each); a taken name still stops the create before anything is mounted. All settle before a failure is
    // handled, so the catch never releases a claim that is still being made.
    const snapshots = new Snapshots(store.snapshotsDir, store.tmpDir, (digest) => store.blobPath(digest));
    const [claimed, ensured, made] = await Promise.allSettled([
      reserveName(store.containersDir, name, id),
      Promise.all(image.layers.map((layer) => snapshots.ensure(layer))),
      // Synchronous: one mkdir is microseconds, a thread-pool round trip 1-8 ms under load.
      (async () => { mkdirSync(paths.dir, { recursive: true }); })(),
    ]);
    for (const step of [claimed, ensured, made]) if (step.status === 'rejected') throw step.reason;
    const lowerdirs = (ensured as PromiseFulfilledResult<string[]>).value;
    const snapshot = await prepareSnapshot(paths.dir, lowerdirs, { volatile: false });
    const record: ContainerRecord = {
      id, name, created: new Date().toISOString(), image: body.Image,
      imageDigest: image.manifestDescriptor.digest, imageId: image.manifest.config.digest,
      config, hostConfig: normalizeHostConfig(hostConfig), networkingConfig: body.NetworkingConfig,
      path: args[0]!, args: args.slice(1), rootfsDir: path.dirname(snapshot.merged), lowerdirs,
    };
    // Volumes are made at create, as dockerd makes them: `docker cp` into a volume of a container never started,
    // and `--volumes-from` it, see them. Only a container with volumes pays for it (state.json holds them).
    if (hasVolumes(record)) {
      const mounts = await resolveMounts(root, record, snapshot.merged);
      await writeState(paths, { ...initialState(), mounts });
    }
    // The record is written last: a directory without it is not a container (and GC's scan skips it). No
    // state.json yet otherwise: readState gives initialState() for a missing one, so writing it (an fsync'd atomic
    // write, on `run -d`'s path) would change nothing a reader sees.
    await writeRecord(paths, record);
    return { response: { Id: id, Warnings: warnings }, paths, record };
  } catch (err) {
    for (const entry of await readdir(paths.dir).catch(() => [] as string[])) {
      if (entry.startsWith('mnt-')) await unmountSnapshot(path.join(paths.dir, entry)).catch(() => undefined);
    }
    await rm(paths.dir, { recursive: true, force: true });
    await releaseName(store.containersDir, name, id);
    if (hasVolumes({ hostConfig, config } as ContainerRecord)) await (await openVolumes(root))?.release(id, { removeAnonymous: true }).catch(() => undefined);
    throw err;
  }
}

/** Docker's merge of image config and create body (daemon/create.go merge + runconfig). */
export function mergeConfig(image: ContainerConfig, createBody: ContainerConfigBody & { HostConfig?: unknown; NetworkingConfig?: unknown }, id: string): ContainerConfigBody {
  // Config is the create body without its HostConfig and NetworkingConfig.
  const { HostConfig: _host, NetworkingConfig: _networking, ...body } = createBody;
  const entrypointGiven = body.Entrypoint !== undefined && body.Entrypoint !== null;
  const entrypoint = entrypointGiven ? (body.Entrypoint!.length === 1 && body.Entrypoint![0] === '' ? [] : body.Entrypoint!) : (image.Entrypoint ?? []);
  const cmd = body.Cmd && body.Cmd.length > 0 ? body.Cmd : entrypointGiven ? [] : (image.Cmd ?? []);
  const health = body.Healthcheck ?? image.Healthcheck;
  return {
    ...body,
    Hostname: body.Hostname || id.slice(0, 12),
    User: body.User || image.User || '',
    Env: userEnvFirst(image.Env ?? [], body.Env ?? []),
    Cmd: cmd,
    Entrypoint: entrypoint,
    WorkingDir: body.WorkingDir || image.WorkingDir || '',
    Labels: { ...(image.Labels ?? {}), ...(body.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(body.Volumes ?? {}) },
    ...(health ? { Healthcheck: { ...(image.Healthcheck ?? {}), ...health } } : {}),
    StopSignal: body.StopSignal || image.StopSignal || 'SIGTERM',
    Image: body.Image,
  };
}

function normalizeHostConfig(hostConfig: HostConfig): HostConfig {
  return {
    ...hostConfig,
    NetworkMode: hostConfig.NetworkMode || 'default',
    RestartPolicy: { Name: hostConfig.RestartPolicy?.Name || 'no', MaximumRetryCount: hostConfig.RestartPolicy?.MaximumRetryCount ?? 0 },
    // conmon writes a k8s-file log, which /containers/{id}/logs serves as dockerd serves json-file's: clients that
    // read logs only from json-file/journald/local (docker-py's run, docker-compose's logs) see the name they know.
    // /dev/shm is dockerd's 64 MiB unless --shm-size.
    LogConfig: { Type: 'json-file', Config: {} },
    ShmSize: hostConfig.ShmSize || 64 * 1024 * 1024,
  };
}

/**
 * moby's merge (daemon/commit.go merge): the user's -e entries first, then the image's whose names the user did not
 * set; `docker inspect -f '{{index .Config.Env 0}}'` is the first -e.
 */
export function userEnvFirst(image: string[], user: string[]): string[] {
  if (user.length === 0) return [...image];
  const names = new Set(user.map((entry) => entry.split('=', 1)[0]!));
  return [...user, ...image.filter((entry) => !names.has(entry.split('=', 1)[0]!))];
}
