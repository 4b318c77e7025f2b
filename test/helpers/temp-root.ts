/** Temporary BUILDER_ROOTs for end-to-end tests, and their cleanup (mounts first, then files). */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from './cli.js';

export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

/** Mount points at or under `dir`, deepest first (mountinfo escapes spaces as \040). */
function mountsUnder(dir: string): string[] {
  const decode = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined)
    .map(decode)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts whatever a failed test left mounted under `dir` (overlays, rootfs binds), then deletes it. */
export async function removeTempDir(dir: string): Promise<void> {
  if (!dir) return;
  const resolved = path.resolve(dir);
  for (const mountPoint of mountsUnder(resolved)) {
    // Lazy, so a process still holding the mount cannot keep the test run from finishing.
    await runCommand('umount', ['-l', mountPoint]);
  }
  await rm(resolved, { recursive: true, force: true });
}
