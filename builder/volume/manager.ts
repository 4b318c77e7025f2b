/**
 * VolumeManager over the local volume store. prepare() is all or nothing: if any mount fails, the
 * container is unregistered again and the volumes it created are removed.
 */
import { mkdir, stat } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import { copyUp } from './copy-up.js';
import type { MountRequest, ResolvedMount, VolumeManager } from './types.js';
import { createVolumeLocked, deleteVolumeLocked, listVolumeRecords, volumeDataDir, withVolumesLock, writeVolume } from './volume-store.js';

/**
 * Explicit mounts win over anonymous ones for the same target (the image's VOLUME paths come in as
 * anonymous requests); two explicit mounts on one target are docker's "Duplicate mount point".
 */
export function dedupeMounts(requests: MountRequest[]): MountRequest[] {
  const isImplicit = (r: MountRequest): boolean => r.type === 'volume' && r.source === undefined;
  const byTarget = new Map<string, MountRequest>();
  for (const request of requests) {
    const previous = byTarget.get(request.target);
    if (previous && !isImplicit(previous) && !isImplicit(request)) throw new BuildError('INVALID_ARGUMENT', `Duplicate mount point: ${request.target}`);
    if (!previous || isImplicit(previous)) byTarget.set(request.target, request);
  }
  return [...byTarget.values()];
}

export class LocalVolumeManager implements VolumeManager {
  constructor(readonly root: string) {}

  async prepare(containerId: string, requests: MountRequest[], imageRootfs: string): Promise<ResolvedMount[]> {
    const mounts = dedupeMounts(requests);
    const created: string[] = [];
    const registered: string[] = [];
    try {
      const resolved: ResolvedMount[] = [];
      for (const request of mounts) resolved.push(await this.resolveOne(containerId, request, imageRootfs, created, registered));
      return resolved;
    } catch (err) {
      await withVolumesLock(this.root, async () => {
        for (const name of created) await deleteVolumeLocked(this.root, name);
      });
      await this.unregister(containerId, registered.filter((n) => !created.includes(n)));
      throw err;
    }
  }

  async release(containerId: string, options: { removeAnonymous: boolean }): Promise<void> {
    await withVolumesLock(this.root, async () => {
      for (const record of await listVolumeRecords(this.root)) {
        if (!record.users.includes(containerId)) continue;
        record.users = record.users.filter((u) => u !== containerId);
        if (options.removeAnonymous && record.anonymous && record.users.length === 0) await deleteVolumeLocked(this.root, record.name);
        else await writeVolume(this.root, record);
      }
    });
  }

  private async resolveOne(containerId: string, request: MountRequest, imageRootfs: string, created: string[], registered: string[]): Promise<ResolvedMount> {
    if (request.type === 'tmpfs') {
      return { type: 'tmpfs', source: 'tmpfs', target: request.target, readonly: request.readonly, options: request.options };
    }
    if (request.type === 'bind') {
      const source = request.source!;
      if (!(await stat(source).then(() => true, () => false))) {
        if (!request.createHostDir) throw new BuildError('INVALID_ARGUMENT', `invalid mount config for type "bind": bind source path does not exist: ${source}`);
        await mkdir(source, { recursive: true });
      }
      return { type: 'bind', source, target: request.target, readonly: request.readonly, options: request.options };
    }
    const { record, fresh } = await withVolumesLock(this.root, async () => {
      const made = await createVolumeLocked(this.root, { name: request.source });
      if (made.created) created.push(made.record.name);
      if (!made.record.users.includes(containerId)) {
        made.record.users.push(containerId);
        await writeVolume(this.root, made.record);
        registered.push(made.record.name);
      }
      return { record: made.record, fresh: made.created };
    });
    const dataDir = volumeDataDir(this.root, record.name);
    // docker copies into any empty volume, not only a new one; nocopy turns it off.
    if (!request.nocopy && (fresh || record.users.length === 1)) await copyUp(imageRootfs, request.target, dataDir);
    return {
      type: 'bind', source: dataDir, target: request.target, readonly: request.readonly,
      volumeName: record.name, anonymous: record.anonymous,
    };
  }

  private async unregister(containerId: string, names: string[]): Promise<void> {
    if (names.length === 0) return;
    await withVolumesLock(this.root, async () => {
      for (const record of await listVolumeRecords(this.root)) {
        if (!names.includes(record.name)) continue;
        record.users = record.users.filter((u) => u !== containerId);
        await writeVolume(this.root, record);
      }
    });
  }
}
