/**
 * Volumes in the Docker Engine API's shapes (GET /volumes, /volumes/{name}, POST /volumes/create,
 * DELETE /volumes/{name}, POST /volumes/prune): the CLI prints them, `builder daemon` serves them as they are.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { treeSize } from '../store/gc-size.js';
import {
  createVolumeLocked, deleteVolumeLocked, getVolume, inUseError, listVolumeRecords, readVolume, volumeDataDir,
  withVolumesLock, writeVolume, type VolumeRecord,
} from './volume-store.js';

/** docker's Volume object. */
export interface DockerVolume {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string>;
  Scope: 'local';
  /** Only with GET /system/df (docker's UsageData); -1 when not computed. */
  UsageData?: { Size: number; RefCount: number };
}

export interface VolumeFilters {
  name?: string[];
  label?: string[];
  dangling?: boolean;
}

function toDocker(root: string, record: VolumeRecord): DockerVolume {
  return {
    CreatedAt: record.created.replace(/\.\d+Z$/, 'Z'), Driver: 'local', Labels: record.labels,
    Mountpoint: volumeDataDir(root, record.name), Name: record.name, Options: {}, Scope: 'local',
  };
}

/**
 * A container that no longer has a record under containers/ cannot hold a volume: users left by a
 * container removed without release (a crash) do not keep the volume "in use" forever.
 */
async function liveUsers(root: string, record: VolumeRecord): Promise<string[]> {
  const alive = await Promise.all(record.users.map((id) => stat(path.join(root, 'containers', id)).then(() => true, () => false)));
  return record.users.filter((_, i) => alive[i]);
}

function matches(record: VolumeRecord, users: string[], filters: VolumeFilters): boolean {
  const any = (values: string[] | undefined, test: (v: string) => boolean): boolean => !values || values.length === 0 || values.some(test);
  return any(filters.name, (v) => record.name.includes(v))
    && any(filters.label, (v) => {
      const [key, ...rest] = v.split('=');
      return rest.length === 0 ? key! in record.labels : record.labels[key!] === rest.join('=');
    })
    && (filters.dangling === undefined || filters.dangling === (users.length === 0));
}

export async function listVolumes(root: string, filters: VolumeFilters = {}): Promise<{ Volumes: DockerVolume[]; Warnings: string[] }> {
  const records = await listVolumeRecords(root);
  const users = await Promise.all(records.map((r) => liveUsers(root, r)));
  return { Volumes: records.filter((r, i) => matches(r, users[i]!, filters)).map((r) => toDocker(root, r)), Warnings: [] };
}

export async function inspectVolume(root: string, name: string): Promise<DockerVolume> {
  return toDocker(root, await getVolume(root, name));
}

/** As docker: creating a volume that exists returns it unchanged; one made without a name is not "anonymous" (prune -a removes it). */
export async function createVolume(root: string, options: { name?: string; labels?: Record<string, string> }): Promise<DockerVolume> {
  const { record } = await withVolumesLock(root, () => createVolumeLocked(root, { ...options, anonymous: false }));
  return toDocker(root, record);
}

/** Refuses a volume in use (`volume is in use - [ids]`), even with force, as docker. */
export async function removeVolume(root: string, name: string, options: { force?: boolean } = {}): Promise<void> {
  await withVolumesLock(root, async () => {
    const record = await readVolume(root, name);
    if (!record) {
      if (options.force) return;
      await getVolume(root, name);
      return;
    }
    const users = await liveUsers(root, record);
    if (users.length > 0) throw inUseError({ ...record, users });
    await deleteVolumeLocked(root, name);
  });
}

/** Unused volumes go: anonymous ones only unless `all` (docker 23+). */
export async function pruneVolumes(root: string, options: { all?: boolean; filters?: VolumeFilters } = {}): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
  const deleted: string[] = [];
  let reclaimed = 0;
  await withVolumesLock(root, async () => {
    for (const record of await listVolumeRecords(root)) {
      const users = await liveUsers(root, record);
      if (users.length > 0) {
        if (users.length !== record.users.length) await writeVolume(root, { ...record, users });
        continue;
      }
      if (!options.all && !record.anonymous) continue;
      if (!matches(record, users, options.filters ?? {})) continue;
      reclaimed += await treeSize(volumeDataDir(root, record.name)).catch(() => 0);
      await deleteVolumeLocked(root, record.name);
      deleted.push(record.name);
    }
  });
  return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
}

/** For `system df`: count, bytes, how many are in use and what an `--all` prune frees. */
export async function volumeUsage(root: string): Promise<{ total: number; active: number; size: number; reclaimable: number }> {
  const records = await listVolumeRecords(root);
  let active = 0;
  let size = 0;
  let reclaimable = 0;
  for (const record of records) {
    const bytes = await treeSize(volumeDataDir(root, record.name)).catch(() => 0);
    size += bytes;
    if ((await liveUsers(root, record)).length > 0) active++;
    else reclaimable += bytes;
  }
  return { total: records.length, active, size, reclaimable };
}
