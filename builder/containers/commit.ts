/**
 * `docker commit` (POST /commit): a new image from a container — the image it was made from plus one layer of
 * what the container changed (its upperdir, without the files builder's start made for the bind mounts: see
 * changes.ts), with the container's config (and `--change`s, and the body's Config over it), as moby's
 * daemon/commit.go. A running container is paused while its upperdir is read, unless `pause=false`. Nothing
 * changed → no layer, an `empty_layer` history entry (moby adds no diffId for an empty tar either).
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError, errorMessage } from '../errors.js';
import { createdAt, setEnv } from '../exec/config.js';
import { startLayer } from '../layer/create.js';
import { applyConfigChanges } from '../image/config-changes.js';
import { writeImage } from '../image/manifest.js';
import type { ContainerConfig, ImageConfig, Layer } from '../image/types.js';
import { Store } from '../store/store.js';
import { readUpper } from './changes.js';
import type { ContainerConfigBody } from './docker-types.js';
import { runc } from './monitor.js';
import { readState, type ContainerPaths, type ContainerRecord } from './record.js';
import { observe } from './truth.js';

export interface CommitOptions {
  /** `repo[:tag]` to tag the image with; untagged when absent. */
  reference?: string;
  comment?: string;
  author?: string;
  /** Pause a running container while its changes are read (default true, as docker). */
  pause?: boolean;
  /** Dockerfile instructions (`--change`). */
  changes?: string[];
  /** The request body: Config fields that override the container's. */
  config?: ContainerConfigBody;
}

/** The image settings a container's config carries (the create-only fields — Hostname, Tty, Image … — are not). */
function imageSettings(config: ContainerConfigBody, base: ContainerConfig): ContainerConfig {
  const settings: ContainerConfig = { ...base };
  const fields = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck'] as const;
  // moby's merge: an unset, null or empty field keeps what is there; Env entries are set by name.
  for (const field of fields) {
    const value = config[field];
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    if (field === 'Env') {
      for (const entry of value as string[]) {
        const at = entry.indexOf('=');
        settings.Env = at === -1 ? settings.Env : setEnv(settings.Env, entry.slice(0, at), entry.slice(at + 1));
      }
      continue;
    }
    (settings as Record<string, unknown>)[field] = value;
  }
  return settings;
}

/** Commits under the container's lock (the caller holds it); returns the new image's config digest (docker's Id). */
export async function commitContainer(root: string, paths: ContainerPaths, record: ContainerRecord, options: CommitOptions): Promise<{ Id: string }> {
  const store = await Store.open(root);
  const image = await store.resolve(record.imageDigest);
  if (!image) throw new BuildError('IMAGE_NOT_FOUND', `the image of container ${record.name} (${record.imageId.slice(7, 19)}) is no longer in the store`);
  const state = await observe(paths, await readState(paths));
  const pause = options.pause !== false && state.status === 'running' && state.runtimeId !== undefined;
  if (pause) await runc(['pause', state.runtimeId!]);
  let layer: Layer | undefined;
  try {
    layer = await layerOfChanges(store, record);
  } finally {
    if (pause) await runc(['resume', state.runtimeId!]).catch(() => undefined);
  }

  let settings = imageSettings(record.config, image.config.config);
  if (options.changes && options.changes.length > 0) settings = applyConfigChanges(settings, options.changes);
  if (options.config) settings = imageSettings(options.config, settings);
  const created = createdAt();
  const config: ImageConfig = {
    ...image.config,
    created,
    ...(options.author ? { author: options.author } : {}),
    config: settings,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, ...(layer ? [layer.diffId] : [])] },
    history: [...(image.config.history ?? []), {
      created,
      created_by: (record.config.Cmd ?? []).join(' '),
      ...(options.author ? { author: options.author } : {}),
      ...(options.comment ? { comment: options.comment } : {}),
      ...(layer ? {} : { empty_layer: true }),
    }],
  };
  const descriptor = await writeImage(store, config, [...image.layers, ...(layer ? [layer] : [])]);
  await (options.reference ? store.tag(options.reference, descriptor) : store.keepUntagged(descriptor));
  return { Id: (await store.readJson<{ config: { digest: string } }>(descriptor.digest)).config.digest };
}

/**
 * The layer of the container's changes, or undefined when it changed nothing. The upperdir is linked (not copied)
 * into a temp tree without the left-out entries, and the tar is written from that tree.
 */
async function layerOfChanges(store: Store, record: ContainerRecord): Promise<Layer | undefined> {
  const upper = path.join(record.rootfsDir, 'upper');
  const summary = await readUpper(upper, record.lowerdirs);
  if (summary.changes.length === 0) return undefined;
  const tree = store.tempPath('commit-tree');
  const blob = store.tempPath('commit-layer');
  try {
    await linkTree(upper, tree);
    for (const rel of summary.excluded) await rm(path.join(tree, rel), { recursive: true, force: true });
    const started = await startLayer(tree, blob);
    await rm(tree, { recursive: true, force: true });
    const layer = await started.layer;
    await store.importBlobFile(blob, layer.digest);
    return layer;
  } catch (err) {
    await rm(blob, { force: true });
    throw err instanceof BuildError ? err : new BuildError('INTERNAL', `committing container ${record.name}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

const execFileAsync = promisify(execFile);

/** `cp -a --link`: files as hard links (whiteouts too), directories made anew with their owner, mode and xattrs. */
async function linkTree(from: string, to: string): Promise<void> {
  try {
    await execFileAsync('cp', ['-a', '--link', '--', from, to]);
  } catch (err) {
    // Another file system than the store's tmp/ (a container dir on its own mount): a real copy.
    if (!/Invalid cross-device link/.test(String((err as { stderr?: string }).stderr ?? ''))) throw err;
    await rm(to, { recursive: true, force: true });
    await execFileAsync('cp', ['-a', '--', from, to]);
  }
}
