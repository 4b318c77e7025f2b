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
import type { ContainerRecord } from './record.js';

/**
 * `cp` both ways (the archive endpoints). Paths are resolved inside the container's rootfs as if it were `/`
 * (builder/context/root-path.ts): a symlink in the container pointing at /etc/shadow means the container's
 * /etc/shadow, never the host's. Archives hold links as links; extraction refuses to write through one.
 * Volumes and binds mounted into a running container are not part of its rootfs and are not seen here.
 */
async function locate(record: ContainerRecord, containerPath: string): Promise<{ abs: string; merged: string }> {
  if (!path.isAbsolute(containerPath)) throw new BuildError('INVALID_ARGUMENT', `path "${containerPath}" must be absolute in the container`);
  const merged = await remountSnapshot(record.rootfsDir);
  // The parent is resolved through links; the last component is taken as it is (a link is copied as a link).
  const parent = await resolveInRoot(merged, path.posix.dirname(containerPath));
  const base = path.posix.basename(containerPath);
  return { abs: base === '/' || base === '' ? parent : path.join(parent, base), merged };
}

export async function archiveStat(record: ContainerRecord, containerPath: string): Promise<PathStat> {
  const { abs } = await locate(record, containerPath);
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

export async function archiveGet(record: ContainerRecord, containerPath: string, entryName?: string): Promise<{ stat: PathStat; tar: Readable }> {
  const stat = await archiveStat(record, containerPath);
  const { abs } = await locate(record, containerPath);
  return { stat, tar: packTree(abs, entryName ?? (stat.name || '.')) };
}

/** Extracts `input` into the existing directory `containerPath` (links inside the archive cannot lead out of it). */
export async function archivePut(record: ContainerRecord, containerPath: string, input: NodeJS.ReadableStream): Promise<void> {
  const { merged } = await locate(record, containerPath);
  const dir = await resolveInRoot(merged, containerPath);
  const info = await lstat(dir).catch(() => undefined);
  if (!info) throw new BuildError('CONTAINER_NOT_FOUND', `Could not find the file ${containerPath} in container ${record.name}`);
  if (!info.isDirectory()) throw new BuildError('INVALID_ARGUMENT', `extraction point is not a directory: ${containerPath}`);
  await extractTarStream(Readable.from(input as AsyncIterable<Buffer>), dir, { whiteouts: 'none' });
}

