import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EtcExtras } from './etc-files.js';
import { containerCapabilities, DEFAULT_CAPABILITIES } from './capabilities.js';
import { seccompFor, type RuntimeSeccomp } from './seccomp.js';

export { DEFAULT_CAPABILITIES };

/** A mount the caller adds to the container (build `RUN --mount`, `builder run -v`). */
export interface SandboxMount {
  type: 'bind' | 'tmpfs';
  /** Host path for a bind mount; ignored for tmpfs. */
  source?: string;
  /** Absolute path inside the container. */
  target: string;
  readonly?: boolean;
  /** Extra mount options (e.g. `size=64m`, `mode=1777` for tmpfs). */
  options?: string[];
}

/** Everything needed to run one process in a fresh container over an already mounted rootfs. */
export interface RunSpec {
  /** Container id; default random. */
  id?: string;
  /** An already mounted rootfs (usually an overlay merged dir). */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  /** USER as in the image config; resolved against the rootfs's passwd/group. */
  user: string;
  network: 'host' | 'none';
  /** Default: the host's hostname for host network, else the first 12 chars of the id. */
  hostname?: string;
  mounts?: SandboxMount[];
  readonlyRootfs?: boolean;
  /** Allocate a terminal (`builder run -t`); runc makes the pty and needs a TTY among our stdio. */
  tty?: boolean;
  /** Keep stdin open (`builder run -i`); otherwise the process reads /dev/null. */
  stdin?: boolean;
  /** 'inherit' for `builder run`; 'pipe' (default) for builds, delivered through onStdout/onStderr. */
  stdio?: 'inherit' | 'pipe';
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** cgroup memory limit (swap included). Default DEFAULT_MEMORY_BYTES: half the host's RAM. */
  memoryBytes?: number;
  /** cgroup pids limit. Default DEFAULT_PIDS_LIMIT. */
  pidsLimit?: number;
  /** Abort → the container is killed (SIGKILL) and runSandbox rejects with CANCELLED. */
  signal?: AbortSignal;
  /** Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 received by this process to the container. Default: stdio === 'inherit'. */
  forwardSignals?: boolean;
  /** Capabilities, seccomp and privileged mode; default docker's (default caps, default seccomp profile). */
  security?: SecurityOptions;
  /** Join this network namespace (a bridge attachment's netns file) instead of a fresh one. */
  netnsPath?: string;
  /** What the generated /etc files add (DNS servers of the RUN's build network, hosts entries). */
  etc?: EtcExtras;
  /** CPU quota in CPUs (`--cpus 1.5`). */
  cpus?: number;
  /** `--ulimit nofile=1024:2048` …: replace the defaults of the same type (docker's Ulimits, names without RLIMIT_). */
  ulimits?: { name: string; soft: number; hard: number }[];
  /** /dev/shm's size in bytes (`--shm-size`); default 64 MiB. */
  shmSizeBytes?: number;
  /** `--device`: host device nodes made in the container and allowed in its device cgroup. */
  devices?: RuntimeDevice[];
  /**
   * Hands the bundle directory's removal (after the container is gone and its log was read) to the caller instead
   * of awaiting it: a build passes its session's `later`, so the next step need not wait for the rm.
   */
  deferCleanup?: (work: Promise<unknown>) => void;
}

/** `--cap-add/--cap-drop`, `--privileged`, `--security-opt seccomp=unconfined|FILE` and `no-new-privileges`. */
export interface SecurityOptions {
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** 'default' (containers-common's profile, hardened to docker's), 'unconfined', or a profile file path. */
  seccomp?: string;
  /** Default true (docker's default is false; builder keeps its stricter default, `no-new-privileges=false` turns it off). */
  noNewPrivileges?: boolean;
}

/** Half the RAM: a runaway RUN cannot take the machine down, while real builds (compilers, linkers) fit. */
export const DEFAULT_MEMORY_BYTES = Math.floor(os.totalmem() / 2);
/** Far above any real build's process count, low enough that a fork bomb hits it within milliseconds. */
export const DEFAULT_PIDS_LIMIT = 4096;
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** A device node of the runtime spec (linux.devices), with the cgroup access docker's `--device` grants it. */
export interface RuntimeDevice { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number; access: string }

/** One entry of config.json `mounts`, as the runtime spec names it. */
export interface RuntimeMount { destination: string; type: string; source: string; options: string[] }

/** The subset of the OCI runtime-spec config.json that we write. */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[]; umask: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    apparmorProfile?: string;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: RuntimeMount[];
  linux: {
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; access: string; type?: string; major?: number; minor?: number }[];
      memory: { limit: number; swap?: number };
      pids: { limit: number };
      cpu?: { quota: number; period: number };
    };
    namespaces: { type: string; path?: string }[];
    devices?: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[];
    seccomp?: RuntimeSeccomp;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

/**
 * Builds config.json for runc. `extraMounts` come after the standard and caller mounts
 * (runSandbox passes the generated /etc/hosts, /etc/hostname, /etc/resolv.conf there).
 */
export function buildRuntimeSpec(
  spec: RunSpec & { id: string },
  resolved: { uid: number; gid: number; additionalGids: number[]; home?: string },
  extraMounts: RuntimeMount[] = [],
): RuntimeSpec {
  const namespaces: { type: string; path?: string }[] = ['pid', 'ipc', 'uts', 'mount'].map((type) => ({ type }));
  if (spec.netnsPath) namespaces.push({ type: 'network', path: spec.netnsPath });
  else if (spec.network !== 'host') namespaces.push({ type: 'network' });
  const nofile = nofileLimit();
  const security = spec.security ?? {};
  const privileged = security.privileged === true;
  const caps = containerCapabilities(security);
  const seccompMode = security.seccomp ?? 'default';
  const seccomp = privileged || seccompMode === 'unconfined' ? undefined : seccompFor(caps, seccompMode === 'default' ? undefined : seccompMode);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: spec.tty === true,
      user: { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids, umask: 0o022 },
      args: spec.args,
      env: defaultEnv(spec.env, resolved.home ?? '/', spec.tty === true),
      cwd: spec.cwd || '/',
      // As docker ≥ 23: no inheritable/ambient, so a non-root user keeps no effective caps after exec.
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(nofile, spec.ulimits),
      noNewPrivileges: security.noNewPrivileges ?? true,
    },
    root: { path: path.resolve(spec.rootfs), readonly: spec.readonlyRootfs === true },
    hostname: spec.hostname ?? defaultHostname(spec),
    mounts: [...standardMounts(privileged, spec.shmSizeBytes), ...(spec.mounts ?? []).map(toRuntimeMount), ...extraMounts],
    linux: {
      cgroupsPath: `/builder/${spec.id}`,
      resources: {
        // --privileged: every device (docker's `a *:* rwm`); --device adds one allow rule per node.
        devices: privileged ? [{ allow: true, access: 'rwm' }] : [
          { allow: false, access: 'rwm' },
          ...(spec.devices ?? []).map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access })),
        ],
        memory: memoryResources(spec.memoryBytes ?? DEFAULT_MEMORY_BYTES),
        pids: { limit: spec.pidsLimit ?? DEFAULT_PIDS_LIMIT },
        ...(spec.cpus ? { cpu: { quota: Math.round(spec.cpus * 100_000), period: 100_000 } } : {}),
      },
      namespaces,
      ...(spec.devices && spec.devices.length > 0 ? {
        devices: spec.devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid })),
      } : {}),
      // --privileged: docker unmasks /proc and /sys and allows every device.
      maskedPaths: privileged ? [] : MASKED_PATHS,
      readonlyPaths: privileged ? [] : READONLY_PATHS,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}

export function defaultHostname(spec: { id: string; network: 'host' | 'none' }): string {
  return spec.network === 'host' ? os.hostname() : spec.id.replace(/^builder-/, '').slice(0, 12);
}

/** PATH and HOME as docker defaults them; TERM=xterm with a terminal. Later duplicates win, as in docker. */
function defaultEnv(env: string[], home: string, tty: boolean): string[] {
  const names = new Set(env.map((entry) => entry.split('=', 1)[0]));
  const result = [...env];
  if (!names.has('PATH')) result.unshift(DEFAULT_PATH);
  if (!names.has('HOME')) result.push(`HOME=${home}`);
  if (tty && !names.has('TERM')) result.push('TERM=xterm');
  return result;
}

/** NOFILE at our limit, then the caller's ulimits replacing (or adding) by type. */
function rlimits(nofile: number, ulimits: RunSpec['ulimits'] = []): { type: string; hard: number; soft: number }[] {
  const result = new Map([['RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }]]);
  for (const limit of ulimits) {
    const type = `RLIMIT_${limit.name.toUpperCase()}`;
    result.set(type, { type, hard: limit.hard, soft: limit.soft });
  }
  return [...result.values()];
}

function standardMounts(privileged = false, shmSizeBytes?: number): RuntimeMount[] {
  const ro = privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', shmSizeBytes ? `size=${shmSizeBytes}` : 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...ro] },
  ];
}

function toRuntimeMount(mount: SandboxMount): RuntimeMount {
  const ro = mount.readonly ? ['ro'] : [];
  if (mount.type === 'tmpfs') {
    return { destination: mount.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...ro, ...(mount.options ?? [])] };
  }
  return {
    destination: mount.target, type: 'bind', source: path.resolve(mount.source ?? ''),
    options: ['rbind', 'rprivate', ...ro, ...(mount.options ?? [])],
  };
}

let memswSupported: boolean | undefined;
/** Swap equal to memory: no escaping the limit through swap (only when the kernel accounts swap). */
function memoryResources(limit: number): { limit: number; swap?: number } {
  if (memswSupported === undefined) {
    try {
      readFileSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
      memswSupported = true;
    } catch {
      memswSupported = false;
    }
  }
  return memswSupported ? { limit, swap: limit } : { limit };
}

let cachedNofile: number | undefined;
/** Docker's 1048576, but never above our own hard limit: raising it needs CAP_SYS_RESOURCE, which we lack. */
export function nofileLimit(): number {
  if (cachedNofile !== undefined) return cachedNofile;
  cachedNofile = 1048576;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.split(/\s{2,}/)[2];
    if (hard && /^\d+$/.test(hard)) cachedNofile = Math.min(cachedNofile, Number(hard));
  } catch {
    // Keep docker's value; runc reports a clear error if it cannot be set.
  }
  return cachedNofile;
}
