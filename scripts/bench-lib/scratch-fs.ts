import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { runCommand } from './proc.js';

/** A loop-mounted ext4 filesystem that holds every tool's storage for one bench run. */
export interface ScratchFs {
  /** Where it is mounted. */
  dir: string;
  /** The sparse backing file. */
  image: string;
  /** Unmounts everything under `dir`, then `dir` itself, and deletes the image. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface ScratchFsOptions {
  image: string;
  mountPoint: string;
  sizeBytes: number;
}

/** Makes a sparse file, mkfs.ext4 on it and loop-mounts it; a leftover mount from a crashed run is cleared first. */
export async function mountScratchFs(options: ScratchFsOptions): Promise<ScratchFs> {
  await unmountTree(options.mountPoint);
  await rm(options.image, { force: true });
  await writeFile(options.image, '');
  await truncate(options.image, options.sizeBytes);
  let mounted = false;
  const cleanup = async (): Promise<void> => {
    if (mounted) {
      await unmountTree(options.mountPoint);
      mounted = false;
    }
    await rm(options.image, { force: true });
  };
  try {
    // lazy_itable_init keeps mkfs of a 12 GB image well under a second.
    await runCommand('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', options.image]);
    await mkdir(options.mountPoint, { recursive: true });
    await runCommand('mount', ['-o', 'loop', options.image, options.mountPoint]);
    mounted = true;
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { dir: options.mountPoint, image: options.image, cleanup };
}

/** Mount points at or below `dir`, deepest first (the order they must be unmounted in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.replace(/\/+$/, '');
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => decodeMountPath(line.split(' ')[4] ?? ''))
    .filter((point) => point === prefix || point.startsWith(`${prefix}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts `dir` and everything mounted below it (overlays a daemon left behind); lazy as a last resort. */
export async function unmountTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (let pass = 0; pass < 3; pass++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const point of points) {
      const lazy = pass === 2 ? ['-l'] : [];
      await runCommand('umount', [...lazy, point], { allowFailure: true });
    }
  }
}

// mountinfo escapes space, tab, newline and backslash as octal.
function decodeMountPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
