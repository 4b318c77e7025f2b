import { lstat, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { archiveGet, packTree } from '../containers/archive.js';
import { Containers } from '../containers/service.js';
import { BuildError } from '../errors.js';
import { extractTarStream } from '../layer/extract.js';
import type { GlobalOptions } from './options.js';

/** `CONTAINER:PATH` → its parts; a plain path (or one starting with `.` or `/`) is local, as in docker. */
function splitArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const at = arg.indexOf(':');
  return at <= 0 ? { path: arg } : { container: arg.slice(0, at), path: arg.slice(at + 1) || '/' };
}

/**
 * `cp` both ways. Into a container: the archive is extracted by the service, which resolves the destination
 * inside the rootfs and never writes through a link. Out of a container: links are copied as links, and the
 * local extraction also refuses to write through one (a hostile container cannot reach outside DEST).
 */
export async function cpCommand(source: string, dest: string, global: GlobalOptions): Promise<number> {
  const from = splitArg(source);
  const to = splitArg(dest);
  if ((from.container === undefined) === (to.container === undefined)) {
    throw new BuildError('INVALID_ARGUMENT', 'copying between containers or between two local paths is not supported: one side must be CONTAINER:PATH');
  }
  const service = await Containers.open(global.root);
  if (to.container !== undefined) {
    const info = await lstat(from.path).catch(() => undefined);
    if (!info) throw new BuildError('INVALID_ARGUMENT', `could not find the file ${from.path} on the host`);
    const target = path.posix.resolve('/', to.path);
    const destStat = await service.archiveStat(to.container, target).catch(() => undefined);
    const intoDir = destStat !== undefined && (destStat.mode & 0x80000000) !== 0;
    const dir = intoDir ? target : path.posix.dirname(target);
    const name = intoDir ? path.basename(path.resolve(from.path)) : path.posix.basename(target);
    await service.archivePut(to.container, dir, packTree(path.resolve(from.path), name));
    return 0;
  }
  const { paths, record } = await service.find(from.container!);
  const mounts = await service.mountsOf(paths);
  const local = path.resolve(to.path);
  const localStat = await lstat(local).catch(() => undefined);
  const intoDir = localStat?.isDirectory() === true;
  const containerPath = path.posix.resolve('/', from.path);
  const name = intoDir ? path.posix.basename(containerPath) || 'root' : path.basename(local);
  const parent = intoDir ? local : path.dirname(local);
  if (!intoDir && localStat) {
    // Replacing an existing file: extract beside it, then rename over it (never writing through it).
    const scratch = await mkdtemp(path.join(parent, '.builder-cp-'));
    try {
      const { tar } = await archiveGet(record, containerPath, mounts, name);
      await extractTarStream(tar, scratch, { whiteouts: 'none' });
      await rename(path.join(scratch, name), local);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return 0;
  }
  const { tar } = await archiveGet(record, containerPath, mounts, name);
  await extractTarStream(tar, parent, { whiteouts: 'none' });
  return 0;
}
