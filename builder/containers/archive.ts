import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { resolveInRoot } from '../context/root-path.js';
import { BuildError } from '../errors.js';
import { extractTarStream } from '../layer/extract.js';
import { remountSnapshot } from '../snapshot/mount.js';
import type { PathStat } from './docker-types.js';
import type { ResolvedMount } from '../volume/types.js';
import type { ContainerRecord } from './record.js';

/**
 * `cp` both ways (the archive endpoints). Paths are resolved inside the container's rootfs as if it were `/`
 * (builder/context/root-path.ts): a symlink in the container pointing at /etc/shadow means the container's
 * /etc/shadow, never the host's. Archives hold links as links; extraction refuses to write through one.
 * Volumes and bind mounts are seen as docker sees them: a path at or under a mount's target is looked up in the
 * mount's source (the volume's _data, the bind's host path), resolved with that source as its root, so a link inside
 * a volume cannot lead out of it either (docker would follow it into the container's rootfs; we stay in the volume).
 * tmpfs mounts live in the container's mount namespace only and are not seen, as with docker.
 */
interface Located {
  abs: string;
  /** The mount the path is in, if any (read-only ones refuse `cp` into them). */
  mount?: ResolvedMount;
}

async function locate(record: ContainerRecord, containerPath: string, mounts: ResolvedMount[] = []): Promise<Located> {
  if (!path.isAbsolute(containerPath)) throw new BuildError('INVALID_ARGUMENT', `path "${containerPath}" must be absolute in the container`);
  const merged = await remountSnapshot(record.rootfsDir);
  // The parent is resolved through links; the last component is taken as it is (a link is copied as a link).
  const parent = await resolveInRoot(merged, path.posix.dirname(containerPath));
  const base = path.posix.basename(containerPath);
  const inRootfs = base === '/' || base === '' ? parent : path.join(parent, base);
  const inContainer = `/${path.relative(merged, inRootfs).split(path.sep).join('/')}`.replace(/\/+$/, '') || '/';
  const mount = mounts
    .filter((m) => m.type === 'bind' && (inContainer === m.target || inContainer.startsWith(`${m.target.replace(/\/+$/, '')}/`)))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!mount) return { abs: inRootfs };
  const rest = inContainer.slice(mount.target.replace(/\/+$/, '').length);
  if (rest === '' || rest === '/') return { abs: mount.source, mount };
  const restParent = await resolveInRoot(mount.source, path.posix.dirname(rest));
  return { abs: path.join(restParent, path.posix.basename(rest)), mount };
}

export async function archiveStat(record: ContainerRecord, containerPath: string, mounts?: ResolvedMount[]): Promise<PathStat> {
  const { abs } = await locate(record, containerPath, mounts);
  const info = await lstat(abs).catch(() => undefined);
  if (!info) throw new BuildError('CONTAINER_NOT_FOUND', `Could not find the file ${containerPath} in container ${record.name}`);
  const linkTarget = info.isSymbolicLink() ? await readlink(abs) : '';
  // Docker's mode carries Go's os.ModeDir / ModeSymlink bits.
  const mode = (info.mode & 0o7777) | (info.isDirectory() ? 0x80000000 : 0) | (info.isSymbolicLink() ? 0x08000000 : 0);
  return { name: path.posix.basename(containerPath), size: info.size, mode, mtime: info.mtime.toISOString(), linkTarget };
}

/** A tar of the file or tree at `abs`, its top entry named `entryName`; links stored as links, never followed. */
export function packTree(abs: string, entryName: string): Readable {
  const pack = tar.pack();
  const add = async (file: string, name: string): Promise<void> => {
    const info = await lstat(file);
    const header = { name, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, mtime: info.mtime };
    if (info.isDirectory()) {
      pack.entry({ ...header, type: 'directory' });
      for (const child of (await readdir(file)).sort()) await add(path.join(file, child), `${name}/${child}`);
    } else if (info.isSymbolicLink()) {
      pack.entry({ ...header, type: 'symlink', linkname: await readlink(file) });
    } else if (info.isFile()) {
      const entry = pack.entry({ ...header, type: 'file', size: info.size });
      await pipeline(createReadStream(file), entry);
    }
  };
  add(abs, entryName).then(() => pack.finalize(), (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return pack as unknown as Readable;
}

export async function archiveGet(
  record: ContainerRecord, containerPath: string, mounts?: ResolvedMount[], entryName?: string,
): Promise<{ stat: PathStat; tar: Readable }> {
  const stat = await archiveStat(record, containerPath, mounts);
  const { abs } = await locate(record, containerPath, mounts);
  return { stat, tar: packTree(abs, entryName ?? (stat.name || '.')) };
}

/** Extracts `input` into the existing directory `containerPath` (links inside the archive cannot lead out of it). */
export async function archivePut(record: ContainerRecord, containerPath: string, input: NodeJS.ReadableStream, mounts?: ResolvedMount[]): Promise<void> {
  const { abs, mount } = await locate(record, containerPath, mounts);
  // The directory itself is followed when it is a link (docker extracts into what the link names).
  const dir = mount
    ? await resolveInRoot(mount.source, `/${path.relative(mount.source, abs)}`)
    : await resolveInRoot(await remountSnapshot(record.rootfsDir), containerPath);
  const info = await lstat(dir).catch(() => undefined);
  if (!info) throw new BuildError('CONTAINER_NOT_FOUND', `Could not find the file ${containerPath} in container ${record.name}`);
  if (!info.isDirectory()) throw new BuildError('INVALID_ARGUMENT', `extraction point is not a directory: ${containerPath}`);
  if (mount?.readonly) throw new BuildError('INVALID_ARGUMENT', `mounted volume is marked read-only: ${mount.target}`);
  if (record.hostConfig.ReadonlyRootfs && !mount) throw new BuildError('INVALID_ARGUMENT', 'container rootfs is marked read-only');
  await extractTarStream(Readable.from(input as AsyncIterable<Buffer>), dir, { whiteouts: 'none' });
}
