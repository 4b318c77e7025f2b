import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A busybox-static rootfs for tests: /bin/busybox plus one symlink per applet, optional /etc files. */
export async function makeBusyboxRootfs(dir: string, etc: Record<string, string> = {}): Promise<string> {
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((applet) => symlink('busybox', path.join(dir, 'bin', applet))));
  for (const [name, content] of Object.entries(etc)) {
    await mkdir(path.join(dir, 'etc'), { recursive: true });
    await writeFile(path.join(dir, 'etc', name), content);
  }
  return dir;
}

/** A temp dir; remove it with removeTempDir. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Mounts an overlay with `lower` under `dir`; returns the paths and an unmount. */
export async function mountOverlay(dir: string, lower: string): Promise<{ upper: string; merged: string; unmount(): void }> {
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  await Promise.all([upper, work, merged].map((d) => mkdir(d, { recursive: true })));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  return { upper, merged, unmount: () => execFileSync('umount', [merged]) };
}
