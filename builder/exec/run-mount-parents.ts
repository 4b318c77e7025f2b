/**
 * runc creates a missing mount target inside the overlay (`/root/.cache` for a cache mount), and the
 * sandbox removes that stub afterwards; but creating it copied its existing parent (`/root`) up into
 * the upperdir, where it would become a layer entry although nothing in it changed. After the run (the
 * overlay unmounted) we drop such parents again: still a directory, empty in the upperdir, not opaque,
 * and with the same mode, owner and mtime as below. Anything the step really changed stays.
 */
import { lstat, readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { runCommandSplit } from '../snapshot/command-helper.js';

/** Removes copied-up, unchanged parents of `targets` from `upperdir`, deepest first; never throws. */
export async function pruneMountParents(upperdir: string, lowerdirs: string[], targets: string[]): Promise<void> {
  const candidates = new Set<string>();
  for (const target of targets) {
    const parts = target.split('/').filter((part) => part !== '');
    // Ancestors only: the target itself is the stub, which the sandbox already removed (or the step filled).
    for (let i = 1; i < parts.length; i++) candidates.add(parts.slice(0, i).join('/'));
  }
  const deepestFirst = [...candidates].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
  for (const rel of deepestFirst) await pruneOne(upperdir, lowerdirs, rel).catch(() => undefined);
}

async function pruneOne(upperdir: string, lowerdirs: string[], rel: string): Promise<void> {
  const upper = path.join(upperdir, rel);
  const info = await lstat(upper).catch(() => undefined);
  if (!info?.isDirectory() || (await readdir(upper)).length > 0) return;
  const lower = await lowerStat(lowerdirs, rel);
  if (!lower?.isDirectory()) return;
  const same = lower.mode === info.mode && lower.uid === info.uid && lower.gid === info.gid && Math.abs(lower.mtimeMs - info.mtimeMs) < 1;
  if (!same || (await isOpaque(upper))) return;
  await rmdir(upper);
}

/** The path as the topmost lower layer has it (lowerdirs bottom first). */
async function lowerStat(lowerdirs: string[], rel: string): Promise<import('node:fs').Stats | undefined> {
  for (const dir of [...lowerdirs].reverse()) {
    const info = await lstat(path.join(dir, rel)).catch(() => undefined);
    if (info) return info;
  }
  return undefined;
}

/**
 * An opaque dir hides everything below it: removing it would bring the lower contents back. Through the sh helper
 * (a spawn from this process blocks the event loop; see snapshot/command-helper.ts).
 */
async function isOpaque(dir: string): Promise<boolean> {
  const { code, stdout } = await runCommandSplit('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', dir]).catch(
    () => ({ code: 127, stdout: '' }),
  );
  // No getfattr (127): assume opaque, so we never resurrect deleted files.
  return code === 127 || (code === 0 && stdout.trim() === 'y');
}
