/** The volume side's front door: what containers, the CLI and the daemon import. */
import { LocalVolumeManager } from './manager.js';

export type { MountRequest, ResolvedMount, VolumeManager } from './types.js';
export { LocalVolumeManager, dedupeMounts } from './manager.js';
export { parseMountFlag, parseVolumeFlag, validateVolumeName } from './parse-mount.js';
export { listVolumes, inspectVolume, createVolume, removeVolume, pruneVolumes, volumeUsage } from './volume-api.js';
export type { DockerVolume, VolumeFilters } from './volume-api.js';

/** VolumeManager for the store at `root`. */
export function openVolumes(root: string): LocalVolumeManager {
  return new LocalVolumeManager(root);
}
