/**
 * mount(2) and umount2(2) made by a long-lived perl process instead of mount(8)/umount(8) per call.
 *
 * Why: Node has no mount syscall, and each mount(8)/umount(8) is a fork + exec + libmount start-up (parsing
 * /proc/self/mountinfo, canonicalising paths) for one syscall: through the sh helpers (command-helper.ts) a step's
 * mount cost 2.5-7 ms and its unmount 2-17 ms under load, while the syscalls themselves take ~0.5 ms (an overlay
 * mount) and ~0.05 ms (an unmount of a volatile overlay). perl is part of every Debian system (perl-base is
 * Essential) and its `syscall` builtin passes strings as pointers and numbers as longs, which is all mount(2) needs.
 *
 * Protocol (per process): one request a line, fields hex-encoded so any path or option string is safe:
 * `M <cwd> <source> <target> <fstype> <data>` (mount with no flags, relative paths resolved in cwd, then back to /
 * so the helper never pins a filesystem), `U <target> <flags>`, `C <n> <env>×n <stderr file> <program> <args>…`
 * (launchWithSyncPipe: conmon's launch), or `X <dir> <limit>` (the xattrs of a small tree, for layer/xattrs.ts),
 * or `L <path>...` (the xattrs of those paths); the reply is `0` (X: `0 <hex of the dump>`) or `<errno> <strerror>`.
 * Replies come back in request order. Where there is no perl, no known syscall number for this architecture, or the
 * helper died before a request was written, the caller gets `undefined` and uses mount(8)/umount(8) as before.
 */
import { existsSync } from 'node:fs';
import { HelperChild } from './helper-child.js';
import { HELPER_SCRIPT } from './mount-helper-script.js';

export interface SyscallResult {
  /** 0 on success, else the errno. */
  errno: number;
  /** strerror of the errno ('' on success). */
  message: string;
}

/** mount, umount2, lgetxattr, llistxattr and setsid syscall numbers per Node architecture (asm/unistd_64.h, asm-generic/unistd.h). */
const SYSCALLS: Record<string, [number, number, number, number, number]> = {
  x64: [165, 166, 192, 195, 112], arm64: [40, 39, 9, 12, 157], riscv64: [40, 39, 9, 12, 157],
};

/** setsid(2)'s number on this architecture, for the other perl helpers (sandbox/launch-server.ts); undefined if unknown. */
export function setsidSyscall(): number | undefined {
  return SYSCALLS[process.arch]?.[4];
}

/** Unmount flag: detach now, clean up when no longer busy (umount -l). */
export const MNT_DETACH = 2;


interface Pending {
  resolve(result: SyscallResult | undefined): void;
  /** performance.now() when it was written. */
  sent: number;
  /** Known to take long (a monitor's launch waits for its sync pipe). */
  slow: boolean;
}

class PerlHelper extends HelperChild<Pending> {
  private buffer = '';
  private chunks: string[] = [];
  /** A reply came back: the script runs here. Until then a dead helper means no perl (or none that runs it). */
  private answered = false;

  constructor(numbers: readonly number[]) {
    // Debian's path first: a PATH search execs each entry in turn while our spawn waits (8 misses on this machine).
    super(existsSync('/usr/bin/perl') ? '/usr/bin/perl' : 'perl', ['-e', HELPER_SCRIPT, ...numbers.map(String)], '/');
  }

  request(fields: string[]): Promise<SyscallResult | undefined> {
    if (this.dead) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const [op, ...rest] = fields;
      this.send({ resolve, sent: performance.now(), slow: op === 'C' }, `${op} ${rest.map((field) => Buffer.from(field, 'utf8').toString('hex')).join(' ')}\n`);
    });
  }

  /** Busy with requests that all look quick: none known slow, the oldest written under QUICK_MS ago. */
  get quick(): boolean {
    const oldest = this.queue[0];
    return oldest !== undefined && this.queue.length < MAX_QUEUED && !this.queue.some((pending) => pending.slow) && performance.now() - oldest.sent < QUICK_MS;
  }

  protected onData(text: string): void {
    // A long reply (an xattr dump) arrives in many chunks: keep them in a list until one holds the newline, so each
    // chunk is scanned once.
    this.chunks.push(text);
    if (!text.includes('\n')) return;
    this.buffer = this.chunks.join('');
    this.chunks = [];
    for (let end = this.buffer.indexOf('\n'); end >= 0; end = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      const space = line.indexOf(' ');
      const errno = Number(space < 0 ? line : line.slice(0, space));
      this.answered = true;
      this.queue.shift()?.resolve({ errno: Number.isInteger(errno) ? errno : 22, message: space < 0 ? '' : line.slice(space + 1) });
    }
    if (this.buffer !== '') this.chunks.push(this.buffer);
    this.buffer = '';
  }

  protected failPending(waiting: Pending[]): void {
    // Never answered: no perl here (spawn's ENOENT) or one that cannot run the script; nothing ran, so the callers
    // fall back to mount(8), as every later call does. After a reply, a request already written may have been
    // made: it is reported as interrupted (EINTR) rather than run a second time.
    if (!this.answered) disabled = true;
    for (const pending of waiting) pending.resolve(this.answered ? { errno: 4, message: 'the mount helper (perl) exited' } : undefined);
  }
}

/**
 * Up to MAX_HELPERS processes, one more only when all are busy: a non-volatile unmount (a kept container's) syncs
 * the upper filesystem, 100+ ms, and another stage's mount must not queue behind it.
 */
const MAX_HELPERS = 4;
/**
 * A busy helper whose requests look quick gets the next one too, rather than a new helper: the syscalls take
 * 0.05-0.5 ms, a new helper is a fork of this ~75 MB process (3-15 ms of blocked event loop). Three stages
 * mounting at once forked two more helpers and their mounts took 7, 19 and 22 ms; queued on one, 7, 8 and 8 ms.
 */
const QUICK_MS = 10;
const MAX_QUEUED = 8;
/**
 * One pool per process, even across bundles: entry.cjs starts a helper before the CLI bundle (its own copy of this
 * module) is loaded (warmMountHelperEarly), and the bundle's copy finds it here.
 */
const POOL_KEY = Symbol.for('builder.mount-helpers');
const helpers: PerlHelper[] = ((globalThis as Record<symbol, unknown>)[POOL_KEY] as PerlHelper[] | undefined) ?? [];
(globalThis as Record<symbol, unknown>)[POOL_KEY] = helpers;
/** Set when perl cannot run here; `BUILDER_MOUNT_HELPER=off` (read per call) turns the helper off as well. */
let disabled = false;

function pick(): PerlHelper | undefined {
  const numbers = SYSCALLS[process.arch];
  if (disabled || !numbers || process.env.BUILDER_MOUNT_HELPER === 'off') return undefined;
  for (let index = helpers.length - 1; index >= 0; index--) if (helpers[index]!.dead) helpers.splice(index, 1);
  const idle = helpers.find((helper) => helper.pending === 0) ?? helpers.find((helper) => helper.quick);
  if (idle) return idle;
  if (helpers.length < MAX_HELPERS) {
    let fresh: PerlHelper;
    try {
      fresh = new PerlHelper(numbers);
    } catch {
      disabled = true;
      return undefined;
    }
    helpers.push(fresh);
    return fresh;
  }
  return helpers.reduce((best, helper) => (helper.pending < best.pending ? helper : best));
}

/** Starts a helper ahead of the first mount (a stage's first cache miss), so its start-up is not on the path. */
export function warmMountHelper(): void {
  if (helpers.length === 0) pick();
}

/** CLI commands whose first real work is a mount (create's overlay, start's remount): entry.ts warms the helper for them. */
const MOUNTING_COMMANDS = new Set(['run', 'create', 'start', 'restart']);

/**
 * Called by the CLI entry with the command word, before the CLI bundle loads: perl's start and the compile of its
 * script (~6 ms) then overlap the bundle's load instead of following create's name claim, and the fork is of a
 * smaller process (~35 MB before the bundle, ~60 MB after).
 */
export function warmMountHelperEarly(command: string | undefined): void {
  if (command === undefined || !MOUNTING_COMMANDS.has(command) || process.getuid?.() !== 0) return;
  warmMountHelper();
}

/** mount(2) of `fstype` with `data` as its option string, no flags; relative paths are resolved in `cwd`. */
export function mountSyscall(cwd: string, source: string, target: string, fstype: string, data: string): Promise<SyscallResult | undefined> {
  return pick()?.request(['M', cwd, source, target, fstype, data]) ?? Promise.resolve(undefined);
}

/**
 * The xattrs of every file under `dir` (symlinks not followed), in `getfattr -R -h -d -m - -e hex .`'s dump format
 * (paths `./…`, names escaped as \\ooo), read with llistxattr/lgetxattr by the helper: no process per layer.
 * errno E2BIG (7) past `limit` entries: a big tree is getfattr's job (its C walk is faster than perl's).
 * On success `message` holds the dump.
 */
export async function xattrDumpSyscall(dir: string, limit: number): Promise<SyscallResult | undefined> {
  const result = await pick()?.request(['X', dir, String(limit)]);
  if (result?.errno !== 0) return result;
  return { errno: 0, message: Buffer.from(result.message, 'hex').toString('utf8') };
}

/** Like xattrDumpSyscall for the given paths themselves (absolute, not followed), as `getfattr -h -d -m - -e hex -- PATHS`. */
export async function xattrsOfSyscall(paths: string[]): Promise<SyscallResult | undefined> {
  const result = await pick()?.request(['L', ...paths]);
  if (result?.errno !== 0) return result;
  return { errno: 0, message: Buffer.from(result.message, 'hex').toString('utf8') };
}

/** umount2(2) of `target` with `flags` (0, or MNT_DETACH). */
export function umountSyscall(target: string, flags = 0): Promise<SyscallResult | undefined> {
  return pick()?.request(['U', target, String(flags)]) ?? Promise.resolve(undefined);
}

/**
 * Runs `program args` with exactly `env`, detached (a session of its own, reparented to init: the helper forks
 * twice), stdin and stdout on /dev/null, stderr appended to `stderrFile`, and a pipe as its fd 3; resolves what the
 * program wrote on fd 3 up to its first '}' (or all of it, if it closed the pipe first): conmon's sync pipe. The
 * helper waits for that, so it is busy meanwhile (pick() gives other requests another helper).
 * Why: a spawn from this ~60 MB process blocks the event loop for its fork (4-5 ms under load), the helper's fork
 * is of a ~5 MB perl. undefined when no helper can take it (the caller spawns the program itself).
 */
export async function launchWithSyncPipe(
  program: string, args: string[], env: Record<string, string>, stderrFile: string,
): Promise<SyscallResult | undefined> {
  const entries = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  const result = await pick()?.request(['C', String(entries.length), ...entries, stderrFile, program, ...args]);
  if (result?.errno !== 0) return result;
  return { errno: 0, message: Buffer.from(result.message, 'hex').toString('utf8') };
}
