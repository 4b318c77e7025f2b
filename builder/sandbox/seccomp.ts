import { readFileSync } from 'node:fs';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import { BuildError, errorMessage } from '../errors.js';

/** Debian's containers-common ships Podman's default profile here (moby's profile format). */
export const DEFAULT_PROFILE_PATH = '/usr/share/containers/seccomp.json';

/** linux.seccomp of the runtime spec. */
export interface RuntimeSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: RuntimeSyscall[];
}
interface SyscallArg { index: number; value: number; valueTwo?: number; op: string }
export interface RuntimeSyscall { names: string[]; action: string; errnoRet?: number; args?: SyscallArg[] }

/** A profile file as docker and podman write it: archMap, includes/excludes by caps, arches and kernel. */
interface ProfileFile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: (RuntimeSyscall & {
    includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
    excludes?: { caps?: string[]; arches?: string[] };
  })[];
}

/**
 * Podman's profile allows unshare, mount, clone with namespace flags and the new mount API unconditionally
 * (it relies on capabilities), so a process could still make a user namespace and mount in it. Docker's
 * profile gates these on CAP_SYS_ADMIN; we do the same on top of the file.
 */
const SYS_ADMIN_GATED = [
  'bpf', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr',
  'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname',
  'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare', 'pivot_root', 'keyctl', 'add_key', 'request_key',
];
/** CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: clone without CAP_SYS_ADMIN may set none of them. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const EPERM = 1;
const ENOSYS = 38;

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', ia32: 'x86' };
const SCMP_ARCH: Record<string, string> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', s390x: 'SCMP_ARCH_S390X', ppc64: 'SCMP_ARCH_PPC64LE' };

const fileCache = new Map<string, ProfileFile>();

function loadProfile(file: string): ProfileFile {
  const cached = fileCache.get(file);
  if (cached) return cached;
  let profile: ProfileFile;
  // The docker CLI sends a profile's content (not its path) in SecurityOpt; both are accepted.
  const inline = file.trimStart().startsWith('{');
  try {
    profile = JSON.parse(inline ? file : readFileSync(file, 'utf8')) as ProfileFile;
  } catch (err) {
    const hint = file === DEFAULT_PROFILE_PATH ? ' (install containers-common: apt-get install golang-github-containers-common, or pass --security-opt seccomp=unconfined)' : '';
    throw new BuildError('INVALID_ARGUMENT', `cannot read seccomp profile ${inline ? '(inline JSON)' : file}: ${errorMessage(err)}${hint}`);
  }
  if (typeof profile.defaultAction !== 'string' || (profile.syscalls !== undefined && !Array.isArray(profile.syscalls))) {
    throw new BuildError('INVALID_ARGUMENT', `seccomp profile ${inline ? '(inline JSON)' : file} is not a docker/OCI seccomp profile (no defaultAction)`);
  }
  if (!inline) fileCache.set(file, profile);
  return profile;
}

function kernelAtLeast(minKernel: string): boolean {
  const [major = 0, minor = 0] = os.release().split('.').map((part) => parseInt(part, 10));
  const [wantMajor = 0, wantMinor = 0] = minKernel.split('.').map((part) => parseInt(part, 10));
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

let x32Absent: boolean | undefined;

/**
 * Whether this kernel provably has no x32 ABI (`# CONFIG_X86_X32_ABI is not set` in /proc/config.gz or
 * /boot/config-<release>). Unknown counts as present: the filter then keeps x32, as docker's does.
 */
export function kernelLacksX32(): boolean {
  if (x32Absent !== undefined) return x32Absent;
  x32Absent = false;
  const readers = [
    () => gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'),
    () => readFileSync(`/boot/config-${os.release()}`, 'latin1'),
  ];
  for (const read of readers) {
    let config: string;
    try {
      config = read();
    } catch {
      continue;
    }
    x32Absent = /^# CONFIG_X86_X32_ABI is not set$/m.test(config) && !/^CONFIG_X86_X32_ABI=/m.test(config);
    break;
  }
  return x32Absent;
}

/**
 * The default profile's architectures minus x32 where the kernel has no x32 ABI. libseccomp compiles every rule
 * once more for x32 (5 ms of runc's CPU per container, 15 %); without the ABI no x32 syscall can run either way:
 * with x32 in the filter an allowed one reaches the kernel and fails ENOSYS, without it libseccomp's x86_64 filter
 * sends any syscall number with the x32 bit to its bad-arch action (the process is killed, SIGSYS). No x32 binary
 * can even be exec'd on such a kernel. x86 (i386) stays: IA32 emulation runs 32-bit programs.
 */
function trimArchitectures(architectures: string[]): string[] {
  return process.arch === 'x64' && kernelLacksX32() ? architectures.filter((arch) => arch !== 'SCMP_ARCH_X32') : architectures;
}

/**
 * The runtime-spec seccomp filter for a container with `capabilities` (as the spec names them, CAP_*):
 * the profile's rules filtered by this machine's architecture, kernel and the caps, as docker does.
 * `file` undefined = the default profile, hardened as SYS_ADMIN_GATED says.
 */
export function seccompFor(capabilities: string[], file?: string): RuntimeSeccomp {
  // The default profile's filter depends on nothing else: made once per capability set (1-4 ms for the first
  // containers of a process, on each RUN's path), shared by every config.json written after (never mutated).
  const key = file === undefined ? [...capabilities].sort().join(',') : undefined;
  const made = key === undefined ? undefined : defaultFilters.get(key);
  if (made) return made;
  const filter = buildFilter(capabilities, file);
  if (key !== undefined) defaultFilters.set(key, filter);
  return filter;
}

const defaultFilters = new Map<string, RuntimeSeccomp>();

function buildFilter(capabilities: string[], file: string | undefined): RuntimeSeccomp {
  const profile = loadProfile(file ?? DEFAULT_PROFILE_PATH);
  const caps = new Set(capabilities);
  const goArch = GO_ARCH[process.arch] ?? process.arch;
  const native = SCMP_ARCH[process.arch];
  const architectures = profile.architectures
    ?? profile.archMap?.filter((entry) => entry.architecture === native).flatMap((entry) => [entry.architecture, ...(entry.subArchitectures ?? [])])
    ?? [];
  const hardened = file === undefined && !caps.has('CAP_SYS_ADMIN');
  const gated = new Set(hardened ? SYS_ADMIN_GATED : []);
  const syscalls: RuntimeSyscall[] = [];
  for (const rule of profile.syscalls ?? []) {
    const { includes = {}, excludes = {} } = rule;
    if (includes.arches && !includes.arches.includes(goArch)) continue;
    if (includes.caps && !includes.caps.every((cap) => caps.has(cap))) continue;
    if (includes.minKernel && !kernelAtLeast(includes.minKernel)) continue;
    if (excludes.arches?.includes(goArch)) continue;
    if (excludes.caps?.some((cap) => caps.has(cap))) continue;
    const allowsAll = rule.action === 'SCMP_ACT_ALLOW';
    const names = allowsAll ? rule.names.filter((name) => !gated.has(name) && !(hardened && name === 'clone')) : rule.names;
    if (names.length === 0) continue;
    syscalls.push({
      names, action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args && rule.args.length > 0 ? { args: rule.args } : {}),
    });
  }
  if (hardened) {
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    // ENOSYS makes glibc fall back to clone(2), where the flag check above applies.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
    syscalls.push({ names: SYS_ADMIN_GATED.filter((name) => name !== 'clone3'), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: file === undefined ? trimArchitectures(architectures) : architectures,
    syscalls,
  };
}
