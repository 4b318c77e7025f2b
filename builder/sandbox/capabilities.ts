import { readFileSync } from 'node:fs';
import { BuildError } from '../errors.js';

/** Capability names by number (linux/capability.h). */
const CAPABILITY_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
].map((name) => `CAP_${name}`);

/** Docker's default capability set (mask 0xa80425fb). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

let bounding: string[] | undefined;
/** The capabilities this process may hand on (its bounding set): a container can never get more. */
export function boundingCapabilities(): string[] {
  if (bounding) return bounding;
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapBnd:'));
  const mask = BigInt(`0x${line?.split(/\s+/)[1] ?? '0'}`);
  bounding = CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  return bounding;
}

/** `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` are one capability, as in docker; `ALL` stays `ALL`. `flag` is moby's word (`invalid CapAdd: unknown capability: "CAP_X"`). */
function normalize(name: string, flag: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return upper;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITY_NAMES.includes(full)) throw new BuildError('INVALID_ARGUMENT', `invalid ${flag}: unknown capability: "${name}"`);
  return full;
}

/**
 * The container's capability set: docker's defaults, then --cap-drop, then --cap-add (add wins, as docker);
 * `--privileged` gives everything this process holds. Asking for a capability the machine withholds is a clear
 * error rather than a container that silently lacks it.
 */
export function containerCapabilities(options: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean }): string[] {
  const available = boundingCapabilities();
  if (options.privileged) return available;
  const add = (options.capAdd ?? []).map((name) => normalize(name, 'CapAdd'));
  const drop = (options.capDrop ?? []).map((name) => normalize(name, 'CapDrop'));
  let caps = drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((cap) => !drop.includes(cap));
  const wanted = add.includes('ALL') ? available : add;
  for (const cap of wanted) {
    if (!available.includes(cap)) {
      throw new BuildError('INVALID_ARGUMENT', `--cap-add ${cap}: this machine does not grant ${cap} to builder (it is not in our bounding set)`);
    }
    if (!caps.includes(cap)) caps = [...caps, cap];
  }
  return caps.filter((cap) => available.includes(cap));
}
