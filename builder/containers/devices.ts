/**
 * `--device` (HostConfig.Devices) as moby's devices_linux: the host path is followed through symlinks; a device
 * node gives one runtime device, a directory every device node under it (paths kept relative to it, e.g.
 * `--device /dev/snd`); anything else is moby's `error gathering device information while adding custom device
 * "/etc": not a device node`. The node's mode and owner are the host's; access is CgroupPermissions (default rwm).
 */
import { readdirSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { RuntimeDevice } from '../sandbox/spec.js';
import type { HostConfig } from './docker-types.js';

function gatherError(host: string, why: string): BuildError {
  return new BuildError('INVALID_ARGUMENT', `error gathering device information while adding custom device "${host}": ${why}`);
}

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
function deviceOf(file: string, stats: BigIntStats, inContainer: string, access: string): RuntimeDevice | undefined {
  const type = stats.isCharacterDevice() ? 'c' : stats.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  const rdev = stats.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { path: inContainer, type, major, minor, fileMode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), access };
}

export function resolveDevices(hostConfig: HostConfig): RuntimeDevice[] {
  const devices: RuntimeDevice[] = [];
  for (const device of hostConfig.Devices ?? []) {
    const host = device.PathOnHost;
    const inContainer = device.PathInContainer || host;
    const access = device.CgroupPermissions || 'rwm';
    if (!/^[rwm]+$/.test(access)) throw new BuildError('INVALID_ARGUMENT', `invalid device mode: ${access}`);
    let stats: BigIntStats;
    try {
      stats = statSync(host, { bigint: true });
    } catch (err) {
      throw gatherError(host, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
    }
    const single = deviceOf(host, stats, inContainer, access);
    if (single) {
      devices.push(single);
      continue;
    }
    if (!stats.isDirectory()) throw gatherError(host, 'not a device node');
    const found: RuntimeDevice[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.isCharacterDevice() || entry.isBlockDevice()) {
          const node = deviceOf(file, statSync(file, { bigint: true }), path.join(inContainer, path.relative(host, file)), access);
          if (node) found.push(node);
        }
      }
    };
    walk(host);
    if (found.length === 0) throw gatherError(host, 'not a device node');
    devices.push(...found);
  }
  return devices;
}
