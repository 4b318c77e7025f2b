/**
 * docker's copy-up: when an empty volume is mounted over a path that has files in the image, those files
 * are copied into the volume first (owners, modes, xattrs, symlinks as links, hard links kept). The image
 * path is resolved inside the rootfs, so a symlink in the image never makes us copy host files.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, readdir } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import { resolveInRoot } from '../context/root-path.js';

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/** Copies rootfs:target into dataDir when dataDir is empty and the image has a directory there; returns whether it copied. */
export async function copyUp(rootfs: string, target: string, dataDir: string): Promise<boolean> {
  if (!(await isEmptyDir(dataDir))) return false;
  const source = await resolveInRoot(rootfs, target);
  const info = await lstat(source).catch(() => undefined);
  if (!info?.isDirectory()) return false;
  // The volume's root takes the image directory's owner and mode (docker does the same).
  await chown(dataDir, info.uid, info.gid);
  await chmod(dataDir, info.mode & 0o7777);
  if ((await readdir(source)).length === 0) return false;
  await new Promise<void>((resolve, reject) => {
    // -a: recursive, no dereference, keep owner/mode/timestamps/links/xattrs; `src/.` copies the contents.
    execFile('cp', ['-a', '--', `${source}/.`, `${dataDir}/`], (err, _stdout, stderr) => {
      if (err) reject(new BuildError('INTERNAL', `copying ${target} from the image into the volume failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
  return true;
}
