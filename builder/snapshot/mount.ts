/** overlayfs mounts over snapshot directories, through the mount(8)/umount(8) commands (node has no mount syscall). */
import { release } from 'node:os';
import { existsSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import { makeOwnedDirSync } from '../store/owner.js';
import { runCommand } from './command-helper.js';

/** A writable overlay: the step runs in `merged`; its changes land in `upperdir`. */
export interface MutableSnapshot {
  upperdir: string;
  workdir: string;
  merged: string;
  /** Unmount and delete everything (call after the upperdir was adopted or is no longer needed; safe to call twice). */
  release(): Promise<void>;
  /** Unmount only, keep the upperdir for adopt. */
  unmount(): Promise<void>;
}

/** A read-only view of a stack of snapshots. */
export interface ReadonlyMount {
  merged: string;
  release(): Promise<void>;
}

/**
 * Debian's busybox-static (setup.sh installs it) when present: its mount/umount applets are one static exec, where
 * util-linux's mount(8) loads libmount, libblkid, libselinux, pcre2 and the locale first. Measured per `run --rm
 * busybox true` (one mount + one umount): 5-8 ms less CPU of the process tree (perf stat, 15 runs, load ~5).
 * The kernel does the same mount(2) either way; the options string is passed through as mount data.
 */
const BUSYBOX = '/bin/busybox';
let busyboxPresent: boolean | undefined;

/** mount(8)/umount(8) through the shared command helper: a spawn from this process costs more than the mount. */
async function run(command: string, args: string[], cwd?: string): Promise<{ code: number; stderr: string }> {
  const viaBusybox = (command === 'mount' || command === 'umount') && (busyboxPresent ??= existsSync(BUSYBOX));
  const { code, output } = viaBusybox ? await runCommand(BUSYBOX, [command, ...args], cwd) : await runCommand(command, args, cwd);
  return { code, stderr: output };
}

/** umount's "nothing is mounted there", in util-linux's words and in busybox's (EINVAL: not a mount point). */
const NOT_MOUNTED = /not mounted|no mount point|not found|Invalid argument|No such file or directory/i;

let overlayReady: Promise<string[]> | undefined;

/** Checks overlayfs is available once per process; returns the safety options this kernel understands. */
function checkOverlay(): Promise<string[]> {
  overlayReady ??= (async () => {
    if (process.getuid?.() !== 0) throw new BuildError('NOT_ROOT', 'overlay mounts need root; run the builder as root');
    const hasOverlay = async () => /\toverlay\n/.test(await readFile('/proc/filesystems', 'utf8'));
    if (!(await hasOverlay())) {
      await run('modprobe', ['overlay']).catch(() => undefined);
      if (!(await hasOverlay())) {
        throw new BuildError('SANDBOX_FAILED', 'overlayfs is not available in this kernel (modprobe overlay failed); the builder needs it for RUN steps');
      }
    }
    // index=off lets one lowerdir serve many mounts; redirect_dir/metacopy would leave upperdirs we cannot diff.
    const parameters = '/sys/module/overlay/parameters';
    return ['index', 'redirect_dir', 'metacopy'].filter((name) => existsSync(join(parameters, name))).map((name) => `${name}=off`);
  })();
  overlayReady.catch(() => (overlayReady = undefined));
  return overlayReady;
}

function supportsVolatile(): boolean {
  const [major = 0, minor = 0] = release().split('.').map((part) => parseInt(part, 10));
  return major > 5 || (major === 5 && minor >= 10);
}

async function umount(merged: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const { code, stderr } = await run('umount', [merged]);
    if (code === 0 || NOT_MOUNTED.test(stderr)) return;
    if (attempt >= 5) {
      // Something still holds it (a straggling process): detach so the build can go on, as docker does.
      const lazy = await run('umount', ['-l', merged]);
      if (lazy.code === 0) return;
      throw new BuildError('SANDBOX_FAILED', `cannot unmount ${merged}: ${stderr}`);
    }
    await new Promise((wait) => setTimeout(wait, 100 * (attempt + 1)));
  }
}

/** Removes a mount's directory; rmdir of `merged` first, so a mount that is somehow still there stops the rm. */
async function removeMountDir(dir: string): Promise<void> {
  await rmdir(join(dir, 'merged')).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new BuildError('SANDBOX_FAILED', `${join(dir, 'merged')} is still in use: ${err.message}`);
  });
  await rm(dir, { recursive: true, force: true });
}

/**
 * Mounts an overlay in a fresh directory under `workRoot`. Lowerdirs are given bottom → top and are reached
 * through short symlinks (`l/0`, `l/1`, …) relative to the mount's cwd, so 100+ layers fit in the one-page
 * option string. Returns the directory and the merged path.
 */
async function mountOverlay(workRoot: string, lowerdirs: string[], writable: boolean, volatile = true): Promise<{ dir: string; merged: string }> {
  const safetyOptions = await checkOverlay();
  if (lowerdirs.length > 500) throw new BuildError('SANDBOX_FAILED', `an image with ${lowerdirs.length} layers exceeds overlayfs's limit of 500`);
  // Sync calls: a dozen small metadata syscalls, each a thread-pool round trip otherwise (~2 ms a mount under load).
  mkdirSync(workRoot, { recursive: true });
  // Who made the mount (pid in the name, owner.json inside): once that process is gone, a later build or prune
  // unmounts and removes it (store/reap.ts).
  const dir = makeOwnedDirSync(resolve(workRoot), 'mnt');
  try {
    for (const name of ['l', 'merged', 'empty', ...(writable ? ['upper', 'work'] : [])]) mkdirSync(join(dir, name));
    // A repeated lowerdir makes the mount fail with ELOOP; the top-most copy alone gives the same view.
    const lowers = lowerdirs.map((lower) => resolve(lower)).filter((lower, index, all) => all.lastIndexOf(lower) === index);
    // Read-only overlays need two lowerdirs; an empty bottom layer also stands in for FROM scratch.
    if (lowers.length === 0 || (!writable && lowers.length === 1)) lowers.unshift(join(dir, 'empty'));
    lowers.forEach((lower, index) => {
      if (!statSync(lower, { throwIfNoEntry: false })?.isDirectory()) {
        throw new BuildError('STORE_CORRUPT', `snapshot ${lower} is missing; remove the image and pull or build it again`);
      }
      symlinkSync(lower, join(dir, 'l', index.toString(36)));
    });
    const lowerOption = lowers.map((_, index) => `l/${index.toString(36)}`).reverse().join(':');
    // volatile (Linux ≥ 5.10) skips the syncfs of the whole upper filesystem at unmount, 100+ ms per step;
    // the upperdir is read back through the page cache right away, so durability is the store's job.
    const writableOptions = ['upperdir=upper', 'workdir=work', ...(volatile && supportsVolatile() ? ['volatile'] : [])];
    const options = [`lowerdir=${lowerOption}`, ...(writable ? writableOptions : []), ...safetyOptions];
    const { code, stderr } = await run('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), 'merged'], dir);
    if (code !== 0) {
      throw new BuildError(
        'SANDBOX_FAILED',
        `overlay mount of ${lowers.length} layers failed: ${stderr}${writable ? ' (is the builder root on overlayfs itself? put it on ext4/xfs)' : ''}`,
      );
    }
    return { dir, merged: join(dir, 'merged') };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err instanceof BuildError ? err : new BuildError('SANDBOX_FAILED', `preparing an overlay mount failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Writable overlay of `lowerdirs` (bottom → top, base layer first) with a fresh upperdir under `workRoot`.
 * `workRoot` must be on the same filesystem as the snapshots directory so the upperdir can be adopted by rename.
 */
export async function prepareSnapshot(workRoot: string, lowerdirs: string[], options: { volatile?: boolean } = {}): Promise<MutableSnapshot> {
  // A long-lived container is remounted after unmount or reboot, which overlayfs refuses after a volatile mount.
  const { dir, merged } = await mountOverlay(workRoot, lowerdirs, true, options.volatile ?? true);
  let mounted = true;
  let released = false;
  const unmount = async () => {
    if (!mounted) return;
    await umount(merged);
    mounted = false;
  };
  return {
    upperdir: join(dir, 'upper'),
    workdir: join(dir, 'work'),
    merged,
    unmount,
    async release() {
      if (released) return;
      await unmount();
      await removeMountDir(dir);
      released = true;
    },
  };
}

/** Read-only overlay of `lowerdirs` (bottom → top) for looking at an image's filesystem. */
export async function mountReadonly(workRoot: string, lowerdirs: string[]): Promise<ReadonlyMount> {
  const { dir, merged } = await mountOverlay(workRoot, lowerdirs, false);
  let released = false;
  return {
    merged,
    async release() {
      if (released) return;
      await umount(merged);
      await removeMountDir(dir);
      released = true;
    },
  };
}

/**
 * Mounts again a writable overlay that prepareSnapshot made (non-volatile) in `dir`, after an unmount or a reboot:
 * the same `l/N` lowerdir links, upperdir and workdir. A no-op when `dir/merged` is already a mount.
 */
export async function remountSnapshot(dir: string): Promise<string> {
  const merged = join(dir, 'merged');
  const [self, parent] = await Promise.all([stat(merged), stat(dir)]);
  if (self.dev !== parent.dev) return merged;
  const safetyOptions = await checkOverlay();
  const links = (await readdir(join(dir, 'l'))).sort((a, b) => parseInt(b, 36) - parseInt(a, 36));
  const options = [`lowerdir=${links.map((link) => `l/${link}`).join(':')}`, 'upperdir=upper', 'workdir=work', ...safetyOptions];
  const { code, stderr } = await run('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), 'merged'], dir);
  if (code !== 0) throw new BuildError('SANDBOX_FAILED', `cannot mount the container's filesystem again: ${stderr}`);
  return merged;
}

/** Unmounts `dir/merged` if mounted (the directory stays for a later remountSnapshot). */
export async function unmountSnapshot(dir: string): Promise<void> {
  await umount(join(dir, 'merged'));
}
